#!/usr/bin/env bash
# anomaly-detector benchmark: 500 content rules (the shipped word lists
# spread over 500 rules, every fifth with a regex) plus the shipped
# behavioural rules, over one preloaded topic with incidents; against the
# raw limit of content matching measured in the same run: a bare RegexSet of
# the same 500 rules scanned over the same normalized contents.
# Needs the stack up (make up). Release binaries are built first.
#   tests/bench/anomaly_detector.sh [--count N] [--quick] [--no-build]
# --count: messages (1,000,000; --quick: 100,000). Flags and their
# environment fallbacks: tests/bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(count quick no-build)
bench_args "$@"
bench_default COUNT 1000000 100000
bench_build -p loadgen -p anomaly-detector --bins
RULES_DIR=$(mktemp -d /tmp/parley-bench-rules.XXXXXX)
cleanup() { rm -rf "$RULES_DIR"; delete_bench_topics; }
trap cleanup EXIT
ID=$(date +%s)

content_rules "$RULES_DIR"
"$BIN/anomaly-detector" --check-rules --rules "$RULES_DIR/rules.toml" >&2

TOPIC=bench-anomaly-$ID
ALERTS=bench-anomaly-alerts-$ID
create_topic "$TOPIC" 12
create_topic "$ALERTS" 3
by_game_args "bench-anomaly-by-game-$ID"
log "preloading $COUNT messages with incidents into $TOPIC"
"$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --count "$COUNT" --rate 0 --seed 5 \
  "${INCIDENTS[@]}" --progress-interval 30s >/dev/null

log "bare RegexSet scan over the normalized contents"
base=$("$BIN/regexset_baseline" --rules "$RULES_DIR/rules.toml" --topic "$TOPIC" --brokers "$BS" --expect "$COUNT")
base_rate=$(jq -r '.rate | floor' <<<"$base")
log "anomaly-detector drain"
port=$((9300 + RANDOM % 500))
read -r secs rate us rss < <(drain "$COUNT" "$port" "/tmp/bench-anomaly-$ID.log" -- \
  "$BIN/anomaly-detector" --brokers "$BS" --topic "$TOPIC" --group "bench-anomaly-$ID" \
  --alerts-topic "$ALERTS" --rules "$RULES_DIR/rules.toml" --metrics-addr "127.0.0.1:$port" \
  "${BY_GAME[@]}" --hold-back 0s)  # drain() counts committed records: commit at once
alerts=$(curl -fsS "127.0.0.1:$port/metrics" 2>/dev/null | awk '/^parley_anomaly_alerts_total/{s+=$2} END{print s+0}' || echo "?")
cat <<TABLE

anomaly-detector benchmark — $(nproc) cores, $COUNT messages, 500 content rules + the shipped behavioural rules, Kafka 4.1.1 (1 broker)

| measurement | msg/s | ratio | target |
|---|---:|---:|---|
| bare RegexSet (500 rules) over pre-normalized contents | $base_rate | — | |
| anomaly-detector drain (decode, normalize, every rule, incidents, alerts) | $rate | $(ratio "$rate" "$base_rate") × RegexSet | ≥ 0.5 |

| detector | measured | target |
|---|---:|---|
| CPU per message | $us µs | ≤ 4 µs |
| peak RSS | $rss MiB | |
| drain time | $secs s | |
TABLE
