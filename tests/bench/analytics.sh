#!/usr/bin/env bash
# analytics benchmark: CPU per message and memory with few vs many distinct
# users (the HyperLogLog windows must not grow with users), printed as a
# Markdown table. Two preloaded topics, same traffic shape, one with 10k
# users and one with 1M; plus the raw consume rate of the same topic.
# Needs the stack up (make up). Release binaries are built first.
#   tests/bench/analytics.sh [--count N] [--quick] [--no-build]
# --count: messages per topic (1,000,000; --quick: 100,000). Flags and
# their environment fallbacks: tests/bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(count quick no-build)
bench_args "$@"
bench_default COUNT 1000000 100000
bench_build -p loadgen -p analytics -p parley-bench --bins
trap delete_bench_topics EXIT
ID=$(date +%s)

declare -A RESULT
for users in 10000 1000000; do
  topic=bench-analytics-$users-$ID
  create_topic "$topic" 12
  log "preloading $COUNT messages from $users users into $topic"
  "$BIN/loadgen" --brokers "$BS" --topic "$topic" --count "$COUNT" --rate 0 --seed 3 \
    --users "$users" --progress-interval 30s >/dev/null
  if [[ $users == 10000 ]]; then
    log "raw consume"
    RAW=$("$BIN/raw_consume" --brokers "$BS" --topic "$topic" --expect "$COUNT" | jq -r '.rate')
  fi
  log "analytics drain ($users users)"
  port=$((9300 + RANDOM % 500))
  RESULT[$users]=$(drain "$COUNT" "$port" "/tmp/bench-analytics-$users-$ID.log" -- \
    "$BIN/analytics" --brokers "$BS" --topic "$topic" --group "bench-analytics-$ID-$users" \
    --metrics-addr "127.0.0.1:$port" --refresh 1s)
done
read -r _ rate_small us_small rss_small <<<"${RESULT[10000]}"
read -r _ rate_large us_large rss_large <<<"${RESULT[1000000]}"
cat <<TABLE

analytics benchmark — $(nproc) cores, $COUNT messages per run, Kafka 4.1.1 (1 broker), 12 partitions

| run | msg/s | × raw consume ($RAW/s) | CPU per message | peak RSS |
|---|---:|---:|---:|---:|
| 10,000 distinct users | $rate_small | $(ratio "$rate_small" "$RAW") | $us_small µs | $rss_small MiB |
| 1,000,000 distinct users | $rate_large | $(ratio "$rate_large" "$RAW") | $us_large µs | $rss_large MiB |

Targets: CPU ≤ 2 µs per message; RSS with 1M users within 10% of 10k users
(measured: $(ratio "$rss_large" "$rss_small") ×).
TABLE
