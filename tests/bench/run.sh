#!/usr/bin/env bash
# The benchmark suite, in one go on one stack (issue #9):
#   1. raw limits: Kafka's ProducerPerformance/ConsumerPerformance
#      (kafka_baseline.sh), a bare rdkafka consume loop, clickhouse-client
#      bulk insert, pyarrow Parquet write, a bare RegexSet scan;
#   2. peers: ClickHouse's Kafka engine + MV (vs db-writer), pyarrow (vs
#      parquet-exporter), the Centrifuge peer (vs websocket-sender, through
#      websocket_sender.sh);
#   3. each Parley worker alone, draining the same preloaded topic;
#   4. publishing players (publish.sh): publish→ack, publish→delivered on
#      another instance and CPU per published message at 1,000 and 10,000
#      publishes/s, Parley against Centrifugo's client-side publish (when
#      CENTRIFUGO_BIN names a Centrifugo v6 binary);
#   5. all five worker groups at once on one topic fed at a fixed offered
#      rate, with WebSocket clients connected: consumer lag per group over
#      time (topic high watermark − the worker's consumed records, sampled
#      every second), WebSocket latency, CPU and RSS per worker.
# Every step is repeated RUNS times; report.py prints min/median/max, checks
# the issue's targets (✓/✗) and draws the charts. Results go to
# tests/bench/results/<UTC time>/, are copied to tests/bench/results/latest/,
# and docs/benchmarks.md is rewritten from them.
#
#   tests/bench/run.sh [--quick] [--runs N] [--count N] [--rate MSG_PER_S]
#                      [--duration S] [--connections N] [--rooms N] [--no-build]
# --quick: 1 run, small counts (a few minutes). Defaults: 3 runs, 1,000,000
# preloaded messages, all-at-once at 20,000 msg/s for 60 s with 5,000
# WebSocket clients over 2,000 rooms. --no-build: the release binaries as
# they are (the websocket script still builds its peer). Flags and their
# environment fallbacks (RUNS=1 … works too): tests/bench/lib.sh, shared
# by every script here.
# Env only: STEPS=publish runs only the publishing step (RUNS times) and
# puts its figures into tests/bench/results/latest/ in place of that step's
# older ones, every other figure staying as the run that made it left it
# (machine.txt says when each was measured); docs/benchmarks.md is then
# rewritten from latest/ as after a whole run. CENTRIFUGO_BIN: see publish.sh.
# Takes /tmp/parley-bench.lock and a shared /tmp/parley-stack.lock; brings
# the stack up first if it is down. Release binaries are built.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARGS=("$@")
source "$HERE/lib.sh"
BENCH_FLAGS=(quick runs count rate duration connections rooms no-build)
bench_args "$@"
bench_default RUNS 3 1
bench_default COUNT 1000000 200000
bench_default RATE 20000
bench_default DURATION 60 20
bench_default CONNECTIONS 5000
bench_default ROOMS 2000
STEPS=${STEPS:-all}
[[ $STEPS == all || $STEPS == publish ]] || { log "STEPS must be all or publish, not '$STEPS'"; exit 2; }
AIO_RATE=$RATE AIO_DURATION=$DURATION CONNS=$CONNECTIONS
if ((QUICK)); then
  WS_ENV=(CONNECTIONS=1000 RATE=1000 DURATION=10)
  PUB_ENV=(CONNECTIONS=1000 DURATION=10)
else
  WS_ENV=(CONNECTIONS=5000 RATE=2000 DURATION=30)
  PUB_ENV=(CONNECTIONS=5000 DURATION=30)
fi
PUB_RATES=(1000 10000)

# One benchmark at a time, and the stack kept up while it runs.
if [[ -z ${PARLEY_BENCH_LOCKED:-} ]]; then
  STACK=$HERE/../../deploy/local/stack.sh
  "$STACK" status >/dev/null 2>&1 || flock -x -o /tmp/parley-stack.lock "$STACK" up
  exec env PARLEY_BENCH_LOCKED=1 flock /tmp/parley-bench.lock \
    flock -s /tmp/parley-stack.lock "${BASH_SOURCE[0]}" "${ARGS[@]}"
fi

