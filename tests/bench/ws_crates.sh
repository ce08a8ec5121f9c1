#!/usr/bin/env bash
# WebSocket crate benchmark for websocket-sender: axum 0.8 `ws`
# (tokio-tungstenite) against fastwebsockets, on websocket-sender's fan-out
# pattern, measured in the same run on this machine, printed as Markdown.
#
# Each run is one `ws-crate-bench` process (tools/ws-crate-bench): it starts
# the server under test as its own child process on a one-thread runtime
# (figures are per core), reads its RSS with 0 connections, opens N
# tokio-tungstenite clients (one client thread) that each wait for their
# subscription reply, reads the RSS again (→ KiB per idle connection), then
# has the server broadcast one pre-encoded ~300-byte JSON frame (shared
# bytes) per message to every connection through a per-connection
# byte-bounded outbox and writer task, at RATE msg/s for DURATION s. The
# clients check order by sequence number and latency from the send time in
# the frame. Server CPU (utime+stime of its process) ÷ delivered frames.
#
# Servers (SERVERS): `axum` is configured exactly as websocket-sender is
# (write_buffer_size(0): each frame is its own write); `fastwebsockets` is
# its counterpart over hyper 1 (fastwebsockets has no `feed`: each frame is
# its own write); the `-buffered` variants batch a writer's queued frames
# into one write (axum: write_buffer_size(8 KiB); fastwebsockets: an 8 KiB
# BufWriter), to show what the write path, not the crate, is worth.
#
# Loads (LOADS, connections:msgs/s): 5000:10 is a busy room well under one
# core (latency means something); 5000:200 and 1000:2000 offer 1 M and 2 M
# frames/s, more than one core can write, so they measure capacity (their
# latency is the 1 MiB queue filling up, and 1000:2000 drops frames at full
# queues; websocket-sender would close such connections as slow).
#
# Runs are interleaved (rep → load → server), each waits for the machine to
# be quiet (other processes below QUIET_CORES busy cores, at most QUIET_WAIT
# s) and holds the benchmark lock. The table gives min / median / max over
# the repetitions and the ratios of the medians. CPU µs per frame is the
# figure to trust on a shared machine; "others' cores" shows how shared it
# was.
#
#   tests/bench/ws_crates.sh [--quick] [--runs N] [--duration S] [--no-build]
# --runs: repetitions (3; --quick: 1), --duration: seconds each (15; --quick:
# 5). Flags and their environment fallbacks: tests/bench/lib.sh (REPS is
# still read as RUNS' fallback). Env only: LOADS ("5000:10 5000:200
# 1000:2000"), SERVERS ("axum fastwebsockets axum-buffered
# fastwebsockets-buffered"), PAYLOAD_BYTES (300), SERVER_THREADS (1),
# BENCH_LOCK (/tmp/parley-bench.lock), QUIET_CORES (0.4), QUIET_WAIT (120 s).
# Needs no stack: everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BENCH_FLAGS=(quick runs duration no-build)
bench_args "$@"
bench_default RUNS "${REPS:-3}" "${REPS:-1}"
bench_default DURATION 15 5
REPS=$RUNS
LOADS=${LOADS:-"5000:10 5000:200 1000:2000"}
SERVERS=${SERVERS:-"axum fastwebsockets axum-buffered fastwebsockets-buffered"}
PAYLOAD_BYTES=${PAYLOAD_BYTES:-300}
SERVER_THREADS=${SERVER_THREADS:-1}
BENCH_LOCK=${BENCH_LOCK:-/tmp/parley-bench.lock}
QUIET_CORES=${QUIET_CORES:-0.4}
QUIET_WAIT=${QUIET_WAIT:-120}

bench_build -p parley-bench --bin ws-crate-bench

ulimit -n "$(ulimit -Hn)"
FDS=$(ulimit -n)
for load in $LOADS; do
  if ((${load%%:*} + 1000 > FDS)); then
    log "open-file limit is $FDS: $load needs ${load%%:*} + 1000"; exit 1
  fi
done

WORK=$(mktemp -d /tmp/parley-bench-ws-crates.XXXXXX)
RUNS_FILE=$WORK/runs.jsonl
: >"$RUNS_FILE"
TICKS=$(getconf CLK_TCK)
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
# Waits (at most QUIET_WAIT s) until the machine's busy cores over 2 s are
# at most QUIET_CORES; logs when it gives up.
wait_quiet() {
  local waited=0 b0 b1 cores
  while :; do
    b0=$(busy_ticks); sleep 2; b1=$(busy_ticks)
    cores=$(awk -v a="$b0" -v b="$b1" -v t="$TICKS" 'BEGIN{printf "%.2f", (b-a)/t/2}')
    if awk -v c="$cores" -v q="$QUIET_CORES" 'BEGIN{exit !(c <= q)}'; then return; fi
    if ((waited >= QUIET_WAIT)); then
      log "machine still busy ($cores cores) after ${QUIET_WAIT}s; measuring anyway"; return
    fi
    sleep 3; waited=$((waited + 5))
  done
}

