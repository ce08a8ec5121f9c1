# Shared helpers of the benchmark scripts (sourced, not run).
#   REPO, STACK, TARGET, BIN, BS are set; log, now, ratio, create_topic,
#   delete_topics_on_exit and drain are defined.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=$REPO/deploy/local/stack.sh
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release
BS=$("$STACK" bootstrap)
BENCH_TOPICS=()

log() { printf '[bench] %s\n' "$*" >&2; }
now() { date +%s.%N; }
# ratio A B → A/B with two decimals, or — when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "—" }'; }

# create_topic NAME PARTITIONS — deleted again when the script exits.
create_topic() {
  "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create \
    --topic "$1" --partitions "$2" --replication-factor 1 >/dev/null
  BENCH_TOPICS+=("$1")
}
delete_bench_topics() {
  for topic in "${BENCH_TOPICS[@]}"; do
    "$STACK" kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --delete --topic "$topic" >/dev/null 2>&1 || true
  done
}

# drain EXPECTED METRICS_PORT LOG -- COMMAND… : starts a worker, waits until
# its parley_records_processed_total reaches EXPECTED, stops it, and prints
# "seconds msg_per_s cpu_us_per_msg peak_rss_mib" (CPU from the process's
# own user+sys time, robust on a noisy machine).
drain() {
  local expected=$1 port=$2 logfile=$3
  shift 4
  local start end pid done_records utime stime rss_kb
  start=$(now)
  "$@" >"$logfile" 2>&1 &
  pid=$!
  while :; do
    done_records=$(curl -fsS "127.0.0.1:$port/metrics" 2>/dev/null | awk '/^parley_records_processed_total/{print $2}' || true)
    [[ ${done_records:-0} -ge $expected ]] && break
    kill -0 "$pid" 2>/dev/null || { log "worker died; see $logfile"; return 1; }
    sleep 0.1
  done
  end=$(now)
  read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
  rss_kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  awk -v s="$start" -v e="$end" -v n="$expected" -v u="$utime" -v st="$stime" \
      -v t="$(getconf CLK_TCK)" -v k="$rss_kb" \
      'BEGIN{d=e-s; printf "%.2f %.0f %.2f %.0f\n", d, n/d, (u+st)/t*1e6/n, k/1024}'
}