SUITE_START=$(now)
bench_build --workspace --bins
export PARLEY_BENCH_NO_BUILD=1 # the scripts run.sh calls use these binaries
ulimit -n "$(ulimit -Hn)"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$HERE/results/$STAMP
mkdir -p "$OUT"
FIG=$OUT/figures.tsv
LAG=$OUT/lag.csv
printf 'run\tkey\tvalue\n' >"$FIG"
printf 'run,t,worker,produced,consumed,lag_metric\n' >"$LAG"
WORK=$OUT/logs # worker and tool logs, kept with the run (not copied to latest)
mkdir -p "$WORK"
ID=$(date +%s)
PIDS=()
DBS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for db in "${DBS[@]}"; do ch -q "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  delete_bench_topics
  rm -f "$WORK/rows.bin" "$WORK/truth.jsonl" "$WORK/peer.parquet"
  rm -rf "$WORK"/parquet-* "$WORK"/aio-parquet-*
}
trap cleanup EXIT
fig() { printf '%s\t%s\t%s\n' "$RUN" "$1" "$2" >>"$FIG"; }
port() { echo $((20000 + RANDOM % 10000)); }
wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 5; i++)); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
  return 1
}
# cell FILE LABEL COLUMN → a cell of a Markdown table row whose first cell
# starts with LABEL (COLUMN 1 = the first value column), trimmed.
cell() {
  awk -F'|' -v l="$2" -v c="$(($3 + 2))" 'index($2, " " l) == 1 {gsub(/^ +| +$/, "", $c); print $c; exit}' "$1"
}
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat; }

{
  echo "machine: $(machine)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
  echo "kafka: 4.1.1, bootstrap $BS; clickhouse: $(ch -q 'SELECT version()')"
  echo "commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- workers shared || echo ' (+ uncommitted changes)')"
  echo "mode: $( ((QUICK)) && echo quick || echo full); runs: $RUNS; preloaded: $COUNT messages"
  echo "all-at-once: $AIO_RATE msg/s for $AIO_DURATION s, $CONNS WebSocket clients over $ROOMS rooms"
  echo "websocket-sender vs peer: ${WS_ENV[*]}"
  echo "publishing: ${PUB_ENV[*]}, rates ${PUB_RATES[*]}/s; peer ${CENTRIFUGO_BIN:-none (CENTRIFUGO_BIN unset)}"
} >"$OUT/machine.txt"
log "$(head -1 "$OUT/machine.txt")"

if [[ $STEPS == all ]]; then
# The same preloaded traffic for every drain: sent_at over 6 h (Parquet
# hour files), the anomaly benchmarks' incident mix.
TOPIC=bench-suite-$ID
create_topic "$TOPIC" 12
log "preloading $COUNT messages into $TOPIC"
"$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --count "$COUNT" --rate 0 --seed 1 --time-span 6h \
  "${INCIDENTS[@]}" --progress-interval 60s >"$WORK/preload.json"
RULES=$WORK/rules
mkdir -p "$RULES"
content_rules "$RULES"
ALERTS=bench-suite-alerts-$ID
create_topic "$ALERTS" 3
RX_COUNT=$((COUNT / 10 < 100000 ? COUNT / 10 : 100000)) # the bare RegexSet scans ~15k msg/s

# The all-at-once source: RATE × DURATION records with loadgen's truth (the
# load client's rooms and its loss/order check), replayed at RATE.
AIO_COUNT=$((AIO_RATE * AIO_DURATION))
AIO_SRC=bench-suite-aio-src-$ID
TRUTH=$WORK/truth.jsonl
create_topic "$AIO_SRC" 12
log "preloading $AIO_COUNT messages over $ROOMS rooms into $AIO_SRC"
"$BIN/loadgen" --brokers "$BS" --topic "$AIO_SRC" --count "$AIO_COUNT" --rate 0 --seed 2 \
  --rooms "$ROOMS" "${INCIDENTS[@]}" --truth "$TRUTH" --progress-interval 60s >/dev/null
fi
PARLEY_JWT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PARLEY_JWT_SECRET

