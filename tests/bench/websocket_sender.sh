#!/usr/bin/env bash
# websocket-sender benchmark: Parley's fan-out server and a Centrifugo peer,
# each fed the same traffic on fresh topics and held open by the same load
# client, measured in the same run on this machine, printed as Markdown.
#
#   1. loadgen writes COUNT = RATE × DURATION records once (--rate 0) to a
#      source topic, with its ground truth (--truth).
#   2. For each server: start it; RSS with 0 connections; ws-loadclient
#      ramps CONNECTIONS WebSocket clients (ROOMS_PER_CONN rooms each, drawn
#      from the truth's rooms) and waits until all are subscribed; RSS with
#      N idle connections → KB per idle connection; then `ws-loadclient
#      replay` produces the source topic to the server's own fresh topic at
#      RATE msg/s with `sent_at` restamped at send time (GameMessages for
#      Parley; Centrifugo `publish` API commands on channel room:<room> for
#      the peer; moderators-only records go to mods:<room>, which no viewer
#      joins); server CPU (utime+stime) over the traffic ÷ delivered frames.
#      The load client reports delivered frames/s, latency (receive −
#      sent_at) and, against the truth, losses, duplicates, order violations
#      and moderators-only leaks. Beside them: the same records' latency at a
#      bare Kafka consumer (the floor under any server), the server's CPU
#      with N idle connections, and the load client's and whole machine's
#      CPU during the traffic (all processes share 2 cores, so a saturated
#      machine shows there, not as a server fault).
#
# The peer: Centrifugo v6 if CENTRIFUGO_BIN points at a binary (it gets the
# v6 config written below: Kafka consumer, HS256, namespace "room").
# Otherwise tests/bench/centrifuge-peer: Centrifugo's engine, the Centrifuge
# Go library (Debian's package; the Go module proxy refuses
# github.com/centrifugal modules), with the same Kafka consumer, HS256 and
# namespace rules. Everything runs on loopback and stops when done.
#
# Needs the stack up (make up). Release binaries are built first.
#   tests/bench/websocket_sender.sh [--quick] [--skip-peer] [--skip-parley]
#       [--connections N] [--rate MSG_PER_S] [--rooms N] [--duration S] [--no-build]
# Defaults (--quick): CONNECTIONS 10000 (1000), RATE 2000 msg/s (1000),
# ROOMS 200, DURATION 60 s (20). Flags and their environment fallbacks:
# tests/bench/lib.sh. Env only: ROOMS_PER_CONN (1), CONNECT_RATE (2000/s),
# CENTRIFUGO_BIN.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(quick skip-peer skip-parley connections rate rooms duration no-build)
bench_args "$@"
bench_default CONNECTIONS 10000 1000
bench_default RATE 2000 1000
bench_default ROOMS 200
bench_default DURATION 60 20
ROOMS_PER_CONN=${ROOMS_PER_CONN:-1}
CONNECT_RATE=${CONNECT_RATE:-2000}
COUNT=$((RATE * DURATION))
SETTLE=10 # s of idle connections (RSS and CPU readings) before the traffic
DRAIN=5  # s after the last record before stopping the clients

PACKAGES=(-p loadgen -p ws-loadclient)
((PARLEY)) && PACKAGES+=(-p websocket-sender)
# run.sh builds the workspace once before its runs (PARLEY_BENCH_NO_BUILD).
bench_build "${PACKAGES[@]}"

PEER_NAME="" PEER_PROTOCOL="" PEER_BIN=""
if ((PEER)); then
  if [[ -n ${CENTRIFUGO_BIN:-} ]]; then
    PEER_BIN=$CENTRIFUGO_BIN PEER_PROTOCOL=centrifugo
    PEER_NAME="Centrifugo $("$CENTRIFUGO_BIN" version 2>/dev/null | head -1)"
  else
    lib=/usr/share/gocode/src/github.com/centrifugal
    if [[ ! -d $lib/centrifuge || ! -d $lib/protocol ]]; then
      log "installing Debian's Centrifuge library for the peer"
      apt-get update -q >/dev/null # a fresh machine has no package lists yet
      apt-get install -y -q golang-github-centrifugal-centrifuge-dev golang-github-centrifugal-protocol-dev >/dev/null
    fi
    PEER_BIN=$BIN/centrifuge-peer PEER_PROTOCOL=centrifugo-v1
    (cd "$REPO/tests/bench/centrifuge-peer" && GOFLAGS=-buildvcs=false go build -o "$PEER_BIN" .)
    PEER_NAME="Centrifuge $(dpkg-query -W -f '${Version}' golang-github-centrifugal-centrifuge-dev) (Centrifugo's engine) peer"
  fi
