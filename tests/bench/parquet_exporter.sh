#!/usr/bin/env bash
# parquet-exporter benchmark: one run, one preloaded topic (sent_at over 6
# hours), printed as a Markdown table.
#   (a) raw consume: a bare rdkafka consumer reading the topic
#   (b) peer: pyarrow writing the same rows to zstd Parquet from memory
#   (c) parquet-exporter drain, start → every record durable (files renamed)
#   (d) exporter CPU per message (user+sys of its process) and peak RSS
#   (e) output bytes ÷ the JSON bytes produced
#   (f) the CPU budget: CPU per message of (a), (b), (c) and of the broker
#       serving (a) and (c), and the cores each would need at the target rate
# Needs the stack up (make up). Release binaries are built first.
#   tests/bench/parquet_exporter.sh [--count N] [--quick] [--no-build]
# --count: messages (2,000,000; --quick: 200,000). Flags and their
# environment fallbacks: tests/bench/lib.sh. Env: FILE_AGE (500ms),
# CONCURRENCY (1), EXPORTER_ARGS (more exporter flags).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(count quick no-build)
bench_args "$@"
bench_default COUNT 2000000 200000
bench_build -p loadgen -p parquet-exporter -p parley-bench --bins
ID=$(date +%s)
TOPIC=bench-pq-$ID
OUT=$(mktemp -d /tmp/parley-bench-export.XXXXXX)
RAW_JSON=$(mktemp /tmp/parley-bench-raw.XXXXXX)
cleanup() {
  rm -rf "$OUT" "$RAW_JSON"
  delete_bench_topics
}
trap cleanup EXIT

log "preloading $COUNT messages into $TOPIC"
create_topic "$TOPIC" 12
summary=$("$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --count "$COUNT" --rate 0 --seed 1 --time-span 6h --progress-interval 30s)
json_bytes=$(jq -r '.bytes' <<<"$summary")

broker=$(cat "$REPO/.local/run/kafka-1.pid" 2>/dev/null || pgrep -f 'kafka\.Kafka' | head -1 || echo 0)
broker_ticks() { if [[ $broker != 0 ]]; then cpu_ticks "$broker"; else echo 0; fi; }
TCK=$(getconf CLK_TCK)
# us_per COUNT TICKS → µs of CPU per message
us_per() { awk -v n="$1" -v t="$2" -v k="$TCK" 'BEGIN{printf "%.2f", t/k*1e6/n}'; }

log "(a) raw consume"
b0=$(broker_ticks)
# bash's `time` gives the child's user + system seconds (all its threads);
# raw_consume's own messages still reach stderr (fd 4).
exec 4>&2
raw_cpu=$( { TIMEFORMAT='%U %S'; time "$BIN/raw_consume" --brokers "$BS" --topic "$TOPIC" --expect "$COUNT" >"$RAW_JSON" 2>&4; } 2>&1 )
raw_broker_us=$(us_per "$COUNT" $(($(broker_ticks) - b0)))
raw_rate=$(jq -r '.rate' "$RAW_JSON")
raw_us=$(awk -v n="$COUNT" -v u="${raw_cpu% *}" -v s="${raw_cpu#* }" 'BEGIN{printf "%.2f", (u+s)*1e6/n}')

log "(c) parquet-exporter drain"
port=$((9300 + RANDOM % 500))
b0=$(broker_ticks)
# shellcheck disable=SC2086
read -r secs rate us rss < <(drain "$COUNT" "$port" "/tmp/bench-parquet-exporter-$ID.log" -- \
  "$BIN/parquet-exporter" --brokers "$BS" --topic "$TOPIC" --group "bench-pq-$ID" --out "$OUT" \
  --metrics-addr "127.0.0.1:$port" --file-age "${FILE_AGE:-500ms}" --concurrency "${CONCURRENCY:-1}" ${EXPORTER_ARGS:-})
drain_broker_us=$(us_per "$COUNT" $(($(broker_ticks) - b0)))
out_bytes=$(find "$OUT" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END{print s}')
files=$(find "$OUT" -name '*.parquet' | wc -l)

log "(b) pyarrow write_table of the same rows"
peer=$(python3 "$REPO/tests/python/pyarrow_write.py" "$OUT" "$OUT/peer.parquet")
peer_rate=$(jq -r '.rate | floor' <<<"$peer")
peer_bytes=$(jq -r '.bytes' <<<"$peer")
peer_us=$(jq -r '.cpu_seconds / .rows * 1e6 | . * 100 | round / 100' <<<"$peer")

limit=$(awk -v a="$raw_rate" -v b="$peer_rate" 'BEGIN{print (a < b) ? a : b}')
target=$(awk -v l="$limit" 'BEGIN{printf "%.0f", 0.7 * l}')
# cores RATE US… → cores busy at RATE messages/s costing the sum of US µs each
cores() { local rate=$1; shift; awk -v r="$rate" -v s="$*" 'BEGIN{n=split(s, a, " "); t=0; for (i=1; i<=n; i++) t+=a[i]; printf "%.2f", r*t/1e6}'; }
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

CPU budget at the target rate, 0.70 × min(a, b) = $target msg/s, on $(nproc) cores
(CPU time of each process ÷ messages; the broker is the same Kafka process in both):

| work per message | CPU µs | cores at $target msg/s |
|---|---:|---:|
| (a) raw consume: the client | $raw_us | $(cores "$target" "$raw_us") |
| (a) raw consume: the broker serving it | $raw_broker_us | $(cores "$target" "$raw_broker_us") |
| (b) pyarrow write_table from memory | $peer_us | $(cores "$target" "$peer_us") |
| floor: (a) client + broker + (b), no JSON, no Arrow building | $(awk -v a="$raw_us" -v b="$raw_broker_us" -v c="$peer_us" 'BEGIN{printf "%.2f", a+b+c}') | $(cores "$target" "$raw_us $raw_broker_us $peer_us") |
| (c) parquet-exporter | $us | $(cores "$target" "$us") |
| (c) the broker serving the exporter | $drain_broker_us | $(cores "$target" "$drain_broker_us") |
| (c) exporter + broker | $(awk -v a="$us" -v b="$drain_broker_us" 'BEGIN{printf "%.2f", a+b}') | $(cores "$target" "$us $drain_broker_us") |
TABLE
