# Parley — the two commands (see README.md):
#   make run    bring the local stack up and run the pipeline on generated traffic
#   make test   install what is missing, bring the stack up, run every test
# Everything else is a helper of those two.

SHELL := /bin/bash
STACK := deploy/local/stack.sh
RATE ?= 2000
DURATION ?=
# Seconds each fuzz target runs in `make test` and `make fuzz`.
FUZZ_SECONDS ?= 20
# make reliability SOAK=1: the long soak (5M messages, 20 kills per worker).
SOAK ?= 0
# make bench QUICK=1: the benchmark suite's few-minute variant.
QUICK ?= 0
BENCH_ARGS ?=

.PHONY: run test check-docs test-chdb test-cluster reliability fuzz validate-deploy install up down status lint unit bench bench-kafka reset

run: install up
	deploy/local/run-pipeline.sh --rate $(RATE) $(if $(DURATION),--duration $(DURATION))

test: install validate-deploy up
	cargo fmt --all -- --check
	$(MAKE) --no-print-directory check-docs
	cargo build --workspace --bins
	cargo clippy --workspace --all-targets -- -D warnings
	mkdir -p .local; set -o pipefail; cargo test --workspace 2>&1 | tee .local/test.log
	$(MAKE) --no-print-directory test-cluster
	$(MAKE) --no-print-directory test-chdb
	mkdir -p .local; set -o pipefail; tests/fuzz.sh $(FUZZ_SECONDS) 2>&1 | tee .local/test-fuzz.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' .local/test.log .local/test-cluster.log

# ClickHouse 26.9 (chdb-core, in-process) against the project's DDL, the
# documented reads, db-writer's RowBinary batches (dumped by its
# rowbinary_dump test) and the insert_deduplication_token path.
test-chdb: install
	mkdir -p .local/rowbinary
	PARLEY_ROWBINARY_DIR=$(CURDIR)/.local/rowbinary cargo test -q -p db-writer --test rowbinary_dump
	set -o pipefail; PARLEY_ROWBINARY_DIR=$(CURDIR)/.local/rowbinary $${PARLEY_VENV:-/var/cache/parley/venv}/bin/python tests/chdb/compat_chdb.py 2>&1 | tee .local/test-chdb.log

# Every relative link in the repository's Markdown files resolves inside
# the clone (files and #anchors), and none leaves it (python3 stdlib only).
check-docs:
	PYTHONDONTWRITEBYTECODE=1 python3 tests/check_links.py

# The tests that need 3 brokers (scale-out proof, and the fault suite's
# fast variant: 200,000 messages, 3 kills per worker): Kafka is restarted in
# 3-broker mode for them, then back in 1-broker mode.
test-cluster: install
	cargo build --workspace --bins
	$(STACK) stop kafka
	$(STACK) up --brokers 3
	mkdir -p .local; set -o pipefail; PARLEY_BROKERS=$$($(STACK) bootstrap) \
	  PARLEY_FAULT_MESSAGES=200000 PARLEY_FAULT_KILLS=3 \
	  cargo test -p parley-tests --test scale_out --test faults -- --ignored --test-threads 1 2>&1 | tee .local/test-cluster.log
	$(STACK) stop kafka
	$(STACK) up

# The reliability suite (tests/reliability.sh): the fault suite at full size
# (1M messages, 10 kills per worker; SOAK=1: 5M and 20), bad inputs and
# configs, WebSocket attacks, fuzzing; a results table in
# .local/results/reliability.md. Stops ClickHouse and brokers: needs the
# stack to itself.
reliability: install up
	cargo build --workspace --bins
	SOAK=$(SOAK) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/reliability.sh

# The cargo-fuzz targets of fuzz/, FUZZ_SECONDS each, on a scratch copy of
# their committed corpora (nightly; own target dir, see tests/fuzz.sh).
fuzz:
	tests/fuzz.sh $(FUZZ_SECONDS)

# Static checks of the Dockerfile, deploy/compose and deploy/k8s (no Docker
# or cluster needed); installs its linters into /var/cache/parley/venv.
validate-deploy:
	deploy/validate.sh

install:
	deploy/local/install.sh

up:
	$(STACK) up

down:
	$(STACK) down

status:
	$(STACK) status

reset:
	$(STACK) reset

unit:
	cargo test --workspace --lib --bins

# The benchmark suite (tests/bench/run.sh): raw limits, peers, each worker
# alone, then all five at once at 20k msg/s with 5,000 WebSocket clients;
# 3 runs each, ✓/✗ against the targets, tests/bench/results/latest/.
# BENCH_ARGS: more flags, e.g. "--runs 1 --no-build" (every script under
# tests/bench/ takes the same flags, see tests/bench/lib.sh or --help).
bench: install up
	tests/bench/run.sh $(if $(filter 1,$(QUICK)),--quick) $(BENCH_ARGS)

bench-kafka: install up
	cargo build --release -p loadgen
	tests/bench/kafka_baseline.sh
