#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time:
#   tests/fuzz.sh [SECONDS_PER_TARGET]     (default 30)
#
# Installs cargo-fuzz if missing, builds all targets (nightly; stable if
# nightly cannot be installed and no sanitizer is asked for) into their own
# target dir (FUZZ_TARGET_DIR, default /var/cache/parley/fuzz-target, so the
# stable build cache is left alone), then runs each target on a scratch copy
# of its committed corpus (fuzz/corpus/<target> is only read: new inputs go
# to the copy). Prints one line per target and a summary line; exits
# non-zero if any target crashed, naming the crash input.
#
# FUZZ_TARGETS     targets to run (default: all, from `cargo fuzz list`)
# FUZZ_SANITIZER   none (default: our crates forbid `unsafe`, and ASan costs
#                  build and run time) or address (needs nightly)
# FUZZ_KEEP=1      keep the scratch dir even when every target passed
# FUZZ_MERGE=1     after a clean run, add the inputs that reach new code
#                  (edges, not hit counts: keeps it small) to fuzz/corpus/
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SECONDS_PER_TARGET=${1:-30}
SANITIZER=${FUZZ_SANITIZER:-none}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-/var/cache/parley/fuzz-target}
log() { printf '[fuzz] %s\n' "$*" >&2; }

if [[ ! $SECONDS_PER_TARGET =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: tests/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi

# cargo-fuzz wants nightly (ASan needs it); without a sanitizer its
# instrumentation flags are stable ones, so stable is the fallback.
TOOLCHAIN=+nightly
if ! rustup toolchain list | grep -q '^nightly'; then
  log "installing the nightly toolchain"
  if ! rustup toolchain install nightly --profile minimal; then
    if [[ $SANITIZER != none ]]; then
      echo "FAIL  fuzz: --sanitizer $SANITIZER needs the nightly toolchain"
      exit 1
    fi
    log "no nightly: building with the default toolchain"
    TOOLCHAIN=+$(rustup show active-toolchain | cut -d' ' -f1)
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$REPO"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/parley-fuzz.XXXXXX")
mkdir -p "$CARGO_TARGET_DIR"
read -r -a TARGETS <<<"${FUZZ_TARGETS:-$(cargo "$TOOLCHAIN" fuzz list | tr '\n' ' ')}"
if ((${#TARGETS[@]} == 0)); then
  echo "FAIL  fuzz: no targets found in $REPO/fuzz"
  exit 1
fi

started=$SECONDS
if ! cargo "$TOOLCHAIN" fuzz build --sanitizer "$SANITIZER" >"$WORK/build.log" 2>&1; then
  tail -n 40 "$WORK/build.log" >&2
  echo "FAIL  fuzz build: see $WORK/build.log"
  echo "fuzz: 0 passed, ${#TARGETS[@]} failed"
  exit 1
fi
log "built the fuzz targets in $((SECONDS - started)) s (sanitizer: $SANITIZER, $CARGO_TARGET_DIR)"
BIN_DIR=$CARGO_TARGET_DIR/$(rustc "$TOOLCHAIN" -vV | sed -n 's/^host: //p')/release

passed=0 failed=0
for target in "${TARGETS[@]}"; do
  seeds=$REPO/fuzz/corpus/$target
  scratch=$WORK/$target
  mkdir -p "$scratch/corpus" "$scratch/artifacts"
  corpora=("$scratch/corpus")
  if [[ -d $seeds ]]; then
    cp -R "$seeds/." "$scratch/corpus/"
    corpora+=("$seeds")
  fi
  # The scratch copy comes first: libFuzzer writes new inputs there only.
  set +e
  "$BIN_DIR/$target" "${corpora[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$scratch/artifacts/" -print_final_stats=1 \
    >"$scratch/fuzz.log" 2>&1
  status=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/fuzz.log" | tail -n 1)
  artifact=$(find "$scratch/artifacts" -type f | head -n 1)
  if ((status == 0)) && [[ -z $artifact ]]; then
    passed=$((passed + 1))
    printf 'ok    fuzz %s: %s runs in %s s\n' "$target" "${runs:-?}" "$SECONDS_PER_TARGET"
    if [[ ${FUZZ_MERGE:-0} == 1 ]]; then
      mkdir -p "$seeds"
      "$BIN_DIR/$target" -merge=1 -use_counters=0 "$seeds" "$scratch/corpus" >"$scratch/merge.log" 2>&1
      log "$target: corpus now $(find "$seeds" -type f | wc -l) files"
    fi
  else
    failed=$((failed + 1))
    printf 'FAIL  fuzz %s: exit %s after %s runs; input %s; log %s\n' \
      "$target" "$status" "${runs:-?}" "${artifact:-(none)}" "$scratch/fuzz.log"
    # The panic message, or libFuzzer's own reason (timeout, out of memory).
    { grep -m 1 -A 3 "panicked at" "$scratch/fuzz.log" || grep -m 1 -A 2 "ERROR: libFuzzer" "$scratch/fuzz.log"; } |
      sed 's/^/      /' || true
    if [[ -n $artifact ]]; then
      echo "      reproduce: $BIN_DIR/$target $artifact"
    fi
  fi
done

echo "fuzz: $passed passed, $failed failed"
if ((failed == 0)) && [[ ${FUZZ_KEEP:-0} != 1 ]]; then
  rm -rf "$WORK"
else
  log "scratch corpora, logs and crash inputs kept in $WORK"
fi
((failed == 0))
