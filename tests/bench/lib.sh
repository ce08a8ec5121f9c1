# Shared helpers of the benchmark scripts (sourced, not run).
#   REPO, STACK, TARGET, BIN, BS are set; the argument parser (bench_args,
#   bench_default, bench_usage, bench_build) and log, now, ratio,
#   create_topic, delete_bench_topics, drain and the rest are defined.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK=$REPO/deploy/local/stack.sh
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release
BS=$("$STACK" bootstrap)
BENCH_TOPICS=()

# ---- Arguments: one style for every benchmark script -----------------------
# A script lists the flags it takes in BENCH_FLAGS and calls
# `bench_args "$@"`; any other flag prints its usage and exits 2. A value
# flag falls back on the environment variable of the same name (the flag
# wins), so `RUNS=1 tests/bench/run.sh` and `run.sh --runs 1` are the same:
#   --quick           QUICK=1     the script's few-minute variant
#   --runs N          RUNS        repetitions
#   --count N         COUNT       preloaded messages
#   --rate N          RATE        offered messages/s
#   --duration S      DURATION    seconds of traffic
#   --connections N   CONNECTIONS WebSocket clients
#   --rooms N         ROOMS       rooms the traffic spreads over
#   --no-build        PARLEY_BENCH_NO_BUILD=1: the release binaries as they are
#   --skip-peer       PEER=0      leave the peer out
#   --skip-parley     PARLEY=0    leave Parley's server out
#   -h, --help        print the script's header (what it measures, its flags)
# A value neither flag nor environment gave stays empty until the script's
# `bench_default VAR FULL [QUICK]`.
BENCH_FLAGS=()
bench_args() {
  QUICK=${QUICK:-0} PEER=1 PARLEY=1 BUILD=1
  [[ -z ${PARLEY_BENCH_NO_BUILD:-} ]] || BUILD=0
  local flag var
  while (($#)); do
    flag=$1
    case $flag in
      -h | --help) bench_usage; exit 0 ;;
    esac
    if [[ " ${BENCH_FLAGS[*]} " != *" ${flag#--} "* ]]; then
      log "unknown flag for $(basename "$0"): $flag"
      bench_usage >&2
      exit 2
    fi
    case $flag in
      --quick) QUICK=1 ;;
      --no-build) BUILD=0; export PARLEY_BENCH_NO_BUILD=1 ;;
      --skip-peer) PEER=0 ;;
      --skip-parley) PARLEY=0 ;;
      *)
        var=${flag#--}
        var=${var^^}
        [[ ${2:-} =~ ^[0-9]+$ ]] || { log "$flag needs a number, got '${2:-}'"; exit 2; }
        printf -v "$var" '%s' "$2"
        shift
        ;;
    esac
    shift
  done
}

