#!/usr/bin/env bash
# Kafka baseline on this machine, for every later benchmark to compare against:
#   1. loadgen producing N GameMessage records (idempotent, acks=all, lz4)
#   2. Kafka's own ProducerPerformance writing N records of the same mean size
#   3. Kafka's own ConsumerPerformance reading loadgen's N records back
# Prints a Markdown table. Needs the stack up (make up); loadgen (release)
# is built first.
#   tests/bench/kafka_baseline.sh [--count N] [--quick] [--no-build]
# --count: records (1,000,000; --quick: 200,000). Flags and their
# environment fallbacks: tests/bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(count quick no-build)
bench_args "$@"
bench_default COUNT 1000000 200000
bench_build -p loadgen
LOADGEN=$BIN/loadgen
RUN_ID=$(date +%s)
LG_TOPIC=bench-loadgen-$RUN_ID
PP_TOPIC=bench-producerperf-$RUN_ID
for t in "$LG_TOPIC" "$PP_TOPIC"; do
  "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" \
    --create --topic "$t" --partitions 12 --replication-factor 1 >/dev/null
done
echo "[bench] loadgen: $COUNT records into $LG_TOPIC" >&2
summary=$("$LOADGEN" --brokers "$BS" --topic "$LG_TOPIC" --count "$COUNT" --rate 0 --seed 1 \
  --progress-interval 10s)
lg_rate=$(jq -r '.rate | floor' <<<"$summary")
lg_bytes=$(jq -r '.bytes' <<<"$summary")
lg_secs=$(jq -r '.seconds' <<<"$summary")
mean=$((lg_bytes / COUNT))

echo "[bench] ProducerPerformance: $COUNT records of $mean bytes into $PP_TOPIC" >&2
pp=$("$STACK" kafka-tool org.apache.kafka.tools.ProducerPerformance --topic "$PP_TOPIC" \
  --num-records "$COUNT" --record-size "$mean" --throughput -1 \
  --producer-props bootstrap.servers="$BS" acks=all enable.idempotence=true \
  linger.ms=10 batch.size=1000000 compression.type=lz4 | tail -1)
pp_rate=$(sed -E 's/.* ([0-9.]+) records\/sec.*/\1/' <<<"$pp" | cut -d. -f1)

echo "[bench] ConsumerPerformance: reading $LG_TOPIC" >&2
cp=$("$STACK" kafka-tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BS" \
  --topic "$LG_TOPIC" --messages "$COUNT" --timeout 60000 | tail -1)
# start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.ms, fetch.ms, fetch.MB.sec, fetch.nMsg.sec
cp_msgs=$(awk -F', *' '{print $5}' <<<"$cp")
cp_rate=$(awk -F', *' '{printf "%d", $10}' <<<"$cp")
cp_total=$(awk -F', *' '{printf "%d", $6}' <<<"$cp")

cat <<TABLE

Kafka baseline — $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, Kafka 4.1.1 single broker, $COUNT records, mean $mean bytes

| measurement | records | records/s | ratio to raw |
|---|---:|---:|---:|
| Kafka ProducerPerformance (raw producer limit) | $COUNT | $pp_rate | 1.00 |
| loadgen (generate + produce, acks=all) | $COUNT | $lg_rate | $(awk -v a="$lg_rate" -v b="$pp_rate" 'BEGIN{printf "%.2f", a/b}') |
| Kafka ConsumerPerformance (raw consume, fetch phase) | $cp_msgs | $cp_rate | — |
| Kafka ConsumerPerformance (incl. group join) | $cp_msgs | $cp_total | — |
TABLE
for t in "$LG_TOPIC" "$PP_TOPIC"; do
  "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --delete --topic "$t" >/dev/null 2>&1 || true
done
[[ $cp_msgs == "$COUNT" ]] || { echo "[bench] ConsumerPerformance saw $cp_msgs of $COUNT records" >&2; exit 1; }