fi

ulimit -n "$(ulimit -Hn)"
FDS=$(ulimit -n)
if ((CONNECTIONS + 1000 > FDS)); then
  log "open-file limit is $FDS: lowering CONNECTIONS from $CONNECTIONS to $((FDS - 1000))"
  CONNECTIONS=$((FDS - 1000))
fi

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
ID=$(date +%s)
SRC=bench-ws-src-$ID
WORK=$(mktemp -d /tmp/parley-bench-ws.XXXXXX)
TRUTH=$WORK/truth.jsonl
PARLEY_JWT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PARLEY_JWT_SECRET
TOPICS=("$SRC")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for t in "${TOPICS[@]}"; do
    "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --delete --topic "$t" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
create_topic() {
  TOPICS+=("$1")
  "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create \
    --topic "$1" --partitions 12 --replication-factor 1 >/dev/null
}
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; } # the kernel's part
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8, $5+$6}' /proc/stat; } # total idle
wait_http() { # url seconds
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.2
  done
  return 1
}
port() { echo $((20000 + RANDOM % 10000)); }

log "loadgen: $COUNT records over $ROOMS rooms into $SRC"
create_topic "$SRC"
"$BIN/loadgen" --brokers "$BS" --topic "$SRC" --count "$COUNT" --rate 0 --seed 1 \
  --games 8 --rooms "$ROOMS" --users 100000 --truth "$TRUTH" --progress-interval 60s \
  >/dev/null 2>"$WORK/loadgen.log"

# measure NAME PROTOCOL FORMAT TOPIC PID WS_ADDR HEALTH_URL -> $WORK/NAME.* files
measure() {
  local name=$1 protocol=$2 format=$3 topic=$4 pid=$5 addr=$6 health=$7
  if ! wait_http "$health" 60; then
    log "$name did not become healthy"; return 1
  fi
  sleep 5 # Kafka group join
  local rss0; rss0=$(rss_kb "$pid")
  local bound=$((CONNECTIONS / CONNECT_RATE + 60 + SETTLE + DURATION * 2 + DRAIN + 60))
  rm -f "$WORK/$name.ready"
  "$BIN/ws-loadclient" run --server "$addr" --protocol "$protocol" --connections "$CONNECTIONS" \
    --rooms-per-connection "$ROOMS_PER_CONN" --truth "$TRUTH" --connect-rate "$CONNECT_RATE" \
    --duration "${bound}s" --ready-file "$WORK/$name.ready" --progress-interval 10s \
    >"$WORK/$name.json" 2>"$WORK/$name.client.log" &
  local client=$!
  PIDS+=("$client")
  local i
  for ((i = 0; i < (CONNECTIONS / CONNECT_RATE + 60) * 5; i++)); do
    [[ -s $WORK/$name.ready ]] && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.2
  done
  [[ -s $WORK/$name.ready ]] || { log "$name: clients never became ready"; return 1; }
  log "$name: $(cat "$WORK/$name.ready")"
  # The floor: the same records at a bare Kafka consumer, started early so
  # its own start-up is not counted as latency.
  "$BIN/ws-loadclient" kafka-latency --brokers "$BS" --topic "$topic" \
    --duration "$((SETTLE + DURATION * 2 + DRAIN + 60))s" >"$WORK/$name.kafka.json" 2>/dev/null &
  local floor=$!
  PIDS+=("$floor")
  local idle0; idle0=$(cpu_ticks "$pid")
  sleep "$SETTLE"
  local idle1; idle1=$(cpu_ticks "$pid")
  local rss_idle; rss_idle=$(rss_kb "$pid")
  local cpu0; cpu0=$(cpu_ticks "$pid")
  local sys0; sys0=$(sys_ticks "$pid")
  local client0; client0=$(cpu_ticks "$client")
  local machine0; machine0=$(machine_ticks)
  log "$name: replaying $COUNT records at $RATE msg/s into $topic"
  "$BIN/ws-loadclient" replay --brokers "$BS" --from "$SRC" --to "$topic" --format "$format" \
    --rate "$RATE" >"$WORK/$name.replay.json"
  sleep "$DRAIN"
  kill -INT "$floor"
  wait "$floor" || true
  local cpu1; cpu1=$(cpu_ticks "$pid")
  local sys1; sys1=$(sys_ticks "$pid")
  local client1; client1=$(cpu_ticks "$client")
  local machine1; machine1=$(machine_ticks)
  local rss_busy; rss_busy=$(rss_kb "$pid")
  local hwm; hwm=$(hwm_kb "$pid")
  kill -INT "$client"
  wait "$client" || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$rss0" "$rss_idle" "$rss_busy" "$hwm" "$cpu0" "$cpu1" \
    "$client0" "$client1" "$machine0" "$machine1" "$idle0" "$idle1" "$sys0" "$sys1" >"$WORK/$name.proc"
  log "$name: $(jq -c '{held: .connections_held, fps: (.frames_per_sec|floor), latency_ms, check}' "$WORK/$name.json")"
}

