"""Check the Helm chart without a cluster: helm lint, a render with the defaults (and with the
optional parts on), the rendered objects against the Kubernetes schemas (kubernetes-validate
--strict) and checkov's policies, and values.schema.json: it describes every value and refuses
wrong types, '*' or no ALLOWED_ORIGINS, and secrets among the values.

Run with the tools of deploy/requirements.txt: python deploy/check_chart.py [--keep DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parent / "helm" / "todo-api"
RELEASE, NAMESPACE = "todo-api", "todo-api"
KUBERNETES_VERSIONS = ["1.30.0", "1.34.0"]

# checkov's checks that do not apply, and why; every other finding fails the check.
CHECKOV_SKIPS = {
    # The service is configured by environment variables only (the README's Configuration;
    # pydantic-settings reads no secret files here), so the Secret reaches it as variables.
    "CKV_K8S_35": "secrets as environment variables",
    # The defaults name the image by tag: an image loaded into Minikube has no registry digest.
    # image.digest pins it by digest (checked below in the full render).
    "CKV_K8S_43": "image by digest",
    # IfNotPresent is what an image loaded into Minikube needs; image.pullPolicy: Always is a
    # value away for mutable tags.
    "CKV_K8S_15": "pull policy Always",
    # Which pods may reach the service, and which database it reaches (Neon: the internet),
    # depend on the cluster and its CNI; a NetworkPolicy is the operator's to add.
    "CKV2_K8S_6": "a NetworkPolicy per pod",
}

# Secret settings: the chart must never carry a value for one of them.
SECRET_NAMES = {
    "DATABASE_URL",
    "NEON_DB_URL",
    "DATABASE_DIRECT_URL",
    "BETTER_AUTH_SECRET",
    "METRICS_TOKEN",
    "OPENAI_API_KEY",
}


def fail(message: str) -> None:
    sys.exit(f"chart: FAIL: {message}")


def render(values: dict[str, Any] | None = None, **options: Any) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    manifests = chart.render(
        values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True, **options
    )
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def refused(values: dict[str, Any]) -> str | None:
    """The error when rendering with `values` fails, None when it renders."""
    try:
        render(values)
    except helm.HelmError as exc:
        return str(exc)
    return None


def lint() -> None:
    report = helm.lint(CHART, strict=True, namespace=NAMESPACE)
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    if report.get("errors") or problems:
        fail(f"helm lint: {report.get('errors')} {problems}")
    infos = [m["error"] for m in report.get("messages", [])]
    print(f"chart: helm lint --strict passed ({len(infos)} notes: {'; '.join(infos) or 'none'})")


def schema_describes_everything() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: dict[str, Any], values: Any, path: str) -> None:
        for name, sub in node.get("properties", {}).items():
            if "description" not in sub:
                fail(f"values.schema.json: {path}{name} has no description")
        if isinstance(values, dict):
            for name, value in values.items():
                sub = node.get("properties", {}).get(name)
                if sub is None:
                    fail(f"values.schema.json does not describe {path}{name}")
                if "properties" in sub and sub.get("additionalProperties") is False:
                    walk(sub, value, f"{path}{name}.")

    walk(schema, defaults, "")
    print("chart: values.schema.json describes every value in values.yaml")


def schema_refuses() -> None:
    cases = {
        "replicaCount as a string": {"replicaCount": "two"},
        "image.tag as a number": {"image": {"tag": 1.5}},
        "image.digest not a digest": {"image": {"digest": "latest"}},
        "image.pullPolicy unknown": {"image": {"pullPolicy": "Sometimes"}},
        "workers as a string": {"workers": "2"},
        "autoscaling.enabled as a string": {"autoscaling": {"enabled": "yes"}},
        "ingress.hosts as a string": {"ingress": {"hosts": "todo.example.com"}},
        "podDisruptionBudget.enabled as a number": {"podDisruptionBudget": {"enabled": 1}},
        "resources.limits.memory as a list": {"resources": {"limits": {"memory": ["1Gi"]}}},
        "an unknown value (a typo)": {"replicas": 3},
        "existingSecret empty": {"existingSecret": ""},
        "allowedOrigins '*'": {"allowedOrigins": ["*"]},
        "allowedOrigins '*' as a string": {"allowedOrigins": "*"},
        "allowedOrigins empty": {"allowedOrigins": []},
        "allowedOrigins null": {"allowedOrigins": None},
        "allowedOrigins with a path": {"allowedOrigins": ["https://app.example.com/"]},
        "a secret among the values": {"env": {"BETTER_AUTH_SECRET": "x" * 40}},
        "a database URL among the values": {"env": {"DATABASE_URL": "postgresql://u:p@h/db"}},
        "readOnlyRootFilesystem off": {"securityContext": {"readOnlyRootFilesystem": False}},
    }
    for what, values in cases.items():
        if refused(values) is None:
            fail(f"rendering with {what} ({values}) succeeded; the schema must refuse it")
    print(
        f"chart: rendering refused all {len(cases)} wrong values "
        "(types, '*', empty origins, secrets)"
    )


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def container_env(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in pod_spec["containers"][0].get("env", [])}


def semantics(defaults: list[dict[str, Any]], full: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in defaults)
    want = ["Deployment", "Job", "PodDisruptionBudget", "Service", "ServiceAccount"]
    if kinds != want:
        fail(f"defaults render {kinds}, expected {want}")
    for objects in (defaults, full):
        if by_kind(objects, "Secret"):
            fail("the chart renders a Secret; secrets come from existingSecret only")
        for o in by_kind(objects, "Deployment") + by_kind(objects, "Job"):
            spec = o["spec"]["template"]["spec"]
            for name, entry in container_env(spec).items():
                if name in SECRET_NAMES and "value" in entry:
                    fail(f"{o['kind']} sets {name} to a value")
            ref = spec["containers"][0]["envFrom"][0]["secretRef"]["name"]
            if ref != "todo-api":
                fail(f"{o['kind']} takes its secrets from {ref}")
            sc = spec["containers"][0]["securityContext"]
            if not (
                sc["readOnlyRootFilesystem"]
                and sc["runAsNonRoot"]
                and sc["allowPrivilegeEscalation"] is False
                and sc["capabilities"]["drop"] == ["ALL"]
            ):
                fail(f"{o['kind']}: security context {sc}")
            mounts = spec["containers"][0]["volumeMounts"]
            if not any(m["mountPath"] == "/tmp" for m in mounts):  # noqa: S108 - the pod's /tmp
                fail(f"{o['kind']}: no writable /tmp")
            origins = container_env(spec)["ALLOWED_ORIGINS"]["value"]
            if not origins or "*" in origins:
                fail(f"{o['kind']}: ALLOWED_ORIGINS={origins!r}")
    job = by_kind(defaults, "Job")[0]
    if job["metadata"]["annotations"]["helm.sh/hook"] != "pre-install,pre-upgrade":
        fail("the migration Job is not a pre-install,pre-upgrade hook")
    if job["spec"]["template"]["spec"]["containers"][0]["command"] != ["todo-api", "migrate"]:
        fail("the migration Job does not run todo-api migrate")
    deployment = by_kind(defaults, "Deployment")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if deployment["spec"].get("replicas") != 2:
        fail("the Deployment's replicas without autoscaling")
    probes = {
        k: container[k]["httpGet"]["path"]
        for k in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    if probes != {
        "livenessProbe": "/health",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health",
    }:
        fail(f"probes {probes}")
    if not deployment["spec"]["template"]["spec"].get("topologySpreadConstraints"):
        fail("no topology spread")

    # With autoscaling, an Ingress and Neon's direct URL for the migration.
    if "replicas" in by_kind(full, "Deployment")[0]["spec"]:
        fail("with autoscaling on, the Deployment still sets replicas")
    if len(by_kind(full, "HorizontalPodAutoscaler")) != 1:
        fail("autoscaling.enabled renders no HorizontalPodAutoscaler")
    ingress = by_kind(full, "Ingress")
    if len(ingress) != 1:
        fail("ingress.enabled renders no Ingress")
    annotations = ingress[0]["metadata"]["annotations"]
    if (
        annotations.get("nginx.ingress.kubernetes.io/proxy-buffering") != "off"
        or int(annotations.get("nginx.ingress.kubernetes.io/proxy-read-timeout", 0)) < 60
    ):
        fail(f"the Ingress does not keep /events open: {annotations}")
    url = container_env(by_kind(full, "Job")[0]["spec"]["template"]["spec"])["DATABASE_URL"]
    if url["valueFrom"]["secretKeyRef"] != {"name": "todo-api", "key": "DATABASE_DIRECT_URL"}:
        fail(f"migration.databaseUrlKey: the Job's DATABASE_URL is {url}")
    image = by_kind(full, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    if image != "registry.example.com/todo-api@sha256:" + "0" * 64:
        fail(f"image.digest: the image is {image}")
    print(
        "chart: defaults render Deployment, Service, ServiceAccount, PodDisruptionBudget and "
        "the migration hook Job; with autoscaling and an Ingress, no replicas and the stream "
        "annotations"
    )


FULL_VALUES = {
    "autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80},
    "ingress": {
        "enabled": True,
        "hosts": [{"host": "todo.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"secretName": "todo-example-tls", "hosts": ["todo.example.com"]}],
    },
    "migration": {"databaseUrlKey": "DATABASE_DIRECT_URL"},
    "image": {"repository": "registry.example.com/todo-api", "digest": "sha256:" + "0" * 64},
    "allowedOrigins": ["https://app.example.com"],
    "betterAuthUrl": "https://app.example.com",
    "workers": 2,
    "env": {"METRICS_ENABLED": "true", "DB_POOL_SIZE": "10"},
}


def run(tool: str, *args: str) -> str:
    exe = str(Path(sys.executable).parent / tool)
    done = subprocess.run(  # noqa: S603 - the tools of deploy/requirements.txt, fixed arguments
        [exe, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(done.stdout, done.stderr, sep="\n")
        fail(f"{tool} {' '.join(args)} exited {done.returncode}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", help="write the rendered manifests into this folder")
    args = parser.parse_args()
    started = time.monotonic()

    lint()
    schema_describes_everything()
    schema_refuses()
    defaults, full = render(), render(FULL_VALUES)
    semantics(defaults, full)

    with tempfile.TemporaryDirectory(prefix="todo-api-chart-") as scratch:
        check_rendered(Path(args.keep or scratch), defaults, full)
    print(f"chart: all checks passed in {time.monotonic() - started:.1f} s")


def check_rendered(out: Path, defaults: list[dict[str, Any]], full: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, objects in (("defaults", defaults), ("full", full)):
        path = out / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        files.append(str(path))

    for version in KUBERNETES_VERSIONS:
        run("kubernetes-validate", "--strict", "--quiet", "-k", version, *files)
    print(
        "chart: kubernetes-validate --strict passed for Kubernetes "
        + ", ".join(KUBERNETES_VERSIONS)
    )

    report = run(
        "checkov",
        "--framework",
        "kubernetes",
        "--skip-download",
        "--quiet",
        "--compact",
        "--output",
        "json",
        "--skip-check",
        ",".join(CHECKOV_SKIPS),
        *[a for f in files for a in ("-f", f)],
    )
    results = json.loads(report) if report.strip() else {}
    results = results if isinstance(results, list) else [results]
    summary = [r.get("summary", {}) for r in results if isinstance(r, dict)]
    passed = sum(s.get("passed", 0) for s in summary)
    failed = sum(s.get("failed", 0) for s in summary)
    if failed or not passed:
        fail(f"checkov: {failed} failed, {passed} passed")
    print(
        f"chart: checkov passed {passed} checks, 0 failed; skipped: "
        + ", ".join(f"{k} ({v})" for k, v in CHECKOV_SKIPS.items())
    )


if __name__ == "__main__":
    main()
