#!/usr/bin/env bash
# The main job: the whole pipeline on generated game traffic.
# Starts every Parley worker that exists against the local stack (which must
# be up: deploy/local/stack.sh up), then runs loadgen in the foreground.
# Ctrl-C (or --duration) stops loadgen, then each worker gets SIGTERM and
# drains. Worker logs: .local/logs/<worker>.log.
#
#   deploy/local/run-pipeline.sh [--rate N] [--duration 10m] [--release|--debug]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${PARLEY_STATE_DIR:-$REPO/.local}
RATE=2000
DURATION=""
PROFILE=release
while (($#)); do
  case $1 in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --release) PROFILE=release; shift ;;
    --debug) PROFILE=debug; shift ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
log() { printf '[pipeline] %s\n' "$*" >&2; }

cd "$REPO"
flag=(); [[ $PROFILE == release ]] && flag=(--release)
log "building workers and loadgen ($PROFILE; the first build takes about 5 minutes on 2 cores, later ones seconds)"
cargo build "${flag[@]}" --workspace --bins
BIN=${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE
BROKERS=$(deploy/local/stack.sh bootstrap)
export PARLEY_BROKERS=$BROKERS

# Every crate under workers/ is started; its own flags are in worker_args.
WORKERS=()
for dir in workers/*/; do
  [[ -f $dir/Cargo.toml ]] && WORKERS+=("$(basename "$dir")")
done

pids=()
stop_workers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ((${#pids[@]})) && log "workers stopped"
  pids=()
}
trap stop_workers EXIT
trap 'exit 130' INT TERM

mkdir -p "$STATE/logs"
# websocket-sender verifies player tokens with this secret (a local one is
# made once and kept in the state folder unless you set your own).
if [[ -z ${PARLEY_JWT_SECRET:-} ]]; then
  [[ -s $STATE/jwt-secret ]] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE/jwt-secret"
  PARLEY_JWT_SECRET=$(cat "$STATE/jwt-secret")
fi
export PARLEY_JWT_SECRET
# Worker-specific flags for the local run.
worker_args() {
  case $1 in
    parquet-exporter) echo "--out $STATE/export --file-age 1m" ;;
    websocket-sender) echo "--instance-id local --rules $REPO/deploy/anomaly-detector/rules.toml" ;;
    anomaly-detector) echo "--rules $REPO/deploy/anomaly-detector/rules.toml --alertmanager-url http://127.0.0.1:9093" ;;
  esac
}
for worker in "${WORKERS[@]}"; do
  # shellcheck disable=SC2046
  "$BIN/$worker" $(worker_args "$worker") >"$STATE/logs/$worker.log" 2>&1 &
  pids+=($!)
  log "$worker started (pid $!), log: $STATE/logs/$worker.log"
done
((${#WORKERS[@]})) || log "no workers built yet: running loadgen alone"
has() { [[ " ${WORKERS[*]} " == *" $1 "* ]]; }
# Wait (at most 15 s) until websocket-sender serves, so the links below work.
if has websocket-sender && command -v curl >/dev/null; then
  for _ in $(seq 30); do
    curl -s -o /dev/null --max-time 1 http://127.0.0.1:8080/ && break
    sleep 0.5
  done
fi
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null ||
    log "${WORKERS[$i]} exited at start: see $STATE/logs/${WORKERS[$i]}.log"
done
CH_QUERY="SELECT game_id, uniqExact(message_id) AS messages FROM parley.messages GROUP BY game_id ORDER BY messages DESC"
# Where to look, while traffic flows and after.
show_links() {
  has db-writer && printf '  ClickHouse   clickhouse-client -q "%s"\n' "$CH_QUERY" >&2
  has parquet-exporter &&
    printf '  Parquet      %s/export/game-messages/  (hourly parts; a part is published after 1 min)\n' "$STATE" >&2
  printf '  Prometheus   http://127.0.0.1:9090  (try: sum by (worker) (rate(parley_records_processed_total[1m])))\n' >&2
  printf '  Alertmanager http://127.0.0.1:9093  (moderation alerts)\n' >&2
  printf '  logs         %s/logs/\n' "$STATE" >&2
}
console_token=""
if has websocket-sender; then
  console_token=$("$BIN/websocket-sender" token --sub operator --role moderator --room '*' --ttl 12h --game "${PARLEY_CONSOLE_GAME:-starfall}") ||
    log "could not mint a console token (see $STATE/logs/websocket-sender.log)"
fi
log "open this now:"
[[ -n $console_token ]] &&
  printf '  console      http://127.0.0.1:8080/#token=%s  (a moderator, every room, may publish; valid 12 h)\n' "$console_token" >&2
show_links

log "loadgen: $RATE msg/s into game-messages${DURATION:+ for $DURATION} (Ctrl-C to stop)"
args=(--rate "$RATE" --malformed-ratio 0.001
  --incident flood=1 --incident repetition=1 --incident spam=0.5 --incident links=1
  --incident caps=1 --incident toxicity=2 --incident raid=0.2 --progress-interval 10s)
[[ -n $DURATION ]] && args+=(--duration "$DURATION")
"$BIN/loadgen" "${args[@]}" || true
stop_workers
if [[ -x $BIN/db-writer ]] && command -v clickhouse-client >/dev/null; then
  rows=$(clickhouse-client -q "SELECT uniqExact(message_id) FROM parley.messages" 2>/dev/null || echo "?")
  log "ClickHouse parley.messages holds $rows distinct messages"
fi
[[ -d $STATE/export/game-messages ]] &&
  log "Parquet exports: $(find "$STATE/export/game-messages" -name '*.parquet' | wc -l) files under $STATE/export"
log "the stack stays up (make down stops it); still open:"
show_links