if ((PARLEY)); then
  log "Parley websocket-sender"
  PARLEY_TOPIC=bench-ws-parley-$ID
  create_topic "$PARLEY_TOPIC"
  ws_port=$(port)
  metrics_port=$((ws_port + 1))
  "$BIN/websocket-sender" --brokers "$BS" --topic "$PARLEY_TOPIC" --instance-id "bench-$ID" \
    --listen "127.0.0.1:$ws_port" --metrics-addr "127.0.0.1:$metrics_port" --log-format json \
    --max-connections-per-ip 0 \
    >"$WORK/parley.server.log" 2>&1 &
  PIDS+=($!)
  measure parley parley parley "$PARLEY_TOPIC" "$!" "127.0.0.1:$ws_port" \
    "http://127.0.0.1:$metrics_port/healthz" || log "Parley run failed; see $WORK"
fi

if ((PEER)); then
  log "$PEER_NAME"
  PEER_TOPIC=bench-ws-centrifugo-$ID
  create_topic "$PEER_TOPIC"
  peer_port=$(port)
  if [[ $PEER_PROTOCOL == centrifugo ]]; then
    cat >"$WORK/centrifugo.json" <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $peer_port},
  "log": {"level": "warn"},
  "health": {"enabled": true},
  "client": {"token": {"hmac_secret_key": "$PARLEY_JWT_SECRET"}, "allowed_origins": ["*"]},
  "channel": {"namespaces": [{"name": "room", "allow_subscribe_for_client": true}]},
  "websocket": {"use_write_buffer_pool": true},
  "consumers": [{"name": "parley", "enabled": true, "type": "kafka",
    "kafka": {"brokers": ["$BS"], "topics": ["$PEER_TOPIC"], "consumer_group": "centrifugo-bench-$ID"}}]
}
JSON
    "$PEER_BIN" --config "$WORK/centrifugo.json" >"$WORK/centrifugo.server.log" 2>&1 &
  else
    "$PEER_BIN" -listen "127.0.0.1:$peer_port" -brokers "$BS" -topic "$PEER_TOPIC" \
      -group "centrifuge-peer-$ID" >"$WORK/centrifugo.server.log" 2>&1 &
  fi
  PIDS+=($!)
  measure centrifugo "$PEER_PROTOCOL" centrifugo "$PEER_TOPIC" "$!" "127.0.0.1:$peer_port" \
    "http://127.0.0.1:$peer_port/$([[ $PEER_PROTOCOL == centrifugo ]] && echo health || echo healthz)" ||
    log "peer run failed; see $WORK"
fi

