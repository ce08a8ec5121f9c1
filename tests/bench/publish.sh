#!/usr/bin/env bash
# Publishing benchmark (issue #19): players publish over their WebSocket and
# players on another server instance receive it; Parley against Centrifugo
# v6's client-side publish, same load client, same box, same run.
#
# For each rate (1,000 and 10,000 publishes/s in total) and each server:
# `ws-loadclient publish` opens CONNECTIONS WebSocket connections, half of
# them listeners on instance B (connected first), half publishers on
# instance A, each subscribed to one room (CONNECTIONS/2 rooms: one
# publisher and one listener per room). Once all are subscribed, the
# publishers send RATE publishes/s in total for DURATION s (each at
# RATE/(CONNECTIONS/2) per second, starts staggered), each with a
# client_msg_id and its send time in `meta`; measured:
#   - publish→ack: send → Parley's `published` (after Kafka acks=all) or
#     Centrifugo's publish reply;
#   - publish→delivered: send → received by the room's listener on the
#     other instance (B), from the send time in the message;
#   - a reference for Parley's ack: Kafka's own Java producer
#     (ProducerPerformance, a fresh JVM: its warm-up is in its p99) at the
#     same rate with the publish producer's settings, its produce→ack
#     p50/p99 on this machine at that moment;
#   - deliveries against what was acknowledged (lost = expected − got);
#   - server CPU per published message: utime+stime of the server
#     processes (A + B) over the publishing ÷ acknowledged publishes; the
#     same with the broker's process added (Kafka's JVM — shared with
#     whatever else uses the local stack at the time — or nats-server); and
#     the same less what the servers burn holding the connections with no
#     traffic (measured for IDLE s before publishing);
#   - the load client's and the whole machine's cores busy: on a shared
#     2-core box a saturated machine shows there, not as a server's fault.
# The servers:
#   - Parley: two websocket-sender instances on one fresh topic; a publish
#     on A is produced to Kafka (idempotent, acks=all), both instances
#     consume the topic, B delivers it. Player limits raised for the bench
#     (--publish-rate/--publish-burst, --client-frames-per-sec).
#   - Centrifugo, two nodes + NATS: CENTRIFUGO_BIN (v6) twice with
#     `broker.type: nats` on a local nats-server (Debian's package; core
#     NATS, at-most-once, no history): the Redis-free way to run Centrifugo
#     on more than one node. The namespace allows publishing by subscribers
#     (`allow_publish_for_subscriber`).
#   - Centrifugo, one node, memory broker: publishers and listeners on the
#     same node; its publish reply means "handed to the in-process broker".
# Everything runs on loopback and stops when done.
#
# Needs the stack up (make up) and CENTRIFUGO_BIN for the peer (else the
# peer columns stay empty, as with --skip-peer). Release binaries are built.
#   tests/bench/publish.sh [--quick] [--skip-peer] [--skip-parley]
#       [--connections N] [--rate PUBLISHES_PER_S] [--duration S] [--no-build]
# Defaults (--quick): CONNECTIONS 5000 (1000), both rates 1000 and 10000
# (--rate N: that rate only), DURATION 30 s (10). Flags and their
# environment fallbacks: tests/bench/lib.sh. Env only: PUBLISHERS
# (CONNECTIONS/2), CONNECT_RATE (2000/s), CENTRIFUGO_BIN, NATS_SERVER_BIN
# (nats-server on the PATH; installed from Debian's packages when missing),
# PARLEY_ARGS (more websocket-sender flags, e.g. `--kafka-prop K=V`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(quick skip-peer skip-parley connections rate duration no-build)
bench_args "$@"
bench_default CONNECTIONS 5000 1000
bench_default DURATION 30 10
RATES=(1000 10000)
[[ -z ${RATE:-} ]] || RATES=("$RATE")
PUBLISHERS=${PUBLISHERS:-$((CONNECTIONS / 2))}
CONNECT_RATE=${CONNECT_RATE:-2000}
DRAIN=3 # s of reading after the last publish
IDLE=5  # s of the servers holding every connection before publishing