log "work dir $WORK; $REPS × {$LOADS} × {$SERVERS}, $DURATION s each"
for ((rep = 1; rep <= REPS; rep++)); do
  for load in $LOADS; do
    conns=${load%%:*} rate=${load##*:}
    for server in $SERVERS; do
      wait_quiet
      log "rep $rep/$REPS, $conns connections × $rate msg/s, $server"
      if flock "$BENCH_LOCK" timeout $((DURATION * 4 + 240)) "$BIN/ws-crate-bench" --server "$server" \
        --connections "$conns" --rate "$rate" --duration "$DURATION" \
        --payload-bytes "$PAYLOAD_BYTES" --server-threads "$SERVER_THREADS" \
        >"$WORK/run.json" 2>>"$WORK/bench.log"; then
        jq -c --arg load "$load" --argjson rep "$rep" '. + {load: $load, rep: $rep}' "$WORK/run.json" >>"$RUNS_FILE"
        log "  $(jq -c '{fps: .delivered_frames_per_sec, p99: .latency_ms.p99, cpu_us: .server_cpu_us_per_frame, kib_conn: .rss_kib_per_idle_connection, others: .other_cores_busy}' "$WORK/run.json")"
      else
        log "  run failed; see $WORK/bench.log"
      fi
    done
  done
done

# stat SERVER LOAD FIELD (jq path) MODE: MODE "cell" → "min / med / max",
# "median" → the median alone (— when there is no run).
stat() {
  jq -rs --arg s "$1" --arg l "$2" --arg f "$3" --arg mode "$4" '
    def fmt: if . >= 1000 then round | tostring
             elif . >= 10 then (. * 10 | round) / 10 | tostring
             else (. * 100 | round) / 100 | tostring end;
    [.[] | select(.server == $s and .load == $l) | getpath($f | split("."))] | sort
    | if length == 0 then "—" else
        (if length % 2 == 1 then .[length / 2 | floor]
         else (.[length / 2 - 1] + .[length / 2]) / 2 end) as $med
        | if $mode == "median" then $med
          else "\(.[0] | fmt) / \($med | fmt) / \(.[-1] | fmt)" end
      end' "$RUNS_FILE"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a ~ /^[0-9.e+-]+$/ && b ~ /^[0-9.e+-]+$/ && b > 0) printf "%.2f", a/b; else print "—" }'; }

# Which resolved crates offer permessage-deflate (from cargo's own view of
# Cargo.lock; fastwebsockets states it in its README).
deflate_support() {
  local meta
  meta=$(cd "$REPO" && cargo metadata --format-version 1 2>/dev/null) || { echo "- (cargo metadata failed)"; return; }
  jq -r '.packages[] | select(.name | test("^(tungstenite|tokio-tungstenite|fastwebsockets|axum)$"))
    | "- \(.name) \(.version): " + ([.features | keys[] | select(test("deflate|compress"))]
      | if length > 0 then "feature(s) \(join(", "))" else "no deflate/compression feature" end)' <<<"$meta" | sort -u
  local readme
  readme=$(jq -r '.packages[] | select(.name == "fastwebsockets") | .manifest_path' <<<"$meta" | head -1)
  readme=$(dirname "$readme")/README.md
  if [[ -f $readme ]] && grep -qi 'permessage-deflate is not supported' "$readme"; then
    echo "- fastwebsockets README: \"$(grep -io 'permessage-deflate is not supported[^.]*' "$readme" | head -1)\""
  fi
}

printf '\nWebSocket crates on websocket-sender'"'"'s fan-out — %s cores, %s GiB, load average at start %s; %s-byte frames; server on %s thread(s), clients on 1; %s repetition(s) of %s s; cells are min / median / max.\n\n' \
  "$(nproc)" "$(free -g | awk '/Mem:/{print $2}')" "$LOAD_AT_START" "$PAYLOAD_BYTES" "$SERVER_THREADS" "$REPS" "$DURATION"
header="| load | measurement |"
rule="|---|---|"
for server in $SERVERS; do header+=" $server |"; rule+="---:|"; done
has() { [[ " $SERVERS " == *" $1 "* ]]; }
pairs=()
has axum && has fastwebsockets && pairs+=("fastwebsockets:axum")
has axum-buffered && has fastwebsockets-buffered && pairs+=("fastwebsockets-buffered:axum-buffered")
for pair in "${pairs[@]}"; do header+=" ${pair%%:*} ÷ ${pair##*:} |"; rule+="---:|"; done
echo "$header"
echo "$rule"
METRICS=(
  "delivered frames/s|delivered_frames_per_sec"
  "latency p99 (ms)|latency_ms.p99"
  "server CPU per frame (µs)|server_cpu_us_per_frame"
  "RSS per idle connection (KiB)|rss_kib_per_idle_connection"
  "frames lost (of offered)|losses"
  "others' cores busy meanwhile|other_cores_busy"
)
for load in $LOADS; do
  label="${load%%:*} conns × ${load##*:} msg/s"
  for metric in "${METRICS[@]}"; do
    name=${metric%%|*} field=${metric##*|}
    row="| $label | $name |"
    for server in $SERVERS; do row+=" $(stat "$server" "$load" "$field" cell) |"; done
    for pair in "${pairs[@]}"; do
      row+=" $(ratio "$(stat "${pair%%:*}" "$load" "$field" median)" "$(stat "${pair##*:}" "$load" "$field" median)") |"
    done
    echo "$row"
  done
done
printf '\npermessage-deflate:\n'
deflate_support
printf '\nRaw runs (one JSON line each): %s\n' "$RUNS_FILE"
