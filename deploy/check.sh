#!/usr/bin/env bash
# The container image and the Helm chart, checked without Docker, a registry or a cluster:
#   1. the Dockerfile linted (hadolint), the chart checked (deploy/check_chart.py: helm lint,
#      renders, kubernetes-validate --strict, checkov, the values schema);
#   2. the image built with podman from a Debian base made by debootstrap (standing in for the
#      official Python slim image) and measured: what it adds to its base must stay under 120 MB;
#   3. `todo-api migrate`, then the server, run in it as CI's PostgreSQL's client, with a read-only
#      root filesystem, every capability dropped and no new privileges: it must answer within 5 s,
#      as a user other than root, create and list a task, pass its HEALTHCHECK, and stop cleanly
#      on SIGTERM within 10 s; with WEB_CONCURRENCY=2, start two workers and stop cleanly too.
# Prints what it measured; exits non-zero on any failure. Needs root, PostgreSQL on
# 127.0.0.1:5432 (user postgres, trust) and the package index; installs podman, debootstrap and
# the tools of deploy/requirements.txt when missing. Kept between runs, outside the clone: in
# $TODO_API_CI_CACHE (default /var/cache/todo-api-ci) the base as a tarball and the tools'
# virtual environment; in podman's storage the base image and the last build (its layers are the
# next build's cache). Other images and containers it made are removed.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${TODO_API_CI_CACHE:-/var/cache/todo-api-ci}
BASE=localhost/todo-api-ci-base:bookworm
BASE_TARBALL=$CACHE/debian-bookworm-python3.tar.zst
IMAGE=localhost/todo-api:ci
BUILD_STAGE=localhost/todo-api-ci-build:latest
TOOLS=$CACHE/tools
SUFFIX=$$
NAME=todo-api-ci-$SUFFIX
DB=todo_api_image_ci_$SUFFIX
MAX_ADDED_MB=120
MAX_START_S=5
MAX_STOP_S=10
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# runc: crun cannot run containers on these machines (hybrid cgroups).
RUN_OPTS=(--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --network host
          --read-only --cap-drop=all --security-opt no-new-privileges)

