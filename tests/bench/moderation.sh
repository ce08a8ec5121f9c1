#!/usr/bin/env bash
# Moderation benchmark: how fast a deletion reaches players on another
# websocket-sender instance while game traffic flows.
#
#   1. Two websocket-sender instances (release) on a fresh messages topic,
#      alerts topic and actions topic; loadgen's world (--seed 7, ROOMS
#      rooms) is sampled once to pick the 20 busiest rooms.
#   2. loadgen produces RATE msg/s for the whole run; retract-bench
#      subscribes a moderator on instance A and a viewer on instance B to
#      those rooms and, every 100 ms, deletes a message the moderator just
#      received: `moderate` → `moderated` (the Kafka ack of the action) and
#      `moderated` → `retract` at the viewer on B.
#   3. Prints the latencies (p50/p99/max) against the target (ack →
#      retract on the other instance p99 ≤ 250 ms at 10,000 msg/s).
#   4. block-bench: CPU per publish-path check of 500 block rules (the
#      Blocklist websocket-sender runs) over ordinary chat lines, against
#      the same check with no rules (target ≤ 4 µs added).
#
# Needs the stack up (make up). Release binaries are built first.
#   tests/bench/moderation.sh [--quick] [--rate MSG_PER_S] [--count DELETES] [--rooms N] [--no-build]
# Defaults (--quick): RATE 10000 msg/s (2000), COUNT 300 deletions (100),
# ROOMS 200. Flags and their environment fallbacks: tests/bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(quick rate count rooms no-build)
bench_args "$@"
bench_default RATE 10000 2000
bench_default COUNT 300 100
bench_default ROOMS 200
INTERVAL_MS=100
bench_build -p websocket-sender -p loadgen -p parley-bench --bins

ID=$(date +%s)-$$
WORK=$(mktemp -d /tmp/parley-bench-moderation.XXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  delete_bench_topics
}
trap cleanup EXIT
export PARLEY_JWT_SECRET=bench-moderation-secret-of-at-least-32-bytes
port() { echo $((20000 + RANDOM % 10000)); }

TOPIC=bench-mod-$ID ALERTS=bench-mod-alerts-$ID ACTIONS=bench-mod-actions-$ID WARM=bench-mod-warm-$ID
create_topic "$TOPIC" 12
create_topic "$ALERTS" 1
create_topic "$ACTIONS" 3
create_topic "$WARM" 1
# The same seed and room count give the same world: its busiest rooms.
"$BIN/loadgen" --brokers "$BS" --topic "$WARM" --count 5000 --rate 0 --seed 7 --rooms "$ROOMS" \
  --truth "$WORK/truth.jsonl" >/dev/null 2>&1
SUBSCRIBED=$(jq -r '.room_id // .message.room_id // empty' "$WORK/truth.jsonl" | sort | uniq -c | sort -rn |
  head -20 | awk '{print $2}' | paste -sd, -)
[[ -n $SUBSCRIBED ]] || { log "no rooms in loadgen's truth file ($WORK/truth.jsonl)"; exit 1; }

start_sender() { # name → "ws_port metrics_port"
  local ws metrics
  ws=$(port) metrics=$((ws + 1))
  "$BIN/websocket-sender" --brokers "$BS" --topic "$TOPIC" --alerts-topic "$ALERTS" \
    --actions-topic "$ACTIONS" --instance-id "bench-mod-$1-$ID" --listen "127.0.0.1:$ws" \
    --metrics-addr "127.0.0.1:$metrics" --log-format json --max-connections-per-ip 0 \
    >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    [[ $(metric "$metrics" parley_ws_moderation_ready) == 1 ]] && break
    sleep 0.2
  done
  [[ $(metric "$metrics" parley_ws_moderation_ready) == 1 ]] || { log "$1 not ready; see $WORK/$1.log"; exit 1; }
  echo "$ws $metrics"
}
read -r A_PORT A_METRICS < <(start_sender a)
read -r B_PORT _ < <(start_sender b)
MOD=$("$BIN/websocket-sender" token --sub bench-mod --role moderator --room '*' --ttl 1h)
VIEWER=$("$BIN/websocket-sender" token --sub bench-viewer --role viewer --room '*' --ttl 1h)

SECONDS_NEEDED=$((COUNT * INTERVAL_MS / 1000 + 20))
log "traffic: $RATE msg/s over $ROOMS rooms for ${SECONDS_NEEDED}s; $COUNT deletions, one every ${INTERVAL_MS} ms"
"$BIN/loadgen" --brokers "$BS" --topic "$TOPIC" --rate "$RATE" --duration "${SECONDS_NEEDED}s" --seed 7 \
  --rooms "$ROOMS" >"$WORK/loadgen.log" 2>&1 &
PIDS+=($!)
sleep 3
LOAD=$(cut -d' ' -f1 /proc/loadavg)
"$BIN/retract-bench" --a "127.0.0.1:$A_PORT" --b "127.0.0.1:$B_PORT" --moderator-token "$MOD" \
  --viewer-token "$VIEWER" --rooms "$SUBSCRIBED" --count "$COUNT" --interval-ms "$INTERVAL_MS" \
  >"$WORK/retract.json"
offered=$(metric "$A_METRICS" parley_records_processed_total)
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
"$BIN/block-bench" --rules 500 --checks "$( ((QUICK)) && echo 500000 || echo 3000000)" >"$WORK/block.json"

r() { jq -r "$1" "$WORK/retract.json"; }
ms() { awk -v v="$1" 'BEGIN{ if (v == "null" || v == "") print "—"; else printf "%.1f", v }'; }
p99=$(r .ack_to_retract.p99_ms)
verdict=$(awk -v v="$p99" 'BEGIN{ print (v != "null" && v <= 250) ? "✓" : "✗" }')
cat <<MD

moderation benchmark — $(nproc) cores; two websocket-sender instances, loadgen at $RATE msg/s over $ROOMS rooms (instance A read $offered records), moderator on A and viewer on B subscribed to the 20 busiest rooms; load average at start: $LOAD

| measurement | p50 | p99 | max | target |
|---|---|---|---|---|
| \`moderate\` → \`moderated\` (Kafka ack of the action) | $(ms "$(r .ack.p50_ms)") ms | $(ms "$(r .ack.p99_ms)") ms | $(ms "$(r .ack.max_ms)") ms | |
| \`moderated\` → \`retract\` at a viewer on the other instance | $(ms "$(r .ack_to_retract.p50_ms)") ms | $(ms "$p99") ms | $(ms "$(r .ack_to_retract.max_ms)") ms | p99 ≤ 250 ms $verdict |
| \`moderate\` → \`retract\` on the other instance | $(ms "$(r .send_to_retract.p50_ms)") ms | $(ms "$(r .send_to_retract.p99_ms)") ms | $(ms "$(r .send_to_retract.max_ms)") ms | |

deletions sent $(r .sent), refused $(r .refused), never retracted $(r .missing)

| block rules in the publish path | with $(jq -r .rules "$WORK/block.json") rules | without | added | target |
|---|---|---|---|---|
| CPU per check (one thread, median of 3) | $(jq -r '.ns_per_check_with_rules | floor' "$WORK/block.json") ns | $(jq -r '.ns_per_check_without | floor' "$WORK/block.json") ns | $(jq -r '.added_us * 100 | floor / 100' "$WORK/block.json") µs | ≤ 4 µs $(jq -r 'if .added_us <= 4 then "✓" else "✗" end' "$WORK/block.json") |
MD
