#!/usr/bin/env bash
# parquet-exporter benchmark: one run, one preloaded topic (sent_at over 6
# hours), printed as a Markdown table.
#   (a) raw consume: a bare rdkafka consumer reading the topic
#   (b) peer: pyarrow writing the same rows to zstd Parquet from memory
#   (c) parquet-exporter drain, start → every record durable (files renamed)
#   (d) exporter CPU per message (user+sys of its process) and peak RSS
#   (e) output bytes ÷ the JSON bytes produced
# Needs the stack up (make up). Release binaries are built if missing.
#   tests/bench/parquet_exporter.sh [--count N]
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=$REPO/deploy/local/stack.sh
COUNT=2000000
while (($#)); do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    *) echo "usage: $0 [--count N]" >&2; exit 2 ;;
  esac
done
log() { printf '[bench] %s\n' "$*" >&2; }
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release
(cd "$REPO" && cargo build --release -q -p loadgen -p parquet-exporter -p parley-tests --bins)
BS=$("$STACK" bootstrap)
ID=$(date +%s)
TOPIC=bench-pq-$ID
OUT=$(mktemp -d /tmp/parley-bench-export.XXXXXX)
cleanup() {
  rm -rf "$OUT"
  "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --delete --topic "$TOPIC" >/dev/null 2>&1 || true
}
trap cleanup EXIT
now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "—" }'; }

log "preloading $COUNT messages into $TOPIC"
"$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create \
  --topic "$TOPIC" --partitions 12 --replication-factor 1 >/dev/null
summary=$("$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --count "$COUNT" --rate 0 --seed 1 --time-span 6h --progress-interval 30s)
json_bytes=$(jq -r '.bytes' <<<"$summary")

log "(a) raw consume"
raw_rate=$("$BIN/raw_consume" --brokers "$BS" --topic "$TOPIC" --expect "$COUNT" | jq -r '.rate')

log "(c) parquet-exporter drain"
port=$((9300 + RANDOM % 500))
start=$(now)
"$BIN/parquet-exporter" --brokers "$BS" --topic "$TOPIC" --group "bench-pq-$ID" --out "$OUT" \
  --metrics-addr "127.0.0.1:$port" --file-age "${FILE_AGE:-500ms}" --concurrency "${CONCURRENCY:-1}" ${EXPORTER_ARGS:-} >"/tmp/bench-parquet-exporter-$ID.log" 2>&1 &
pid=$!
while :; do
  done_records=$(curl -fsS "127.0.0.1:$port/metrics" 2>/dev/null | awk '/^parley_records_processed_total/{print $2}' || true)
  [[ ${done_records:-0} -ge $COUNT ]] && break
  kill -0 "$pid" 2>/dev/null || { log "exporter died; see /tmp/bench-parquet-exporter-$ID.log"; exit 1; }
  sleep 0.1
done
end=$(now)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
secs=$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", e-s}')
rate=$(awk -v n="$COUNT" -v t="$secs" 'BEGIN{printf "%.0f", n/t}')
us=$(awk -v u="$utime" -v s="$stime" -v t="$(getconf CLK_TCK)" -v n="$COUNT" 'BEGIN{printf "%.2f", (u+s)/t*1e6/n}')
rss=$(awk -v k="$rss_kb" 'BEGIN{printf "%.0f", k/1024}')
out_bytes=$(find "$OUT" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END{print s}')
files=$(find "$OUT" -name '*.parquet' | wc -l)

log "(b) pyarrow write_table of the same rows"
peer=$(python3 "$REPO/tests/python/pyarrow_write.py" "$OUT" "$OUT/peer.parquet")
peer_rate=$(jq -r '.rate | floor' <<<"$peer")
peer_bytes=$(jq -r '.bytes' <<<"$peer")

limit=$(awk -v a="$raw_rate" -v b="$peer_rate" 'BEGIN{print (a < b) ? a : b}')
cat <<TABLE

parquet-exporter benchmark — $(nproc) cores, $COUNT messages over 6 h of sent_at, Kafka 4.1.1 (1 broker)

| measurement | msg/s | ratio | target |
|---|---:|---:|---|
| (a) raw consume (bare rdkafka) | $raw_rate | — | |
| (b) pyarrow write_table, zstd, from memory (peer) | $peer_rate | — | |
| (c) parquet-exporter drain, start → all files renamed | $rate | $(ratio "$rate" "$limit") × min(a, b) | ≥ 0.70 |

| exporter | measured | target |
|---|---:|---|
| CPU per message | $us µs | ≤ 4 µs |
| peak RSS | $rss MiB | |
| output ÷ JSON bytes | $(ratio "$out_bytes" "$json_bytes") ($out_bytes ÷ $json_bytes, $files files) | ≤ 0.25 |
| pyarrow's output ÷ JSON bytes (one file) | $(ratio "$peer_bytes" "$json_bytes") | |
TABLE