started=$(date +%s.%N)
say() { echo "image: $*"; }
die() { echo "image: FAIL: $*" >&2; exit 1; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(date +%s.%N)"; }
psql_() { PGOPTIONS='-c client_min_messages=warning' psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

mkdir -p "$CACHE"
work=$(mktemp -d)
cleanup() {
    podman rm --force --time 0 "$NAME" >/dev/null 2>&1 || true
    psql_ -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- tools -------------------------------------------------------------------------------------
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null || ! command -v zstd >/dev/null \
    || ! command -v runc >/dev/null || ! command -v psql >/dev/null; then
    say "installing podman, buildah, runc, debootstrap, zstd"
    apt-get update -q
    apt-get install -y -q podman buildah runc fuse-overlayfs slirp4netns uidmap debootstrap zstd \
        postgresql-client
fi
stamp=$(sha256sum deploy/requirements.txt | cut -c1-16)
if [ "$(cat "$TOOLS/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "installing the checking tools (deploy/requirements.txt) into $TOOLS"
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt \
        >"$work/tools.log" 2>&1 || { grep -v "is ignored" "$work/tools.log" | tail -n 20; die "installing the tools"; }
    echo "$stamp" > "$TOOLS/.stamp"
fi

# --- static checks -----------------------------------------------------------------------------
"$TOOLS/bin/hadolint" --failure-threshold info Dockerfile
say "hadolint: Dockerfile clean"
"$TOOLS/bin/python" deploy/check_chart.py

# --- the base image ----------------------------------------------------------------------------
if ! podman image exists "$BASE"; then
    if [ ! -s "$BASE_TARBALL" ]; then
        # The Debian mirror apt uses on this machine, read from its configuration.
        mirror=$(awk '/^URIs:/ {u = $2} /^Suites:/ && / bookworm( |$)/ && u != "" {print u; exit}' \
                     /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
        if [ -z "$mirror" ]; then
            mirror=$(awk '$1 == "deb" && / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
                         /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
        fi
        [ -n "$mirror" ] || die "no Debian bookworm mirror found in apt's sources"
        say "making the base image with debootstrap (about 80 s, once)"
        rootfs=$CACHE/rootfs.tmp
        rm -rf "$rootfs"
        mkdir -p "$CACHE"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
            || { tail -n 20 "$work/debootstrap.log"; die "debootstrap failed"; }
        # As slim as the official image: no package lists or downloaded packages.
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" --numeric-owner -cf - . | zstd -q -T0 -o "$BASE_TARBALL.tmp"
        mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
        rm -rf "$rootfs"
    fi
    zstd -q -d -c "$BASE_TARBALL" > "$work/base.tar"
    podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        "$work/base.tar" "$BASE" >/dev/null
    rm -f "$work/base.tar"
fi

# --- build -------------------------------------------------------------------------------------
# pip's index as this machine is configured (an index other than the default, if any) goes in as
# a build secret, like the CA bundle: neither enters a layer nor this repository.
secrets=(--secret "id=cacert,src=$CA_BUNDLE")
python3 - "$work/pip.conf" <<'EOF'
import os, subprocess, sys
found = {}
for key in ("index-url", "extra-index-url"):
    env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
    if env:
        found[key] = env.split()
        continue
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        name, _, value = line.partition("=")
        if name.rsplit(".", 1)[-1] == key:
            found.setdefault(key, []).extend(value.strip().strip("'\"").split())
# Only network indexes: folders on this machine do not exist in the build.
found = {k: [u for u in v if u.startswith(("http://", "https://"))] for k, v in found.items()}
found = {k: v for k, v in found.items() if v}
if found:
    with open(sys.argv[1], "w") as f:
        f.write("[global]\n" + "".join(f"{k} = {' '.join(v)}\n" for k, v in found.items()))
EOF
[ -s "$work/pip.conf" ] && secrets+=(--secret "id=pipconf,src=$work/pip.conf")

say "building $IMAGE"
images_before=$(podman images -a -q --no-trunc | sort -u)
t0=$(date +%s.%N)
podman build --quiet --isolation chroot --format docker --network host --layers \
    --build-arg "BASE_IMAGE=$BASE" "${secrets[@]}" -t "$IMAGE" . >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log"; die "podman build failed"; }
build_s=$(elapsed "$t0")
# The build stage tagged too (from the cache, at once): its layers stay the next build's cache.
podman build --quiet --isolation chroot --format docker --network host --layers --target build \
    --build-arg "BASE_IMAGE=$BASE" "${secrets[@]}" -t "$BUILD_STAGE" . >>"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log"; die "podman build --target build failed"; }
# Images this script made and no longer needs (an earlier build's layers, now untagged and
# unused) are removed; nobody else's.
comm -13 <(echo "$images_before") <(podman images -a -q --no-trunc | sort -u) >>"$CACHE/images.txt"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    stale=$(comm -12 <(sort -u "$CACHE/images.txt") \
                     <(podman images -a -q --no-trunc --filter dangling=true | sort -u))
    [ -n "$stale" ] || break
    for id in $stale; do podman rmi "$id" >/dev/null 2>&1 || true; done
done
podman images -a -q --no-trunc | sort -u | comm -12 - <(sort -u "$CACHE/images.txt") >"$CACHE/images.txt.new"
mv "$CACHE/images.txt.new" "$CACHE/images.txt"

base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE")
image_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
added_mb=$(python3 -c "print(f'{($image_bytes - $base_bytes) / 1e6:.1f}')")
say "built in ${build_s} s; adds ${added_mb} MB to its base ($((base_bytes / 1000000)) MB -> $((image_bytes / 1000000)) MB)"
python3 -c "import sys; sys.exit(0 if $added_mb < $MAX_ADDED_MB else 1)" \
    || die "the image adds ${added_mb} MB to its base (limit ${MAX_ADDED_MB} MB)"

inspect=$(podman image inspect --format '{{json .}}' "$IMAGE")
python3 - "$inspect" <<'EOF' || die "image configuration"
import json, sys
image = json.loads(sys.argv[1])
image = image[0] if isinstance(image, list) else image
config = image["Config"]
user = config.get("User", "")
assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0, f"user {user!r}: not a numeric non-root user"
assert "/health" in " ".join((image.get("Healthcheck") or {}).get("Test") or []), "no HEALTHCHECK on /health"
assert "todo-api serve --host 0.0.0.0" in " ".join(config.get("Cmd") or []), f"command {config.get('Cmd')}"
EOF
# Nothing of the project's tests, the repository, its virtual environment or local state is in the
# image (third-party packages' own tests, in site-packages, are theirs).
leaked=$(podman run --rm --no-healthcheck "${RUN_OPTS[@]}" "$IMAGE" sh -c \
    'find / -xdev -path "*/site-packages/*" -prune -o \( -name conftest.py -o -name tests -o -name .todo-dev \
        -o -name .env -o -name .venv -o -name .git -o -name node_modules \) -print 2>/dev/null | head;
     ls -d /opt/todo-api/lib/python3*/site-packages/tests 2>/dev/null; command -v todo-api')
[ "$leaked" = /opt/todo-api/bin/todo-api ] || die "found in the image, or todo-api not on the PATH: $leaked"

# --- migrate, serve, a task, the health check, SIGTERM -------------------------------------
psql_ -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
env_opts=(-e "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB" -e "BETTER_AUTH_SECRET=$secret"
          -e "PORT=$port" -e "ALLOWED_ORIGINS=http://localhost:3000")

# podman's complaints that it cannot reach systemd (for periodic health checks) are left out.
podman_() { podman "$@" 2>"$work/podman.err" || { grep -v 'systemd connection' "$work/podman.err" >&2; return 1; }; }

podman_ run --rm --no-healthcheck "${RUN_OPTS[@]}" "${env_opts[@]}" "$IMAGE" todo-api migrate \
    >"$work/migrate.log" 2>&1 || { tail -n 20 "$work/migrate.log"; die "todo-api migrate failed"; }
tail -n 1 "$work/migrate.log" | grep -q "latest schema" || { tail -n 20 "$work/migrate.log"; die "todo-api migrate"; }
say "todo-api migrate: done, as a one-off command"

# Starts the image's own command with the extra options given; prints the seconds until GET
# /health answered 200, or fails after $2 seconds.
serve() {
    local limit=$1 t0
    shift
    t0=$(date +%s.%N)
    podman_ run -d --name "$NAME" --health-interval disable "${RUN_OPTS[@]}" "${env_opts[@]}" "$@" \
        "$IMAGE" >/dev/null
    python3 - "$port" "$limit" <<'EOF' || { podman logs "$NAME" 2>&1 | tail -n 20 >&2; die "the server did not answer /health within $limit s"; }
import sys, time, urllib.request
port, limit = sys.argv[1], float(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        if opener.open(f"http://127.0.0.1:{port}/health", timeout=1).status == 200:
            sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
    elapsed "$t0"
}

# Stops the container as Kubernetes and Docker do (SIGTERM, SIGKILL after $MAX_STOP_S s); prints
# the seconds it took; fails unless it exited by itself, cleanly, in time.
stop() {
    local t0 code s
    t0=$(date +%s.%N)
    podman_ stop --time "$MAX_STOP_S" "$NAME" >/dev/null
    s=$(elapsed "$t0")
    code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
    podman logs "$NAME" >"$work/serve.log" 2>&1
    podman_ rm "$NAME" >/dev/null
    if grep -q Traceback "$work/serve.log"; then
        tail -n 30 "$work/serve.log" >&2
        die "a traceback while serving or stopping"
    fi
    # 0, or 143 (128 + SIGTERM) if the server re-raises the signal it stopped on; 137 is SIGKILL.
    [ "$code" = 0 ] || [ "$code" = 143 ] || { tail -n 20 "$work/serve.log" >&2; die "exit code $code after SIGTERM"; }
    python3 -c "import sys; sys.exit(0 if $s < $MAX_STOP_S else 1)" || die "stopping took $s s (limit $MAX_STOP_S s)"
    echo "$s $code"
}

# As the image runs by default (WEB_CONCURRENCY=1).
start_s=$(serve "$MAX_START_S")
say "serving /health ${start_s} s after podman run (limit ${MAX_START_S} s)"

uid=$(podman exec "$NAME" python3 -c 'import os; print(os.getuid())')
[ "$uid" != 0 ] || die "the server runs as root"
podman exec "$NAME" sh -c 'touch /opt/todo-api/x || touch /app/x || touch /x' 2>/dev/null \
    && die "the root filesystem is writable"
token=$(podman exec "$NAME" todo-api token ci-user --minutes 5)
python3 - "$port" "$token" <<'EOF' || { podman logs "$NAME" 2>&1 | tail -n 20; die "the API did not create and list a task"; }
import json, sys, urllib.request
port, token = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
base = f"http://127.0.0.1:{port}"
auth = {"Authorization": f"Bearer {token}"}
ready = opener.open(f"{base}/health/ready", timeout=5)
assert ready.status == 200, ready.status
request = urllib.request.Request(f"{base}/api/ci-user/tasks", method="POST",
    data=json.dumps({"title": "From the container"}).encode(),
    headers={**auth, "Content-Type": "application/json"})
created = json.load(opener.open(request, timeout=5))
listed = json.load(opener.open(urllib.request.Request(f"{base}/api/ci-user/tasks", headers=auth), timeout=5))
assert [t["title"] for t in listed] == ["From the container"], listed
assert listed[0]["id"] == created["id"]
EOF
say "runs as uid $uid on a read-only root filesystem; /health/ready 200; created and listed a task with a token"
podman_ healthcheck run "$NAME" >/dev/null || die "podman healthcheck run: unhealthy"
say "HEALTHCHECK passed"
result=$(stop)
read -r stop_s code <<<"$result"
say "stopped on SIGTERM in ${stop_s} s, exit code $code, no traceback (limit ${MAX_STOP_S} s)"

# WEB_CONCURRENCY=2: two worker processes, which stop cleanly too.
serve 30 -e WEB_CONCURRENCY=2 >/dev/null
workers=$(podman exec "$NAME" python3 -c 'import glob
print(sum(b"spawn_" + b"main(" in open(f, "rb").read() for f in glob.glob("/proc/[0-9]*/cmdline")))')
[ "$workers" = 2 ] || die "WEB_CONCURRENCY=2 started $workers worker processes"
result=$(stop)
read -r stop2_s code2 <<<"$result"
say "WEB_CONCURRENCY=2: 2 worker processes; stopped in ${stop2_s} s, exit code $code2"

say "passed in $(elapsed "$started") s: the image adds ${added_mb} MB to its base, serves in ${start_s} s, stops in ${stop_s} s"