# Figures of one side: column NAME FIELD
col() {
  local name=$1 field=$2 f=$WORK/$1.json
  [[ -s $f && -s $WORK/$name.proc ]] || { echo "—"; return; }
  read -r rss0 rss_idle rss_busy hwm cpu0 cpu1 client0 client1 total0 idle0 total1 idle1 quiet0 quiet1 \
    sys0 sys1 <"$WORK/$name.proc"
  local ticks; ticks=$(getconf CLK_TCK)
  case $field in
    held) jq -r '"\(.connections_held) / \(.connections_target)"' "$f" ;;
    ramp) jq -r '"\(.ramp_seconds * 10 | floor / 10) s"' "$f" ;;
    fps) jq -r '.frames_per_sec | floor' "$f" ;;
    frames) jq -r '"\(.frames) of \(.check.expected)"' "$f" ;;
    lat) jq -r '.latency_ms | "\(.p50) / \(.p99) / \(.max)"' "$f" ;;
    floor) jq -r '.latency_ms | "\(.p50) / \(.p99) / \(.max)"' "$WORK/$name.kafka.json" ;;
    check) jq -r '.check | "\(.lost) / \(.duplicates) / \(.order_violations)"' "$f" ;;
    leaks) jq -r '"\(.check.moderators_leaked) / \(.check.unexpected)"' "$f" ;;
    rss) awk -v a="$rss0" -v b="$rss_idle" 'BEGIN{printf "%.1f → %.1f", a/1024, b/1024}' ;;
    kbconn) awk -v a="$rss0" -v b="$rss_idle" -v n="$(jq -r .connections_ready "$f")" \
      'BEGIN{ if (n > 0) printf "%.1f", (b-a)/n; else print "—" }' ;;
    busy) awk -v a="$rss_busy" -v h="$hwm" 'BEGIN{printf "%.1f / %.1f", a/1024, h/1024}' ;;
    cpu) awk -v c0="$cpu0" -v c1="$cpu1" -v t="$ticks" -v n="$(jq -r .frames "$f")" \
      'BEGIN{ if (n > 0) printf "%.2f", (c1-c0)/t*1e6/n; else print "—" }' ;;
    sys) awk -v c0="$sys0" -v c1="$sys1" -v t="$ticks" -v n="$(jq -r .frames "$f")" \
      'BEGIN{ if (n > 0) printf "%.2f", (c1-c0)/t*1e6/n; else print "—" }' ;;
    cores) awk -v c0="$cpu0" -v c1="$cpu1" -v t="$ticks" -v s="$(jq -r .seconds "$WORK/$name.replay.json")" \
      'BEGIN{ printf "%.2f", (c1-c0)/t/(s+'"$DRAIN"') }' ;;
    quiet) awk -v c0="$quiet0" -v c1="$quiet1" -v t="$ticks" 'BEGIN{ printf "%.2f", (c1-c0)/t/'"$SETTLE"' }' ;;
    client) awk -v c0="$client0" -v c1="$client1" -v t="$ticks" -v s="$(jq -r .seconds "$WORK/$name.replay.json")" \
      'BEGIN{ printf "%.2f", (c1-c0)/t/(s+'"$DRAIN"') }' ;;
    machine) awk -v t0="$total0" -v i0="$idle0" -v t1="$total1" -v i1="$idle1" -v n="$(nproc)" \
      'BEGIN{ if (t1 > t0) printf "%.2f of %d", (1-(i1-i0)/(t1-t0))*n, n; else print "—" }' ;;
  esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a/b; else print "—" }'; }
fps_ratio=$(ratio "$(col parley fps)" "$(col centrifugo fps)")
cpu_ratio=$(ratio "$(col centrifugo cpu)" "$(col parley cpu)")

cat <<TABLE

websocket-sender benchmark — $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $CONNECTIONS connections × $ROOMS_PER_CONN room(s) of $ROOMS; $RATE msg/s for $DURATION s ($COUNT records); server, load client and Kafka share the machine (load average at start: $LOAD)

| measurement | Parley websocket-sender | ${PEER_NAME:-peer (not run)} | target |
|---|---:|---:|---|
| connections held / asked | $(col parley held) | $(col centrifugo held) | all |
| ramp (all subscribed) | $(col parley ramp) | $(col centrifugo ramp) | |
| delivered frames/s | $(col parley fps) | $(col centrifugo fps) | ≥ peer at equal p99 (ratio $fps_ratio) |
| frames delivered of expected | $(col parley frames) | $(col centrifugo frames) | all |
| latency p50 / p99 / max (ms, receive − sent_at) | $(col parley lat) | $(col centrifugo lat) | p99 ≤ 50 ms |
| floor: same records at a bare Kafka consumer, p50 / p99 / max (ms) | $(col parley floor) | $(col centrifugo floor) | |
| lost / duplicates / order violations | $(col parley check) | $(col centrifugo check) | 0 / 0 / 0 |
| moderators-only leaked / unexpected | $(col parley leaks) | $(col centrifugo leaks) | 0 / 0 |
| RSS 0 → N idle connections (MiB) | $(col parley rss) | $(col centrifugo rss) | |
| RSS per idle connection (KB) | $(col parley kbconn) | $(col centrifugo kbconn) | ≤ 10 KB |
| RSS under traffic / peak (MiB) | $(col parley busy) | $(col centrifugo busy) | |
| server CPU per delivered frame (µs) | $(col parley cpu) | $(col centrifugo cpu) | peer/Parley = $cpu_ratio |
| of which in the kernel (µs; socket writes, loopback TCP) | $(col parley sys) | $(col centrifugo sys) | |
| server cores busy with N idle connections (no traffic) | $(col parley quiet) | $(col centrifugo quiet) | |
| server cores busy during traffic | $(col parley cores) | $(col centrifugo cores) | |
| load client cores busy during traffic | $(col parley client) | $(col centrifugo client) | |
| whole machine cores busy during traffic | $(col parley machine) | $(col centrifugo machine) | |

Raw summaries: $WORK/{parley,centrifugo}.json; server logs beside them.
TABLE