# bench_default VAR FULL [QUICK] → VAR keeps the value its flag or the
# environment gave; else QUICK under --quick (when given), else FULL.
bench_default() {
  local -n value=$1
  [[ -z ${value:-} ]] || return 0
  if ((QUICK)) && (($# > 2)); then value=$3; else value=$2; fi
}

# bench_usage → the running script's header comment (from line 2 to the
# first line that is not a comment).
bench_usage() {
  awk 'NR == 1 {next} /^#/ {sub(/^# ?/, ""); print; next} {exit}' "$0"
}

# bench_build CARGO_ARGS… → cargo build --release -q CARGO_ARGS…, unless
# --no-build (or PARLEY_BENCH_NO_BUILD, which run.sh sets for the scripts it
# calls after building the workspace once).
bench_build() {
  ((BUILD)) || return 0
  (cd "$REPO" && cargo build --release -q "$@")
}

log() { printf '[bench] %s\n' "$*" >&2; }
# thousands N → N with a comma every three digits, whatever the locale.
thousands() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
now() { date +%s.%N; }
# ratio A B → A/B with two decimals, or — when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "—" }'; }

# metric PORT NAME → the largest series of a metric on a worker's /metrics
# (the main group's; anomaly-detector also counts its internal by-game
# group's), 0 when it cannot be read.
metric() {
  # Not up yet: no series, 0 (one line: under pipefail a failed curl must
  # not add a second "0").
  { curl -fsS "127.0.0.1:$1/metrics" 2>/dev/null || true; } |
    awk -v m="$2" '($1 == m || index($1, m "{") == 1) && $2 > x {x = $2} END {printf "%.0f\n", x}'
}

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
    done_records=$(metric "$port" parley_records_processed_total)
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

ch() { clickhouse-client --host 127.0.0.1 --port 9000 "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM/{print $2}' "/proc/$1/status"; }

# machine → one line: cores, memory, kernel, load average.
machine() {
  printf '%s cores, %s GiB RAM, Linux %s, load average %s' "$(nproc)" \
    "$(free -g | awk '/Mem:/{print $2}')" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# wait_rows DB COUNT TIMEOUT_S → "ok", or "timeout:ROWS" when DB.messages
# has fewer than COUNT rows after TIMEOUT_S seconds.
wait_rows() {
  local db=$1 count=$2 limit=$3 start n
  start=$(now)
  while :; do
    n=$(ch -q "SELECT count() FROM $db.messages" 2>/dev/null || echo 0)
    ((n >= count)) && { echo ok; return; }
    if awk -v s="$start" -v n="$(now)" -v l="$limit" 'BEGIN{exit !(n-s > l)}'; then
      echo "timeout:$n"; return
    fi
    sleep 0.2
  done
}

# ch_kafka_engine_peer DB TOPIC COUNT → "seconds msg_per_s" of ClickHouse's
# own Kafka table engine + materialized view draining TOPIC into DB.messages
# (db-writer's table shape; DB is created and dropped), or fails after 900 s.
ch_kafka_engine_peer() {
  local db=$1 topic=$2 count=$3 group="ch-peer-$1" start end state
  # The engine starts from the end of the topic; point its group at the start.
  "$STACK" kafka-tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BS" \
    --group "$group" --topic "$topic" --reset-offsets --to-earliest --execute >/dev/null
  "$BIN/db-writer" --migrate --clickhouse-database "$db" >/dev/null
  # `meta` is not parsed: 18.16's JSONEachRow cannot read an object into String.
  ch -q "CREATE TABLE $db.queue (message_id String, v UInt32, game_id String, room_id String,
           user_id String, user_name Nullable(String), kind String, content String, sent_at Int64,
           visibility String)
         ENGINE = Kafka('$BS', '$topic', '$group', 'JSONEachRow')"
  start=$(now)
  ch -q "CREATE MATERIALIZED VIEW $db.consumer TO $db.messages AS
         SELECT message_id, v, game_id, room_id, user_id, user_name, kind, content, sent_at,
                if(visibility = '', 'all', visibility) AS visibility, '' AS meta,
                toInt32(0) AS kafka_partition, toInt64(0) AS kafka_offset, now() AS ingested_at
         FROM $db.queue"
  state=$(wait_rows "$db" "$count" 900)
  end=$(now)
  ch -q "DROP TABLE $db.consumer" >/dev/null; ch -q "DROP TABLE $db.queue" >/dev/null
  ch -q "DROP DATABASE IF EXISTS $db" >/dev/null
  [[ $state == ok ]] || { log "ClickHouse Kafka engine did not finish in 900 s ($state rows)"; return 1; }
  awk -v s="$start" -v e="$end" -v n="$count" 'BEGIN{d=e-s; printf "%.2f %.0f\n", d, n/d}'
}

# content_rules DIR → DIR/rules.toml: 500 content rules from the shipped word
# lists (every fifth with a regex) plus the shipped behavioural rules; the
# word lists are copied beside it.
content_rules() {
  cp -r "$REPO/deploy/anomaly-detector/wordlists" "$1/"
  python3 - "$REPO/deploy/anomaly-detector" "$1/rules.toml" <<'PY'
import json, re, sys
src, out = sys.argv[1], sys.argv[2]
words = []
for name in ("profanity.txt", "insults.txt"):
    for line in open(f"{src}/wordlists/{name}", encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            words.append(line)
rules = []
for i in range(500):
    chunk = words[i::500] or [words[i % len(words)]]
    rule = [f'[[rule]]\nname = "content-{i}"\nkind = "content"\ncategory = "toxicity"\nseverity = "warning"',
            "keywords = " + json.dumps(chunk, ensure_ascii=False),
            'allow_files = ["wordlists/allow.txt"]']
    if i % 5 == 0:
        rule.append("patterns = [" + json.dumps(rf"\bpromo{i}[a-z]*\b") + "]")
    rules.append("\n".join(rule))
shipped = open(f"{src}/rules.toml", encoding="utf-8").read()
others = [b for b in re.split(r"\n(?=\[\[rule\]\])", shipped) if b.startswith("[[rule]]") and 'kind = "content"' not in b]
open(out, "w", encoding="utf-8").write("\n\n".join(rules + others) + "\n")
PY
}

# The incident mix of the anomaly-detector benchmarks (per 10,000 records).
INCIDENTS=(--incident flood=1 --incident repetition=1 --incident spam=0.5 --incident links=1
  --incident caps=1 --incident toxicity=2 --incident raid=0.2)

# by_game_args NAME → BY_GAME: anomaly-detector's extra flags, a fresh
# internal by-game topic NAME (12 partitions, deleted on exit) when this
# build has one.
BY_GAME=()
by_game_args() {
  BY_GAME=()
  if "$BIN/anomaly-detector" --help 2>/dev/null | grep -q -- '--by-game-topic'; then
    create_topic "$1" 12
    BY_GAME=(--by-game-topic "$1")
  fi
}