PACKAGES=(-p ws-loadclient)
((PARLEY)) && PACKAGES+=(-p websocket-sender)
bench_build "${PACKAGES[@]}"

CENTRIFUGO=""
if ((PEER)) && [[ -n ${CENTRIFUGO_BIN:-} ]]; then
  CENTRIFUGO=$CENTRIFUGO_BIN
  NATS=${NATS_SERVER_BIN:-$(command -v nats-server || true)}
  if [[ -z $NATS ]]; then
    log "installing Debian's nats-server for the two-node Centrifugo peer"
    apt-get update -q >/dev/null
    apt-get install -y -q nats-server >/dev/null
    NATS=$(command -v nats-server)
  fi
  # `go install` builds report v0.0.0; the module path says which release.
  CENTRIFUGO_VERSION=$(go version -m "$CENTRIFUGO" 2>/dev/null |
    awk '$1 == "mod" && $2 ~ /centrifugo/ {print $3; exit}')
  CENTRIFUGO_NAME="Centrifugo ${CENTRIFUGO_VERSION:-$("$CENTRIFUGO" version | awk '{print $2}')}"
elif ((PEER)); then
  log "CENTRIFUGO_BIN is not set: the Centrifugo columns stay empty"
fi

ulimit -n "$(ulimit -Hn)"
if ((CONNECTIONS + 1000 > $(ulimit -n))); then
  log "open-file limit is $(ulimit -n): lowering CONNECTIONS to $(($(ulimit -n) - 1000))"
  CONNECTIONS=$(($(ulimit -n) - 1000))