# drain_fig KEY -- drain args…: a worker drains $TOPIC alone.
drain_fig() {
  local key=$1 secs rate us rss
  shift 2
  if ! read -r secs rate us rss < <(drain "$COUNT" "$@"); then
    log "$key: the drain failed; see $2"
    return 0
  fi
  fig "$key.rate" "$rate"; fig "$key.cpu_us" "$us"; fig "$key.rss_mib" "$rss"
  log "$key: $rate msg/s, $us µs/msg, $rss MiB"
}

alone() {
  log "run $RUN: Kafka's own producer and consumer (kafka_baseline.sh)"
  "$HERE/kafka_baseline.sh" --count "$COUNT" >"$WORK/kafka-$RUN.md"
  fig kafka.producer_perf "$(cell "$WORK/kafka-$RUN.md" 'Kafka ProducerPerformance' 2)"
  fig kafka.loadgen "$(cell "$WORK/kafka-$RUN.md" 'loadgen' 2)"
  fig kafka.consumer_perf "$(cell "$WORK/kafka-$RUN.md" 'Kafka ConsumerPerformance (raw consume' 2)"

  log "run $RUN: bare rdkafka consume"
  fig raw.consume "$("$BIN/raw_consume" --brokers "$BS" --topic "$TOPIC" --expect "$COUNT" | jq -r '.rate')"

  local db=bench_suite_dw_${ID}_$RUN raw_db=bench_suite_raw_${ID}_$RUN port start end
  DBS+=("$db" "$raw_db")
  port=$(port)
  drain_fig dw -- "$port" "$WORK/db-writer-$RUN.log" -- "$BIN/db-writer" --brokers "$BS" --topic "$TOPIC" \
    --group "bench-suite-dw-$ID-$RUN" --clickhouse-database "$db" --metrics-addr "127.0.0.1:$port"
  log "run $RUN: clickhouse-client RowBinary insert of the same rows"
  ch -q "SELECT * FROM $db.messages FORMAT RowBinary" >"$WORK/rows.bin"
  "$BIN/db-writer" --migrate --clickhouse-database "$raw_db" >/dev/null
  start=$(now)
  ch -q "INSERT INTO $raw_db.messages FORMAT RowBinary" <"$WORK/rows.bin"
  end=$(now)
  fig ch.insert "$(awk -v s="$start" -v e="$end" -v n="$COUNT" 'BEGIN{printf "%.0f", n/(e-s)}')"
  rm -f "$WORK/rows.bin"
  ch -q "DROP DATABASE IF EXISTS $db"; ch -q "DROP DATABASE IF EXISTS $raw_db"
  log "run $RUN: ClickHouse Kafka engine + materialized view"
  local peer_rate
  if read -r _ peer_rate < <(ch_kafka_engine_peer "bench_suite_peer_${ID}_$RUN" "$TOPIC" "$COUNT"); then
    fig ch.kafka_engine "$peer_rate"
  fi

  local pq_out=$WORK/parquet-$RUN
  mkdir -p "$pq_out"
  port=$(port)
  drain_fig pq -- "$port" "$WORK/parquet-exporter-$RUN.log" -- "$BIN/parquet-exporter" --brokers "$BS" \
    --topic "$TOPIC" --group "bench-suite-pq-$ID-$RUN" --out "$pq_out" --metrics-addr "127.0.0.1:$port" \
    --file-age 500ms
  log "run $RUN: pyarrow write_table of the same rows"
  fig pyarrow.write "$(python3 "$REPO/tests/python/pyarrow_write.py" "$pq_out" "$WORK/peer.parquet" | jq -r '.rate | floor')"
  rm -rf "$pq_out" "$WORK/peer.parquet"

  port=$(port)
  drain_fig an -- "$port" "$WORK/analytics-$RUN.log" -- "$BIN/analytics" --brokers "$BS" --topic "$TOPIC" \
    --group "bench-suite-an-$ID-$RUN" --metrics-addr "127.0.0.1:$port" --refresh 1s

  log "run $RUN: bare RegexSet scan ($RX_COUNT messages)"
  fig regexset.scan "$("$BIN/regexset_baseline" --rules "$RULES/rules.toml" --topic "$TOPIC" --brokers "$BS" \
    --expect "$RX_COUNT" | jq -r '.rate | floor')"
  port=$(port)
  by_game_args "bench-suite-bygame-$ID-$RUN"
  # --hold-back 0s: drain() counts committed records, so commit at once.
  drain_fig ad -- "$port" "$WORK/anomaly-detector-$RUN.log" -- "$BIN/anomaly-detector" --brokers "$BS" \
    --topic "$TOPIC" --group "bench-suite-ad-$ID-$RUN" --alerts-topic "$ALERTS" --rules "$RULES/rules.toml" \
    --metrics-addr "127.0.0.1:$port" --hold-back 0s "${BY_GAME[@]}"

  log "run $RUN: websocket-sender and its peer (websocket_sender.sh ${WS_ENV[*]})"
  local ws=$WORK/ws-$RUN.md
  env "${WS_ENV[@]}" "$HERE/websocket_sender.sh" >"$ws" 2>"$WORK/ws-$RUN.log" || log "websocket_sender.sh failed; see $WORK/ws-$RUN.log"
  cp "$ws" "$OUT/websocket-sender-run$RUN.md"
  local side col
  for side in ws wspeer; do
    col=$([[ $side == ws ]] && echo 1 || echo 2)
    fig "$side.fps" "$(cell "$ws" 'delivered frames/s' "$col")"
    fig "$side.p50_ms" "$(cell "$ws" 'latency p50' "$col" | awk -F' / ' '{print $1}')"
    fig "$side.p99_ms" "$(cell "$ws" 'latency p50' "$col" | awk -F' / ' '{print $2}')"
    fig "$side.floor_p99_ms" "$(cell "$ws" 'floor: same records' "$col" | awk -F' / ' '{print $2}')"
    fig "$side.kb_idle" "$(cell "$ws" 'RSS per idle connection' "$col")"
    fig "$side.cpu_us_frame" "$(cell "$ws" 'server CPU per delivered frame' "$col")"
    fig "$side.sys_us_frame" "$(cell "$ws" 'of which in the kernel' "$col")"
    fig "$side.lost" "$(cell "$ws" 'lost / duplicates' "$col" | awk -F' / ' '{print $1}')"
  done
  publishing
}

