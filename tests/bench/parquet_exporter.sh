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
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
COUNT=2000000
while (($#)); do
  case $1 in
    --count) COUNT=$2; shift 2 ;;
    *) echo "usage: $0 [--count N]" >&2; exit 2 ;;
  esac
done
(cd "$REPO" && cargo build --release -q -p loadgen -p parquet-exporter -p parley-tests --bins)
ID=$(date +%s)
TOPIC=bench-pq-$ID
OUT=$(mktemp -d /tmp/parley-bench-export.XXXXXX)
cleanup() {
  rm -rf "$OUT"
  delete_bench_topics
}
trap cleanup EXIT

log "preloading $COUNT messages into $TOPIC"
create_topic "$TOPIC" 12
summary=$("$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --count "$COUNT" --rate 0 --seed 1 --time-span 6h --progress-interval 30s)
json_bytes=$(jq -r '.bytes' <<<"$summary")

log "(a) raw consume"
raw_rate=$("$BIN/raw_consume" --brokers "$BS" --topic "$TOPIC" --expect "$COUNT" | jq -r '.rate')

log "(c) parquet-exporter drain"
port=$((9300 + RANDOM % 500))
# shellcheck disable=SC2086
read -r secs rate us rss < <(drain "$COUNT" "$port" "/tmp/bench-parquet-exporter-$ID.log" -- \
  "$BIN/parquet-exporter" --brokers "$BS" --topic "$TOPIC" --group "bench-pq-$ID" --out "$OUT" \
  --metrics-addr "127.0.0.1:$port" --file-age "${FILE_AGE:-500ms}" --concurrency "${CONCURRENCY:-1}" ${EXPORTER_ARGS:-})
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
