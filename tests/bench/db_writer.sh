#!/usr/bin/env bash
# db-writer benchmark: one run, one preloaded topic, every figure measured
# side by side on this machine, printed as a Markdown table.
#   (a) raw consume: a bare rdkafka consumer reading the topic, decoding nothing
#   (b) raw insert: clickhouse-client inserting the same rows (RowBinary)
#   (c) db-writer: from process start until every row is in ClickHouse
#   (d) db-writer CPU time per message (user+sys of its process) and peak RSS
#   (e) peer: ClickHouse's own Kafka engine + materialized view draining the
#       same topic into the same table shape
# Needs the stack up (make up). Release binaries are built first.
#   tests/bench/db_writer.sh [--count N] [--skip-peer] [--quick] [--no-build]
# --count: messages (2,000,000; --quick: 200,000). Flags and their
# environment fallbacks: tests/bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(count skip-peer quick no-build)
bench_args "$@"
bench_default COUNT 2000000 200000
bench_build -p loadgen -p db-writer -p parley-bench --bins
ID=$(date +%s)
TOPIC=bench-dw-$ID
DB_WRITER_DB=bench_dw_$ID
RAW_DB=bench_raw_$ID
PEER_DB=bench_peer_$ID
ROWS_FILE=$(mktemp /tmp/parley-bench-rows.XXXXXX)
cleanup() {
  rm -f "$ROWS_FILE"
  for db in "$DB_WRITER_DB" "$RAW_DB" "$PEER_DB"; do ch -q "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
  "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --delete --topic "$TOPIC" >/dev/null 2>&1 || true
}
trap cleanup EXIT

log "preloading $COUNT messages into $TOPIC"
"$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create \
  --topic "$TOPIC" --partitions 12 --replication-factor 1 >/dev/null
"$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --count "$COUNT" --rate 0 --seed 1 --progress-interval 30s >/dev/null

log "(a) raw consume"
raw=$("$BIN/raw_consume" --brokers "$BS" --topic "$TOPIC" --expect "$COUNT")
raw_rate=$(jq -r '.rate' <<<"$raw")

log "(c) db-writer drain"
port=$((9200 + RANDOM % 500))
start=$(now)
"$BIN/db-writer" --brokers "$BS" --topic "$TOPIC" --group "bench-dw-$ID" --clickhouse-database "$DB_WRITER_DB" \
  --metrics-addr "127.0.0.1:$port" --log-format json >"/tmp/bench-db-writer-$ID.log" 2>&1 &
pid=$!
state=$(wait_rows "$DB_WRITER_DB" "$COUNT" 900)
end=$(now)
read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
[[ $state == ok ]] || { log "db-writer did not finish: $state"; exit 1; }
dw_secs=$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", e-s}')
dw_rate=$(awk -v n="$COUNT" -v t="$dw_secs" 'BEGIN{printf "%.0f", n/t}')
ticks=$(getconf CLK_TCK)
dw_us=$(awk -v u="$utime" -v s="$stime" -v t="$ticks" -v n="$COUNT" 'BEGIN{printf "%.2f", (u+s)/t*1e6/n}')
dw_rss=$(awk -v k="$rss_kb" 'BEGIN{printf "%.0f", k/1024}')

log "(b) clickhouse-client bulk insert of the same rows"
ch -q "SELECT * FROM $DB_WRITER_DB.messages FORMAT RowBinary" >"$ROWS_FILE"
"$BIN/db-writer" --migrate --clickhouse-database "$RAW_DB" >/dev/null
start=$(now)
ch -q "INSERT INTO $RAW_DB.messages FORMAT RowBinary" <"$ROWS_FILE"
end=$(now)
ins_secs=$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", e-s}')
ins_rate=$(awk -v n="$COUNT" -v t="$ins_secs" 'BEGIN{printf "%.0f", n/t}')

peer_rate=0; peer_note="not run (--skip-peer)"
if ((PEER)); then
  log "(e) ClickHouse Kafka engine + materialized view"
  if read -r _ peer_rate < <(ch_kafka_engine_peer "$PEER_DB" "$TOPIC" "$COUNT"); then
    peer_note="ClickHouse $(ch -q 'SELECT version()') Kafka engine, 1 consumer, JSONEachRow; \`meta\` not parsed (its JSONEachRow cannot read an object into String)"
  else
    peer_rate=0; peer_note="did not finish in 900 s"
  fi
fi

limit=$(awk -v a="$raw_rate" -v b="$ins_rate" 'BEGIN{print (a < b) ? a : b}')
cat <<TABLE

db-writer benchmark — $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $COUNT messages, Kafka 4.1.1 (1 broker), ClickHouse $(ch -q 'SELECT version()')

| measurement | msg/s | ratio | target |
|---|---:|---:|---|
| (a) raw consume (bare rdkafka, no decoding) | $raw_rate | — | |
| (b) clickhouse-client RowBinary insert of the same rows | $ins_rate | — | |
| (c) db-writer drain, start → all rows in ClickHouse | $dw_rate | $(ratio "$dw_rate" "$limit") × min(a, b) | ≥ 0.70 |
| (e) peer: ClickHouse Kafka engine + MV | $peer_rate | c/e = $(ratio "$dw_rate" "$peer_rate") | > 1 |

| db-writer process | value | target |
|---|---:|---|
| CPU per message (user+sys ÷ messages) | $dw_us µs | ≤ 4 µs |
| peak RSS (VmHWM) | $dw_rss MiB | ≤ 256 MiB |
| drain time | $dw_secs s | |

Peer: $peer_note.
TABLE
