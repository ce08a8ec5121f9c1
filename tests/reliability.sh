#!/usr/bin/env bash
# The reliability suite (issue #8), run by `make reliability`:
#   1. the fault suite (tests/tests/faults/) on the 3-broker stack, full
#      size: 1,000,000 messages, every worker SIGKILLed 10 times, ClickHouse
#      stopped 60 s, a broker killed, a broker restarted (SOAK=1: 5,000,000
#      messages and 20 kills per worker);
#   2. the bad-input and bad-config tests (tests/tests/bad_input/,
#      bad_config.rs, when present) and the WebSocket attack tests;
#   3. every fuzz target (tests/fuzz.sh, FUZZ_SECONDS each).
# Prints a Markdown results table and writes it to .local/results/reliability.md.
# It stops ClickHouse and brokers and switches Kafka to 3 brokers and back to
# 1: run it with the stack to itself: flock -x -o /tmp/parley-stack.lock make
# reliability (-o: the brokers it restarts must not inherit the lock).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
STACK=deploy/local/stack.sh
RESULTS=.local/results
mkdir -p "$RESULTS"
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if [[ ${SOAK:-0} == 1 ]]; then
  export PARLEY_FAULT_MESSAGES=${PARLEY_FAULT_MESSAGES:-5000000}
  export PARLEY_FAULT_KILLS=${PARLEY_FAULT_KILLS:-20}
else
  export PARLEY_FAULT_MESSAGES=${PARLEY_FAULT_MESSAGES:-1000000}
  export PARLEY_FAULT_KILLS=${PARLEY_FAULT_KILLS:-10}
fi
log() { printf '[reliability] %s\n' "$*" >&2; }

# Test results of a cargo log: "passed/total".
passed() { awk '/^test result:/ {p += $4; f += $6} END {printf "%d/%d passed", p, p + f}' "$1"; }

back_to_one_broker() { $STACK stop kafka >/dev/null && $STACK up >/dev/null; }

status=0
rm -f "$RESULTS/reliability-faults.md"
log "fault suite: $PARLEY_FAULT_MESSAGES messages, $PARLEY_FAULT_KILLS kills per worker (3 brokers)"
$STACK stop kafka && $STACK up --brokers 3 || exit 1
trap back_to_one_broker EXIT
PARLEY_BROKERS=$($STACK bootstrap) cargo test -p parley-tests --test faults -- \
  --ignored --test-threads 1 --nocapture 2>&1 | tee .local/reliability-faults.log
faults_rc=${PIPESTATUS[0]}
((faults_rc == 0)) || status=1
back_to_one_broker
trap - EXIT

log "bad inputs, bad configs, WebSocket attacks"
bad_tests=()
for t in bad_input bad_config; do
  [[ -f tests/tests/$t.rs || -f tests/tests/$t/main.rs ]] && bad_tests+=(--test "$t")
done
bad_line="not present"
if ((${#bad_tests[@]})); then
  cargo test -p parley-tests "${bad_tests[@]}" 2>&1 | tee .local/reliability-bad.log
  ((PIPESTATUS[0] == 0)) || status=1
  bad_line="$(passed .local/reliability-bad.log) (${bad_tests[*]//--test /})"
fi
cargo test -p parley-tests --test websocket_sender -- \
  tokens_and_roles_are_enforced a_flooding_client_and_an_address_over_its_limit_are_refused \
  a_reader_that_stops_is_closed_with_4008 2>&1 | tee .local/reliability-attacks.log
((PIPESTATUS[0] == 0)) || status=1

log "fuzz targets, ${FUZZ_SECONDS}s each"
tests/fuzz.sh "$FUZZ_SECONDS" 2>&1 | tee .local/reliability-fuzz.log
((PIPESTATUS[0] == 0)) || status=1

{
  echo "## Reliability ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo
  if [[ -s $RESULTS/reliability-faults.md ]]; then
    cat "$RESULTS/reliability-faults.md"
  else
    echo "Fault suite: no results (see .local/reliability-faults.log)"
  fi
  echo
  echo "| suite | result |"
  echo "|---|---|"
  echo "| faults under load (tests/tests/faults/) | $( ((faults_rc == 0)) && echo passed || echo FAILED) |"
  echo "| bad inputs / bad configs | $bad_line |"
  echo "| WebSocket attacks refused (bad/expired/none tokens, roles, flooding client, per-IP limit, slow reader) | $(passed .local/reliability-attacks.log) |"
  echo "| fuzz targets (${FUZZ_SECONDS} s each) | $(grep -E "^fuzz: " .local/reliability-fuzz.log | tail -1) |"
} >"$RESULTS/reliability.md"
cat "$RESULTS/reliability.md"
exit $status