fi

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
ID=$(date +%s)
WORK=$(mktemp -d /tmp/parley-bench-pub.XXXXXX)
PARLEY_JWT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PARLEY_JWT_SECRET
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  delete_bench_topics
}
trap cleanup EXIT
port() { echo $((20000 + RANDOM % 10000)); }
wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 5; i++)); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
  return 1
}
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat; }
kafka_pid() { ss -Hltnp "sport = :${BS##*:}" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
ticks_of() { # pids… → their utime+stime summed (0 for a pid gone)
  local sum=0 pid
  for pid in "$@"; do sum=$((sum + $(cpu_ticks "$pid" 2>/dev/null || echo 0))); done
  echo "$sum"
}
stop() { # pids…
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# measure NAME RATE PROTOCOL ADDR_A ADDR_B "SERVER_PIDS" "BROKER_PIDS"
#   → $WORK/NAME-RATE.json (the load client's summary) and .proc (CPU).
measure() {
  local name=$1 rate=$2 protocol=$3 a=$4 b=$5 servers=$6 brokers=$7 tag=$1-$2
  rm -f "$WORK/$tag.ready" "$WORK/$tag.go"
  "$BIN/ws-loadclient" publish --server "$a" --subscriber-server "$b" --protocol "$protocol" \
    --connections "$CONNECTIONS" --publishers "$PUBLISHERS" --rate "$rate" \
    --duration "${DURATION}s" --drain "${DRAIN}s" --connect-rate "$CONNECT_RATE" \
    --room-prefix "bench-$ID-$tag" --ready-file "$WORK/$tag.ready" --go-file "$WORK/$tag.go" \
    --progress-interval 10s >"$WORK/$tag.json" 2>"$WORK/$tag.client.log" &
  local client=$! i
  PIDS+=("$client")
  for ((i = 0; i < (CONNECTIONS / CONNECT_RATE + 60) * 5; i++)); do
    [[ -s $WORK/$tag.ready ]] && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.2
  done
  [[ -s $WORK/$tag.ready ]] || { log "$tag: clients never became ready"; stop "$client"; return 1; }
  log "$tag: $(cat "$WORK/$tag.ready")"
  sleep 2 # settle: the ramp's last subscriptions
  # shellcheck disable=SC2086 # word lists of pids
  local q0 q1 s0 b0 m0
  q0=$(ticks_of $servers) # the servers holding the connections, no traffic
  sleep "$IDLE"
  # shellcheck disable=SC2086
  q1=$(ticks_of $servers)
  # shellcheck disable=SC2086
  s0=$(ticks_of $servers) b0=$(ticks_of $brokers) m0=$(machine_ticks)
  touch "$WORK/$tag.go"
  wait "$client" || log "$tag: the load client failed; see $WORK/$tag.client.log"
  local s1 b1 m1
  # shellcheck disable=SC2086
  s1=$(ticks_of $servers) b1=$(ticks_of $brokers) m1=$(machine_ticks)
  # servers before/after, brokers before/after, machine total+idle
  # before/after, servers before/after the idle window
  echo "$s0 $s1 $b0 $b1 $m0 $m1 $q0 $q1" >"$WORK/$tag.proc"
  log "$tag: $(jq -c '{sent, acked, refused_rate, ack_ms: {p50: .ack_ms.p50, p99: .ack_ms.p99}, delivered_ms: {p50: .delivered_ms.p50, p99: .delivered_ms.p99}, delivered, delivered_expected, dropped}' "$WORK/$tag.json" 2>/dev/null || echo 'no summary')"
}

# kafka_floor RATE → $WORK/kafka-RATE.floor: "p50 p99" (ms) of Kafka's own
# Java producer sending RATE records/s of a published message's size with
# the publish producer's settings (idempotent, acks=all, lz4, linger 2 ms):
# the produce→ack time of the broker on this machine now, under any server.
kafka_floor() {
  local rate=$1 topic=bench-pub-floor-$ID-$1 line
  create_topic "$topic" 12
  line=$("$STACK" kafka-tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" \
    --num-records "$((rate * DURATION))" --record-size 300 --throughput "$rate" \
    --producer-props bootstrap.servers="$BS" acks=all enable.idempotence=true linger.ms=2 \
    compression.type=lz4 2>/dev/null | tail -1)
  sed -nE 's/.* ([0-9.]+) ms 50th, [0-9.]+ ms 95th, ([0-9.]+) ms 99th.*/\1 \2/p' <<<"$line" >"$WORK/kafka-$rate.floor"
  log "kafka floor at $rate/s: $line"
}

parley() { # rate
  local rate=$1 topic=bench-pub-$ID-$1 pa pb ma mb
  kafka_floor "$rate" || true
  create_topic "$topic" 12
  pa=$(port) pb=$(port)
  ma=$((pa + 1)) mb=$((pb + 1))
  local pids=() side listen metrics
  for side in a b; do
    [[ $side == a ]] && listen=$pa metrics=$ma || listen=$pb metrics=$mb
    "$BIN/websocket-sender" --brokers "$BS" --topic "$topic" --instance-id "bench-pub-$ID-$rate-$side" \
      --listen "127.0.0.1:$listen" --metrics-addr "127.0.0.1:$metrics" --log-format json \
      --max-connections-per-ip 0 --client-frames-per-sec 1000 \
      --publish-rate 1000 --publish-burst 1000 --max-unacked-publishes 1024 ${PARLEY_ARGS:-} \
      >"$WORK/parley-$rate-$side.log" 2>&1 &
    pids+=($!)
    PIDS+=($!)
  done
  wait_http "http://127.0.0.1:$ma/healthz" 60 && wait_http "http://127.0.0.1:$mb/healthz" 60 ||
    { log "parley: an instance did not become healthy"; stop "${pids[@]}"; return 1; }
  sleep 5 # both consumer groups join and start their partitions
  measure parley "$rate" parley "127.0.0.1:$pa" "127.0.0.1:$pb" "${pids[*]}" "$(kafka_pid)" || true
  curl -fsS "127.0.0.1:$ma/metrics" >"$WORK/parley-$rate-a.metrics" 2>/dev/null || true
  stop "${pids[@]}"
}

centrifugo_config() { # file port [broker-json]
  local broker=""
  [[ -z ${3:-} ]] || broker=$',\n  "broker": '"$3"
  cat >"$1" <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $2},
  "log": {"level": "warn"},
  "health": {"enabled": true},
  "client": {"token": {"hmac_secret_key": "$PARLEY_JWT_SECRET"}, "allowed_origins": ["*"]},
  "channel": {"namespaces": [{"name": "room", "allow_subscribe_for_client": true,
    "allow_publish_for_subscriber": true}]},
  "websocket": {"use_write_buffer_pool": true}$broker
}
JSON
}

centrifugo_nodes() { # rate
  local rate=$1 nats_port pa pb pids=()
  nats_port=$(port) pa=$(port) pb=$(port)
  "$NATS" -a 127.0.0.1 -p "$nats_port" >"$WORK/nats-$rate.log" 2>&1 &
  local nats=$!
  PIDS+=("$nats")
  sleep 0.5
  local broker='{"enabled": true, "type": "nats", "nats": {"url": "nats://127.0.0.1:'$nats_port'", "prefix": "bench-'$ID'"}}'
  for p in "$pa" "$pb"; do
    centrifugo_config "$WORK/centrifugo-$p.json" "$p" "$broker"
    "$CENTRIFUGO" --config "$WORK/centrifugo-$p.json" >"$WORK/centrifugo-nats-$rate-$p.log" 2>&1 &
    pids+=($!)
    PIDS+=($!)
  done
  wait_http "http://127.0.0.1:$pa/health" 60 && wait_http "http://127.0.0.1:$pb/health" 60 ||
    { log "centrifugo: a node did not become healthy"; stop "${pids[@]}" "$nats"; return 1; }
  sleep 2
  measure cfnats "$rate" centrifugo "127.0.0.1:$pa" "127.0.0.1:$pb" "${pids[*]}" "$nats" || true
  stop "${pids[@]}" "$nats"
}

centrifugo_single() { # rate
  local rate=$1 p pid
  p=$(port)
  centrifugo_config "$WORK/centrifugo-$p.json" "$p"
  "$CENTRIFUGO" --config "$WORK/centrifugo-$p.json" >"$WORK/centrifugo-mem-$rate.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$p/health" 60 || { log "centrifugo did not become healthy"; stop "$pid"; return 1; }
  sleep 1
  measure cfmem "$rate" centrifugo "127.0.0.1:$p" "127.0.0.1:$p" "$pid" "" || true
  stop "$pid"
}

for rate in "${RATES[@]}"; do
  if ((PARLEY)); then log "Parley, $rate publishes/s"; parley "$rate" || true; fi
  if [[ -n $CENTRIFUGO ]]; then
    log "$CENTRIFUGO_NAME, two nodes + NATS, $rate publishes/s"; centrifugo_nodes "$rate" || true
    log "$CENTRIFUGO_NAME, one node, $rate publishes/s"; centrifugo_single "$rate" || true
  fi
done

# ms FILE HISTOGRAM A B → "A / B" of a latency summary, 0.1 ms
ms() { jq -r ".$2 | \"\(.$3) \(.$4)\"" "$1" | awk '{printf "%.1f / %.1f", $1, $2}'; }
# col NAME RATE FIELD → one cell
col() {
  local f=$WORK/$1-$2.json p=$WORK/$1-$2.proc
  [[ -s $f && -s $p ]] || { echo "—"; return; }
  local s0 s1 b0 b1 t0 i0 t1 i1 q0 q1 ticks acked
  read -r s0 s1 b0 b1 t0 i0 t1 i1 q0 q1 <"$p"
  ticks=$(getconf CLK_TCK)
  acked=$(jq -r .acked "$f")
  case $3 in
    held) jq -r '"\(.connections_ready) / \(.connections_target) (\(.dropped) dropped)"' "$f" ;;
    sent) jq -r '"\(.sent) / \(.acked) / \(.refused_rate + .refused_other) / \(.unanswered)"' "$f" ;;
    rate) jq -r '.sent_per_sec | floor' "$f" ;;
    ack) ms "$f" ack_ms p50 p99 ;;
    ackmax) ms "$f" ack_ms p999 max ;;
    del) ms "$f" delivered_ms p50 p99 ;;
    delmax) ms "$f" delivered_ms p999 max ;;
    echo) ms "$f" echo_ms p50 p99 ;;
    lost) jq -r '"\(.delivered) of \(.delivered_expected) (lost \([.delivered_expected - .delivered, 0] | max))"' "$f" ;;
    cpu) awk -v a="$s0" -v b="$s1" -v t="$ticks" -v n="$acked" \
      'BEGIN{ if (n > 0) printf "%.1f", (b-a)/t*1e6/n; else print "—" }' ;;
    cpub) awk -v a="$((s0 + b0))" -v b="$((s1 + b1))" -v t="$ticks" -v n="$acked" \
      'BEGIN{ if (n > 0) printf "%.1f", (b-a)/t*1e6/n; else print "—" }' ;;
    percpu) awk -v a="$s0" -v b="$s1" -v t="$ticks" -v n="$acked" \
      'BEGIN{ if (b > a) printf "%.0f", n/((b-a)/t); else print "—" }' ;;
    cores) awk -v a="$s0" -v b="$s1" -v t="$ticks" -v s="$(jq -r .publish_seconds "$f")" \
      'BEGIN{ if (s > 0) printf "%.2f", (b-a)/t/(s+'"$DRAIN"'); else print "—" }' ;;
    idle) awk -v a="$q0" -v b="$q1" -v t="$ticks" 'BEGIN{ printf "%.2f", (b-a)/t/'"$IDLE"' }' ;;
    above) awk -v a="$s0" -v b="$s1" -v q0="$q0" -v q1="$q1" -v t="$ticks" -v n="$acked" \
      -v s="$(jq -r .publish_seconds "$f")" \
      'BEGIN{ busy=(b-a)/t - (q1-q0)/t/'"$IDLE"'*(s+'"$DRAIN"'); if (n > 0) printf "%.1f", busy*1e6/n; else print "—" }' ;;
    client) jq -r '.client_cores * 100 | round / 100' "$f" ;;
    machine) awk -v t0="$t0" -v i0="$i0" -v t1="$t1" -v i1="$i1" -v n="$(nproc)" \
        'BEGIN{ if (t1 > t0) printf "%.2f of %d", (1-(i1-i0)/(t1-t0))*n, n; else print "—" }' ;;
  esac
}
num() { [[ $1 =~ ^[0-9.]+$ ]]; }
floor() { [[ -s $WORK/kafka-$1.floor ]] && awk '{printf "%.1f / %.1f", $1, $2}' "$WORK/kafka-$1.floor" || echo "—"; }
# mark VALUE LIMIT → ✓ when VALUE ≤ LIMIT, ✗ above, — unmeasured
mark() { num "$1" || { echo "—"; return; }; awk -v v="$1" -v l="$2" 'BEGIN{print (v <= l) ? "✓" : "✗"}'; }
p99() { awk -F' / ' '{print $2}' <<<"$1"; }
peer_ratio() { # parley_per_cpu peer_per_cpu → ratio and ✓/✗ against ≥ 1
  if num "$1" && num "$2"; then
    awk -v a="$1" -v b="$2" 'BEGIN{r=a/b; printf "%.2f × %s", r, (r >= 1) ? "✓" : "✗"}'
  else echo "—"; fi
}

