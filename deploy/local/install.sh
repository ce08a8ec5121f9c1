#!/usr/bin/env bash
# Installs what Parley's local stack and tests need, skipping what is there:
#   - Debian packages: clickhouse-server/-client, prometheus (and promtool),
#     prometheus-alertmanager, a JDK and Maven, curl, build tools for librdkafka,
#     chromium (headless, for the websocket-sender console test)
#   - Apache Kafka 4.1.1 jars (Maven Central) into .local/kafka/libs
#   - duckdb, pyarrow and moto[server] (PyPI) to read the Parquet exports and
#     to serve S3 locally in tests; matplotlib for the benchmark charts
#   - chdb-core 26.9.0 (PyPI, the ClickHouse 26.9 engine in-process) into the
#     venv $PARLEY_VENV (/var/cache/parley/venv), for tests/chdb/compat_chdb.py
# Rust crates are fetched by cargo on first build. Idempotent; needs root
# (or sudo) only when a Debian package is missing.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${PARLEY_STATE_DIR:-$REPO/.local}
log() { printf '[install] %s\n' "$*" >&2; }

# command -> Debian package
declare -A NEED=(
  [clickhouse-client]=clickhouse-client
  [prometheus]=prometheus
  [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [java]=openjdk-17-jre-headless
  [mvn]=maven
  [curl]=curl
  [cmake]=cmake
  [g++]=g++
  [make]=make
  [pkg-config]=pkg-config
  [python3]=python3
  [chromium]=chromium
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
[[ -x /usr/sbin/clickhouse-server ]] || command -v clickhouse-server >/dev/null 2>&1 || missing+=(clickhouse-server)
for pkg in libssl-dev zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The packages may start system services; the stack runs its own processes.
  for svc in clickhouse-server prometheus prometheus-alertmanager; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
else
  log "Debian packages present"
fi

# Kafka from Maven Central: one folder of jars, no tarball.
if [[ ! -f $STATE/kafka/libs/kafka_2.13-4.1.1.jar || ! -f $STATE/kafka/libs/kafka-tools-4.1.1.jar ]]; then
  log "fetching Apache Kafka 4.1.1 jars with Maven"
  mkdir -p "$STATE/kafka/libs"
  mvn -B -q -f "$REPO/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.libs="$STATE/kafka/libs"
else
  log "Kafka jars present in $STATE/kafka/libs"
fi

# Python readers the data team uses, for the Parquet tests and benchmarks.
# moto's server is the S3-compatible store the S3 export test writes to.
if ! python3 -c 'import duckdb, pyarrow, pytz, moto.server, boto3, matplotlib' >/dev/null 2>&1; then
  log "installing duckdb, pyarrow, moto[server], matplotlib (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow pytz 'moto[server]' boto3 matplotlib
else
  log "duckdb, pyarrow, moto and matplotlib present"
fi

# ClickHouse 26.9 in-process, for the compatibility test (make test-chdb).
VENV=${PARLEY_VENV:-/var/cache/parley/venv}
CHDB=chdb-core==26.9.0
if ! "$VENV/bin/python" -c 'import chdb' >/dev/null 2>&1; then
  log "installing $CHDB into $VENV (PyPI)"
  [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$CHDB"
else
  log "chdb present in $VENV"
fi

command -v cargo >/dev/null 2>&1 || { log "error: cargo (Rust) is required: https://rustup.rs"; exit 1; }
log "ready"
