#!/usr/bin/env python3
"""Static checks of Parley's deployment files that no schema covers: how the
Dockerfile, compose file and Kubernetes manifests agree with the workspace
and with each other. Called by deploy/validate.sh, one subcommand per check;
each prints its problems and exits 1 if there are any.

The contract (ports, groups, topic) comes from docs/contracts.md; the ports are
read from the local stack's deploy/prometheus/prometheus.yml, which scrapes
each worker at its contract port under a job named after it."""

import pathlib
import re
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOPIC = "game-messages"
PARTITIONS = 12
# Workers whose instances share their group; the group is the worker's name.
SHARED = ["db-writer", "analytics", "anomaly-detector", "parquet-exporter"]
WORKERS = ["websocket-sender", *SHARED]

problems: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


def contract_ports() -> dict[str, int]:
    """job → metrics port, from the local stack's scrape config."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    ports = {}
    for job in config["scrape_configs"]:
        if job["job_name"] in WORKERS:
            target = job["static_configs"][0]["targets"][0]
            ports[job["job_name"]] = int(target.rsplit(":", 1)[1])
    missing = set(WORKERS) - set(ports)
    if missing:
        problem(f"deploy/prometheus/prometheus.yml scrapes no {sorted(missing)}")
    return ports


def load_all(path: pathlib.Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# --- Dockerfile ---------------------------------------------------------------


def check_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    m = re.search(r'^ARG PARLEY_BINS="([^"]*)"', text, re.M)
    if not m:
        problem("Dockerfile: no ARG PARLEY_BINS=\"…\" list of binaries")
        return
    built = set(m.group(1).split())
    crates = set()
    for manifest in sorted(ROOT.glob("workers/*/Cargo.toml")) + sorted(ROOT.glob("tools/*/Cargo.toml")):
        crates.add(tomllib.loads(manifest.read_text())["package"]["name"])
    for name in sorted(crates - built):
        problem(f"Dockerfile: PARLEY_BINS lacks {name} (a crate under workers/ or tools/)")
    for name in sorted(built - crates):
        problem(f"Dockerfile: PARLEY_BINS names {name}, which no crate under workers/ or tools/ is")
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in ("target/", ".local/", ".git/"):
        if entry not in ignored:
            problem(f".dockerignore: {entry} is not excluded")
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", text, re.M):
        if source != "." and not (ROOT / source).exists():
            problem(f"Dockerfile: COPY source {source} does not exist")


# --- compose ------------------------------------------------------------------


def check_compose() -> None:
    folder = ROOT / "deploy/compose"
    compose = yaml.safe_load((folder / "compose.yaml").read_text())
    services = compose["services"]
    ports = contract_ports()
    for name, service in services.items():
        image = service.get("image", "")
        if "build" in service:
            context = folder / (service["build"] if isinstance(service["build"], str) else service["build"]["context"])
            if not (context / "Dockerfile").exists():
                problem(f"compose {name}: build context {context} has no Dockerfile")
        elif ":" not in image or image.endswith(":latest"):
            problem(f"compose {name}: image {image!r} is not pinned to a tag")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")) and not (folder / source).exists():
                problem(f"compose {name}: mounted {source} does not exist")
        for dependency in service.get("depends_on", {}):
            if dependency not in services:
                problem(f"compose {name}: depends on unknown service {dependency}")
        command = service.get("command") or [""]
        if command[0] in WORKERS:
            worker = command[0]
            env = service.get("environment", {})
            expected = f"0.0.0.0:{ports.get(worker)}"
            if env.get("PARLEY_METRICS_ADDR") != expected:
                problem(f"compose {name}: PARLEY_METRICS_ADDR is {env.get('PARLEY_METRICS_ADDR')!r}, expected {expected}")
            test = service.get("healthcheck", {}).get("test", [])
            if test[-1:] != [str(ports.get(worker))]:
                problem(f"compose {name}: healthcheck {test} does not probe port {ports.get(worker)}")
    prometheus = yaml.safe_load((folder / "prometheus.yml").read_text())
    scraped = {}
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            scraped[job["job_name"]] = f"{sd['names'][0]}:{sd.get('port')}"
    for worker in WORKERS:
        if scraped.get(worker) != f"{worker}:{ports.get(worker)}":
            problem(f"compose prometheus.yml: job {worker} finds {scraped.get(worker)!r}, expected {worker}:{ports.get(worker)}")


# --- kustomize files ----------------------------------------------------------


def check_kustomize_files() -> None:
    for kustomization in sorted((ROOT / "deploy/k8s").rglob("kustomization.yaml")):
        folder = kustomization.parent
        spec = yaml.safe_load(kustomization.read_text())
        rel = kustomization.relative_to(ROOT)
        for entry in spec.get("resources", []) + spec.get("components", []):
            if not (folder / entry).exists():
                problem(f"{rel}: resource {entry} does not exist")
        for generator in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
            for entry in generator.get("files", []) + generator.get("envs", []):
                path = entry.split("=", 1)[-1]
                if not (folder / path).exists():
                    problem(f"{rel}: {generator['name']} file {path} does not exist")
    # The rules ConfigMap is built from copies (kustomize reads nothing above
    # the kustomization); they must equal the originals.
    source = ROOT / "deploy/anomaly-detector"
    copy = ROOT / "deploy/k8s/base/anomaly-detector"
    for original in [source / "rules.toml", *sorted((source / "wordlists").glob("*.txt"))]:
        twin = copy / original.relative_to(source)
        if not twin.exists() or twin.read_bytes() != original.read_bytes():
            problem(f"{twin.relative_to(ROOT)} differs from {original.relative_to(ROOT)}: copy it again")


# --- rendered Kubernetes manifests -------------------------------------------


# Custom resources with a schema under deploy/k8s/schemas/<kind>.schema.json.
CRD_KINDS = {"ScaledObject", "ServiceMonitor", "PrometheusRule"}


def split(rendered: pathlib.Path, out: pathlib.Path) -> None:
    """Built-in kinds → out/builtin.yaml; each custom resource →
    out/<kind>-<name>.json, for check-jsonschema with schemas/<kind>.schema.json."""
    import json

    builtin = []
    for doc in load_all(rendered):
        if doc["kind"] in CRD_KINDS:
            (out / f"{doc['kind'].lower()}-{doc['metadata']['name']}.json").write_text(json.dumps(doc))
        else:
            builtin.append(doc)
    (out / "builtin.yaml").write_text(yaml.safe_dump_all(builtin, sort_keys=False))


def env_names(container: dict, configmaps: dict) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        names |= set(configmaps.get(ref, {}).get("data", {}))
    return names


def check_workload(kind: str, workload: dict, ports: dict, configmaps: dict, secrets: dict) -> None:
    name = workload["metadata"]["name"]
    where = f"{kind} {name}"
    pod = workload["spec"]["template"]["spec"]
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True or security.get("runAsUser") != 10001:
        problem(f"{where}: pod must set runAsNonRoot: true and runAsUser: 10001 (the image's user)")
    if pod.get("automountServiceAccountToken") is not False:
        problem(f"{where}: workers call no Kubernetes API; set automountServiceAccountToken: false")
    (container,) = pod["containers"]
    if container.get("command", [None])[0] != name:
        problem(f"{where}: container runs {container.get('command')}, expected [{name!r}]")
    csec = container.get("securityContext", {})
    if csec.get("readOnlyRootFilesystem") is not True or csec.get("allowPrivilegeEscalation") is not False:
        problem(f"{where}: container needs readOnlyRootFilesystem: true, allowPrivilegeEscalation: false")
    if "ALL" not in csec.get("capabilities", {}).get("drop", []):
        problem(f"{where}: container must drop ALL capabilities")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        for key in ("cpu", "memory"):
            if key not in resources.get(part, {}):
                problem(f"{where}: no resources.{part}.{key}")
    container_ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if container_ports.get("metrics") != ports.get(name):
        problem(f"{where}: port `metrics` is {container_ports.get('metrics')}, contract says {ports.get(name)}")
    env = {e["name"]: e for e in container.get("env", [])}
    if env.get("PARLEY_METRICS_ADDR", {}).get("value") != f"0.0.0.0:{ports.get(name)}":
        problem(f"{where}: PARLEY_METRICS_ADDR must be 0.0.0.0:{ports.get(name)}")
    for probe in ("readinessProbe", "livenessProbe"):
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != "/healthz" or get.get("port") not in ("metrics", ports.get(name)):
            problem(f"{where}: {probe} must GET /healthz on the metrics port")
    for variable in env.values():
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["name"] in secrets:
            secret = secrets[ref["name"]]
            if ref["key"] not in {**secret.get("data", {}), **secret.get("stringData", {})}:
                problem(f"{where}: {variable['name']} reads key {ref['key']} that Secret {ref['name']} lacks")
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref and ref not in configmaps:
            problem(f"{where}: envFrom ConfigMap {ref} is not rendered")
    if "PARLEY_BROKERS" not in env_names(container, configmaps):
        problem(f"{where}: PARLEY_BROKERS is not set (the default 127.0.0.1:9092 is wrong in a pod)")
    for volume in pod.get("volumes", []):
        ref = volume.get("configMap")
        if ref:
            data = configmaps.get(ref["name"], {}).get("data", {})
            if ref["name"] not in configmaps:
                problem(f"{where}: volume ConfigMap {ref['name']} is not rendered")
            for item in ref.get("items", []):
                if item["key"] not in data:
                    problem(f"{where}: ConfigMap {ref['name']} has no key {item['key']}")
    if name == "websocket-sender":
        instance = env.get("PARLEY_INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {})
        if kind != "StatefulSet" or instance.get("fieldPath") != "metadata.name":
            problem(f"{where}: must be a StatefulSet with PARLEY_INSTANCE_ID from metadata.name (a group per pod)")
    elif kind != "Deployment":
        problem(f"{where}: a shared-group worker is a Deployment")


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_rendered(rendered: pathlib.Path) -> None:
    docs = load_all(rendered)
    ports = contract_ports()
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        namespace = doc["metadata"].get("namespace")
        if doc["kind"] != "Namespace" and namespace != "parley":
            problem(f"{doc['kind']} {doc['metadata']['name']}: namespace {namespace!r}, expected parley")
    configmaps, secrets = by_kind.get("ConfigMap", {}), by_kind.get("Secret", {})
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    if sorted(workloads) != sorted(WORKERS):
        problem(f"workloads are {sorted(workloads)}, expected one per worker {sorted(WORKERS)}")
    services = by_kind.get("Service", {}).values()
    for name, workload in workloads.items():
        check_workload(workload["kind"], workload, ports, configmaps, secrets)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", {}).values() if selects(p["spec"]["selector"]["matchLabels"], labels)]
        if len(pdbs) != 1:
            problem(f"{name}: {len(pdbs)} PodDisruptionBudgets select it, expected 1")
        scraped = [s for s in services if selects(s["spec"].get("selector", {}), labels) and any(p.get("name") == "metrics" for p in s["spec"]["ports"])]
        if len(scraped) != 1:
            problem(f"{name}: {len(scraped)} Services expose its `metrics` port, expected 1 (scraped once)")
        for monitor in by_kind.get("ServiceMonitor", {}).values():
            if scraped and not selects(monitor["spec"]["selector"].get("matchLabels", {}), scraped[0]["metadata"].get("labels", {})):
                problem(f"ServiceMonitor {monitor['metadata']['name']} does not select Service {scraped[0]['metadata']['name']}")
    for stateful in by_kind.get("StatefulSet", {}).values():
        governing = by_kind.get("Service", {}).get(stateful["spec"]["serviceName"])
        if not governing or governing["spec"].get("clusterIP") != "None":
            problem(f"StatefulSet {stateful['metadata']['name']}: serviceName must be a rendered headless Service")
    scaled = by_kind.get("ScaledObject", {})
    for name, scaler in scaled.items():
        check_scaler(name, scaler, workloads, configmaps)
    for name, workload in workloads.items():
        if scaled and name not in {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()}:
            problem(f"{name}: no ScaledObject, while the others have one")


def check_scaler(name: str, scaler: dict, workloads: dict, configmaps: dict) -> None:
    spec = scaler["spec"]
    target = workloads.get(spec["scaleTargetRef"]["name"])
    if not target or target["kind"] != spec["scaleTargetRef"].get("kind", "Deployment"):
        problem(f"ScaledObject {name}: target {spec['scaleTargetRef']} is not a rendered workload")
        return
    worker = target["metadata"]["name"]
    if "replicas" in target["spec"]:
        problem(f"{worker}: sets replicas while KEDA scales it (an apply would reset them)")
    (container,) = target["spec"]["template"]["spec"]["containers"]
    for trigger in spec["triggers"]:
        meta = trigger["metadata"]
        if trigger["type"] == "kafka":
            if worker not in SHARED:
                problem(f"ScaledObject {name}: lag of a per-instance group does not fall with replicas; {worker} cannot scale on it")
            if meta.get("consumerGroup") != worker or meta.get("topic") != TOPIC:
                problem(f"ScaledObject {name}: kafka trigger must watch group {worker} on {TOPIC}")
            if spec.get("maxReplicaCount", 100) > PARTITIONS:
                problem(f"ScaledObject {name}: maxReplicaCount above the {PARTITIONS} partitions")
            env = meta.get("bootstrapServersFromEnv")
            if env and env not in env_names(container, configmaps):
                problem(f"ScaledObject {name}: {env} is not in {worker}'s environment")
        if trigger["type"] == "prometheus":
            metrics = re.findall(r"\b(parley_[a-z_]+)", meta.get("query", ""))
            sources = "".join(p.read_text() for p in ROOT.glob(f"workers/{worker}/src/**/*.rs"))
            for metric in metrics:
                if f'"{metric}"' not in sources:
                    problem(f"ScaledObject {name}: {metric} is not a metric of {worker}")


def main() -> int:
    command, *args = sys.argv[1:]
    if command == "dockerfile":
        check_dockerfile()
    elif command == "compose":
        check_compose()
    elif command == "kustomize-files":
        check_kustomize_files()
    elif command == "split":
        split(pathlib.Path(args[0]), pathlib.Path(args[1]))
    elif command == "rendered":
        check_rendered(pathlib.Path(args[0]))
    else:
        print(f"unknown check {command}", file=sys.stderr)
        return 2
    for message in problems:
        print(message, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