PEER_A="${CENTRIFUGO_NAME:-Centrifugo (not run)}, 2 nodes + NATS"
PEER_B="${CENTRIFUGO_NAME:-Centrifugo (not run)}, 1 node, memory broker"
cat <<HEAD

Publishing benchmark — $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $CONNECTIONS connections: $((CONNECTIONS - PUBLISHERS)) listeners on instance B, $PUBLISHERS publishers on instance A, one publisher and one listener per room; $DURATION s of publishing per rate; servers, brokers and the load client share the machine (load average at start: $LOAD)

| measurement | Parley: A → Kafka → B | $PEER_A | $PEER_B | target |
|---|---:|---:|---:|---|
HEAD
for rate in "${RATES[@]}"; do
  r=$(thousands "$rate")
  ack=$(col parley "$rate" ack) del=$(col parley "$rate" del)
  target_ack="" target_del=""
  if ((rate >= 10000)); then
    target_ack="p99 ≤ 20 ms $(mark "$(p99 "$ack")" 20)"
    target_del="p99 ≤ 50 ms $(mark "$(p99 "$del")" 50)"
  fi
  cat <<ROWS
| $r/s: connections ready / asked | $(col parley "$rate" held) | $(col cfnats "$rate" held) | $(col cfmem "$rate" held) | all |
| $r/s: publishes sent / acked / refused / unanswered | $(col parley "$rate" sent) | $(col cfnats "$rate" sent) | $(col cfmem "$rate" sent) | |
| $r/s: publishes sent per second | $(col parley "$rate" rate) | $(col cfnats "$rate" rate) | $(col cfmem "$rate" rate) | $r |
| $r/s: publish→ack p50 / p99 (ms) | $ack | $(col cfnats "$rate" ack) | $(col cfmem "$rate" ack) | $target_ack |
| $r/s: reference: Kafka's own Java producer (a fresh JVM) at this rate, acks=all, p50 / p99 (ms) | $(floor "$rate") | | | |
| $r/s: publish→ack p99.9 / max (ms) | $(col parley "$rate" ackmax) | $(col cfnats "$rate" ackmax) | $(col cfmem "$rate" ackmax) | |
| $r/s: publish→delivered on the other instance p50 / p99 (ms) | $del | $(col cfnats "$rate" del) | $(col cfmem "$rate" del) | $target_del |
| $r/s: publish→delivered p99.9 / max (ms) | $(col parley "$rate" delmax) | $(col cfnats "$rate" delmax) | $(col cfmem "$rate" delmax) | |
| $r/s: publish→publisher's own subscription p50 / p99 (ms) | $(col parley "$rate" echo) | $(col cfnats "$rate" echo) | $(col cfmem "$rate" echo) | |
| $r/s: delivered to listeners of expected | $(col parley "$rate" lost) | $(col cfnats "$rate" lost) | $(col cfmem "$rate" lost) | lost 0 |
| $r/s: server CPU per published message (µs, A + B) | $(col parley "$rate" cpu) | $(col cfnats "$rate" cpu) | $(col cfmem "$rate" cpu) | |
| $r/s: … with the broker's CPU (µs; Kafka / NATS) | $(col parley "$rate" cpub) | $(col cfnats "$rate" cpub) | $(col cfmem "$rate" cpub) | |
| $r/s: published messages per server CPU-second | $(col parley "$rate" percpu) | $(col cfnats "$rate" percpu) | $(col cfmem "$rate" percpu) | ≥ Centrifugo: $(peer_ratio "$(col parley "$rate" percpu)" "$(col cfnats "$rate" percpu)") (2 nodes), $(peer_ratio "$(col parley "$rate" percpu)" "$(col cfmem "$rate" percpu)") (1 node) |
| $r/s: … above the idle servers' own (µs; idle cost taken out) | $(col parley "$rate" above) | $(col cfnats "$rate" above) | $(col cfmem "$rate" above) | |
| $r/s: server cores busy holding the connections, no publishing | $(col parley "$rate" idle) | $(col cfnats "$rate" idle) | $(col cfmem "$rate" idle) | |
| $r/s: server cores busy while publishing | $(col parley "$rate" cores) | $(col cfnats "$rate" cores) | $(col cfmem "$rate" cores) | |
| $r/s: load client cores busy while publishing | $(col parley "$rate" client) | $(col cfnats "$rate" client) | $(col cfmem "$rate" client) | |
| $r/s: whole machine cores busy | $(col parley "$rate" machine) | $(col cfnats "$rate" machine) | $(col cfmem "$rate" machine) | |
ROWS
done
cat <<FOOT

What an acknowledgement means differs: Parley answers \`published\` after Kafka
wrote the record with acks=all (durable; every instance then reads it from the
topic, and it is in ClickHouse and Parquet later); Centrifugo answers once its
broker took the publication — NATS (at-most-once, nothing kept) for two nodes,
its own memory for one node. The one-node column has no second instance:
publisher and listener share the node. Raw summaries and server logs: $WORK.
FOOT
