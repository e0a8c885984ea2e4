# syntax=docker/dockerfile:1
# The todo-api service: the locked dependencies and the project in a virtual environment, run as
# a non-root user on a read-only root filesystem. Configured by environment variables only (the
# README's Configuration table); `todo-api migrate` is a one-off command in the same image.
#
#   docker build -t todo-api .
#   docker build --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt -t todo-api .
#     (behind a proxy that re-signs TLS: pip trusts that bundle; it never enters a layer)
#
# BASE_IMAGE: any Debian-like image with python3 (3.11+) and its venv module; the runtime stage
# uses the same one, so the environment's links to its python3 hold.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PATH=/opt/todo-api/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# binutils, in this stage only: the compiled extensions' debug symbols (a fifth of the
# environment) are stripped below. With the cacert secret, apt trusts it too (for https mirrors).
# hadolint ignore=DL3008
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then \
        echo 'Acquire::https::CAInfo "/run/secrets/cacert";' > /etc/apt/apt.conf.d/99cacert; \
    fi; \
    apt-get update -q \
    && apt-get install -y -q --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/* /etc/apt/apt.conf.d/99cacert
# `python3 -m venv`, not a fixed path: python3 is in /usr/local/bin in the official image and in
# /usr/bin in Debian's.
RUN python3 -m venv /opt/todo-api

# The dependencies first, in a layer of their own that a change to the code leaves cached: those
# pyproject.toml names, with requirements.lock as constraints (as `make` installs them), without
# the development extras. Optional build secrets: `cacert`, a CA bundle for pip; `pipconf`, a
# pip configuration file (another package index). Then the extensions lose their debug symbols,
# except those auditwheel relinked (an RPATH: strip may break them) and the libraries it bundled;
# each stripped one must still load.
COPY pyproject.toml requirements.lock ./
RUN --mount=type=secret,id=cacert --mount=type=secret,id=pipconf \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/dependencies.txt \
    && pip install -c requirements.lock -r /tmp/dependencies.txt \
    && find /opt/todo-api -name '*.so' ! -path '*.libs/*' > /tmp/extensions.txt \
    && while read -r f; do \
           case "$(readelf -d "$f")" in *RPATH*|*RUNPATH*) ;; *) strip --strip-debug "$f" && echo "$f" ;; esac; \
       done < /tmp/extensions.txt > /tmp/stripped.txt \
    && xargs -a /tmp/stripped.txt -d '\n' python3 -c 'import ctypes, sys; [ctypes.CDLL(f) for f in sys.argv[1:]]'

# The project itself (no tests: .dockerignore lets only these in), then pip and setuptools leave
# the environment: nothing installs anything at run time.
COPY README.md ./
COPY src ./src
RUN --mount=type=secret,id=cacert --mount=type=secret,id=pipconf \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi; \
    pip install --no-deps . \
    && pip uninstall --yes setuptools pip \
    && todo-api --help > /dev/null

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="todo-api" \
      org.opencontainers.image.description="Multi-user todo API for apps signed in with Better Auth" \
      org.opencontainers.image.licenses="MIT"
# HOME and TMPDIR in /tmp: the only place written to, so the root filesystem may be read-only
# (a tmpfs or an emptyDir there). Byte code was compiled at build time and is never written.
ENV PATH=/opt/todo-api/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    PORT=8000 \
    WEB_CONCURRENCY=1
COPY --from=build /opt/todo-api /opt/todo-api
# An empty working directory: no `.env` is read from it.
WORKDIR /app
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
# GET /health on the port the server was told (PORT), never through an HTTP proxy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
# Exec form: todo-api is PID 1 and gets SIGTERM itself. It reads PORT and WEB_CONCURRENCY (workers,
# one per core) from the environment. `todo-api migrate` is run instead of it.
CMD ["todo-api", "serve", "--host", "0.0.0.0"]