# Publishing players (publish.sh): figures pub.* (Parley), pubnats.*
# (Centrifugo, two nodes + NATS) and pubmem.* (Centrifugo, one node).
publishing() {
  log "run $RUN: publishing players (publish.sh ${PUB_ENV[*]})"
  local md=$WORK/publish-$RUN.md side col rate r
  env "${PUB_ENV[@]}" "$HERE/publish.sh" >"$md" 2>"$WORK/publish-$RUN.log" || log "publish.sh failed; see $WORK/publish-$RUN.log"
  cp "$md" "$OUT/publish-run$RUN.md"
  for rate in "${PUB_RATES[@]}"; do
    r=$(thousands "$rate")
    for side in pub pubnats pubmem; do
      case $side in pub) col=1 ;; pubnats) col=2 ;; pubmem) col=3 ;; esac
      fig "$side.$rate.sent_rate" "$(cell "$md" "$r/s: publishes sent per second" "$col")"
      fig "$side.$rate.ack_p50_ms" "$(cell "$md" "$r/s: publish→ack p50" "$col" | awk -F' / ' '{print $1}')"
      fig "$side.$rate.ack_p99_ms" "$(cell "$md" "$r/s: publish→ack p50" "$col" | awk -F' / ' '{print $2}')"
      fig "$side.$rate.del_p50_ms" "$(cell "$md" "$r/s: publish→delivered on" "$col" | awk -F' / ' '{print $1}')"
      fig "$side.$rate.del_p99_ms" "$(cell "$md" "$r/s: publish→delivered on" "$col" | awk -F' / ' '{print $2}')"
      fig "$side.$rate.lost" "$(cell "$md" "$r/s: delivered to listeners" "$col" | sed -n 's/.*(lost \([0-9]*\)).*/\1/p')"
      fig "$side.$rate.cpu_us" "$(cell "$md" "$r/s: server CPU per published" "$col")"
      fig "$side.$rate.cpu_broker_us" "$(cell "$md" "$r/s: … with the broker" "$col")"
      fig "$side.$rate.cpu_above_idle_us" "$(cell "$md" "$r/s: … above the idle" "$col")"
      fig "$side.$rate.client_cores" "$(cell "$md" "$r/s: load client cores" "$col")"
      fig "$side.$rate.floor_p50_ms" "$(cell "$md" "$r/s: reference: Kafka's own" "$col" | awk -F' / ' '{print $1}')"
      fig "$side.$rate.floor_p99_ms" "$(cell "$md" "$r/s: reference: Kafka's own" "$col" | awk -F' / ' '{print $2}')"
      fig "$side.$rate.machine_cores" "$(cell "$md" "$r/s: whole machine cores" "$col" | awk '{print $1}')"
      fig "$side.$rate.per_cpu" "$(cell "$md" "$r/s: published messages per server" "$col")"
    done
  done
}

# The five groups at once on a fresh topic fed at AIO_RATE.
WORKERS=(db-writer parquet-exporter analytics anomaly-detector websocket-sender)
all_at_once() {
  local dst=bench-suite-aio-$ID-$RUN w db=bench_suite_aio_${ID}_$RUN pq_out=$WORK/aio-parquet-$RUN
  create_topic "$dst" 12
  DBS+=("$db")
  mkdir -p "$pq_out"
  declare -A PORT PID
  local ws_port; ws_port=$(port)
  for w in "${WORKERS[@]}"; do PORT[$w]=$(port); done
  local common=(--brokers "$BS" --topic "$dst" --kafka-prop statistics.interval.ms=1000)
  "$BIN/db-writer" "${common[@]}" --group "bench-aio-dw-$ID-$RUN" --clickhouse-database "$db" \
    --metrics-addr "127.0.0.1:${PORT[db-writer]}" >"$WORK/aio-db-writer-$RUN.log" 2>&1 &
  PID[db-writer]=$!
  "$BIN/parquet-exporter" "${common[@]}" --group "bench-aio-pq-$ID-$RUN" --out "$pq_out" --file-age 10s \
    --metrics-addr "127.0.0.1:${PORT[parquet-exporter]}" >"$WORK/aio-parquet-exporter-$RUN.log" 2>&1 &
  PID[parquet-exporter]=$!
  "$BIN/analytics" "${common[@]}" --group "bench-aio-an-$ID-$RUN" --refresh 1s \
    --metrics-addr "127.0.0.1:${PORT[analytics]}" >"$WORK/aio-analytics-$RUN.log" 2>&1 &
  PID[analytics]=$!
  by_game_args "bench-suite-aio-bygame-$ID-$RUN"
  "$BIN/anomaly-detector" "${common[@]}" --group "bench-aio-ad-$ID-$RUN" --alerts-topic "$ALERTS" \
    --rules "$RULES/rules.toml" --metrics-addr "127.0.0.1:${PORT[anomaly-detector]}" "${BY_GAME[@]}" \
    >"$WORK/aio-anomaly-detector-$RUN.log" 2>&1 &
  PID[anomaly-detector]=$!
  "$BIN/websocket-sender" "${common[@]}" --instance-id "bench-aio-$ID-$RUN" --listen "127.0.0.1:$ws_port" \
    --metrics-addr "127.0.0.1:${PORT[websocket-sender]}" --max-connections-per-ip 0 \
    >"$WORK/aio-websocket-sender-$RUN.log" 2>&1 &
  PID[websocket-sender]=$!
  for w in "${WORKERS[@]}"; do
    PIDS+=("${PID[$w]}")
    wait_http "http://127.0.0.1:${PORT[$w]}/healthz" 60 || { log "$w did not become healthy; see $WORK"; return 1; }
  done
  sleep 5 # group joins
  log "run $RUN: all at once — $CONNS WebSocket clients connecting"
  rm -f "$WORK/aio.ready"
  "$BIN/ws-loadclient" run --server "127.0.0.1:$ws_port" --protocol parley --connections "$CONNS" \
    --truth "$TRUTH" --connect-rate 2000 --duration "$((AIO_DURATION * 3 + 300))s" \
    --ready-file "$WORK/aio.ready" --progress-interval 10s >"$WORK/aio-client-$RUN.json" 2>"$WORK/aio-client-$RUN.log" &
  local client=$!
  PIDS+=("$client")
  local i
  for ((i = 0; i < (CONNS / 2000 + 60) * 5; i++)); do
    [[ -s $WORK/aio.ready ]] && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.2
  done
  [[ -s $WORK/aio.ready ]] || { log "clients never became ready"; return 1; }
  "$BIN/watermarks" --brokers "$BS" --topic "$dst" --interval-ms 100 >"$WORK/aio-hw-$RUN.log" 2>/dev/null &
  local hw=$!
  PIDS+=("$hw")
  (
    while :; do
      for w in "${WORKERS[@]}"; do
        m=$(curl -fsS "127.0.0.1:${PORT[$w]}/metrics" 2>/dev/null || true)
        # The high watermark read after the worker's count (≤ 100 ms old):
        # records produced after that count are not missed.
        t=$(now)
        produced=$(tail -1 "$WORK/aio-hw-$RUN.log" 2>/dev/null | cut -d' ' -f2)
        # The main group's series (anomaly-detector also has an internal one).
        consumed=$(awk 'index($1, "parley_records_consumed_total") == 1 && $2 > x {x = $2} END {print x + 0}' <<<"$m")
        lag=$(awk -v t="topic=\"$dst\"" 'index($1, "parley_consumer_lag{") == 1 && index($1, t) {s += $2} END {print s + 0}' <<<"$m")
        echo "$RUN,$t,$w,${produced:-0},${consumed:-0},$lag"
      done >>"$LAG"
      sleep 1
    done
  ) &
  local sampler=$!
  PIDS+=("$sampler")
  declare -A CPU0
  for w in "${WORKERS[@]}"; do CPU0[$w]=$(cpu_ticks "${PID[$w]}"); done
  local machine0; machine0=$(machine_ticks)
  log "run $RUN: all at once — $AIO_COUNT records at $AIO_RATE msg/s into $dst"
  fig aio.start "$(now)"
  "$BIN/ws-loadclient" replay --brokers "$BS" --from "$AIO_SRC" --to "$dst" --format parley \
    --rate "$AIO_RATE" >"$WORK/aio-replay-$RUN.json" 2>"$WORK/aio-replay-$RUN.log"
  fig aio.offered "$AIO_RATE"
  fig aio.achieved "$(jq -r '.rate | floor' "$WORK/aio-replay-$RUN.json")"
  local delivered; delivered=$(jq -r '.delivered' "$WORK/aio-replay-$RUN.json")
  local sent_end; sent_end=$(now)
  local machine1; machine1=$(machine_ticks)
  # Catch-up: until every group has read every record (60 s at most).
  declare -A CAUGHT
  local left=${#WORKERS[@]}
  for ((i = 0; i < 300 && left > 0; i++)); do
    for w in "${WORKERS[@]}"; do
      [[ -n ${CAUGHT[$w]:-} ]] && continue
      if (($(metric "${PORT[$w]}" parley_records_consumed_total) >= delivered)); then
        CAUGHT[$w]=$(awk -v s="$sent_end" -v e="$(now)" 'BEGIN{printf "%.1f", e-s}')
        left=$((left - 1))
      fi
    done
    ((left > 0)) && sleep 0.2
  done
  sleep 2
  kill -TERM "$sampler" "$hw" 2>/dev/null || true
  wait "$sampler" "$hw" 2>/dev/null || true
  local ticks; ticks=$(getconf CLK_TCK)
  for w in "${WORKERS[@]}"; do
    local consumed; consumed=$(metric "${PORT[$w]}" parley_records_consumed_total)
    fig "aio.$w.cpu_us" "$(awk -v a="${CPU0[$w]}" -v b="$(cpu_ticks "${PID[$w]}")" -v t="$ticks" -v n="$consumed" \
      'BEGIN{ if (n > 0) printf "%.2f", (b-a)/t*1e6/n; else print "nan" }')"
    fig "aio.$w.rss_mib" "$(awk -v k="$(hwm_kb "${PID[$w]}")" 'BEGIN{printf "%.0f", k/1024}')"
    fig "aio.$w.catchup_s" "${CAUGHT[$w]:-nan}"
  done
  read -r t0 i0 <<<"$machine0"; read -r t1 i1 <<<"$machine1"
  fig aio.machine_cores "$(awk -v t0="$t0" -v i0="$i0" -v t1="$t1" -v i1="$i1" -v n="$(nproc)" \
    'BEGIN{ printf "%.2f", (1-(i1-i0)/(t1-t0))*n }')"
  kill -INT "$client" 2>/dev/null || true
  wait "$client" || true
  local cj=$WORK/aio-client-$RUN.json
  if [[ -s $cj ]]; then
    fig aio.ws.held "$(jq -r '.connections_held' "$cj")"
    fig aio.ws.fps "$(jq -r '.frames_per_sec | floor' "$cj")"
    fig aio.ws.p50_ms "$(jq -r '.latency_ms.p50' "$cj")"
    fig aio.ws.p99_ms "$(jq -r '.latency_ms.p99' "$cj")"
    fig aio.ws.lost "$(jq -r '.check.lost // "nan"' "$cj")"
    fig aio.ws.expected "$(jq -r '.check.expected // "nan"' "$cj")"
    fig aio.ws.dropped "$(jq -r '.dropped' "$cj")"
    log "run $RUN: all at once — $(jq -c '{held: .connections_held, fps: (.frames_per_sec|floor), latency_ms, lost: .check.lost}' "$cj")"
  fi
  for w in "${WORKERS[@]}"; do kill -TERM "${PID[$w]}" 2>/dev/null || true; done
  for w in "${WORKERS[@]}"; do wait "${PID[$w]}" 2>/dev/null || true; done
  ch -q "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$pq_out"
}

LATEST=$HERE/results/latest
if [[ $STEPS == publish ]]; then
  for ((RUN = 1; RUN <= RUNS; RUN++)); do publishing; done
  python3 "$HERE/report.py" "$OUT" >/dev/null
  # latest/ keeps every other step's figures and gets this run's publishing.
  mkdir -p "$LATEST"
  touch "$LATEST/figures.tsv" "$LATEST/machine.txt"
  {
    printf 'run\tkey\tvalue\n'
    awk -F'\t' 'NR > 1 && $2 !~ /^pub(nats|mem)?\./' "$LATEST/figures.tsv"
    awk -F'\t' 'NR > 1' "$FIG"
  } >"$LATEST/figures.tsv.new"
  mv "$LATEST/figures.tsv.new" "$LATEST/figures.tsv"
  rm -f "$LATEST"/publish-run*.md
  cp "$OUT"/publish-run*.md "$LATEST/"
  grep -v '^publishing' "$LATEST/machine.txt" >"$LATEST/machine.txt.new" || true
  {
    cat "$LATEST/machine.txt.new"
    echo "publishing: measured $STAMP on its own (STEPS=publish), $RUNS run(s); $(machine); commit $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- workers shared tools || echo ' (+ uncommitted changes)'); ${PUB_ENV[*]}, rates ${PUB_RATES[*]}/s; peer ${CENTRIFUGO_BIN:-none (CENTRIFUGO_BIN unset)}"
  } >"$LATEST/machine.txt"
  rm -f "$LATEST/machine.txt.new"
  python3 "$HERE/report.py" "$LATEST" --no-charts >/dev/null
  python3 "$HERE/report.py" "$LATEST" --no-charts --docs "$REPO/docs/benchmarks.md" >/dev/null
  log "results: $OUT (publishing merged into $LATEST); docs/benchmarks.md rewritten"
  exit 0
fi

for ((RUN = 1; RUN <= RUNS; RUN++)); do
  alone
  all_at_once || log "run $RUN: the all-at-once run failed; see $WORK"
done

fig suite.seconds "$(awk -v s="$SUITE_START" -v e="$(now)" 'BEGIN{printf "%.0f", e-s}')"
python3 "$HERE/report.py" "$OUT"
rm -rf "$LATEST"
mkdir -p "$LATEST"
find "$OUT" -maxdepth 1 -type f -exec cp {} "$LATEST/" \;
# docs/benchmarks.md is this run's report, written from the copy in latest/
# (its charts linked there), never by hand.
python3 "$HERE/report.py" "$LATEST" --no-charts --docs "$REPO/docs/benchmarks.md" >/dev/null
log "results: $OUT (copied to $LATEST); docs/benchmarks.md rewritten"
