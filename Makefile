# Parley — the two commands (see README.md):
#   make run    bring the local stack up and run the pipeline on generated traffic
#   make test   install what is missing, bring the stack up, run every test
# Everything else is a helper of those two.

SHELL := /bin/bash
STACK := deploy/local/stack.sh
RATE ?= 2000
DURATION ?=

.PHONY: run test install up down status lint unit bench-kafka reset

run: install up
	deploy/local/run-pipeline.sh --rate $(RATE) $(if $(DURATION),--duration $(DURATION))

test: install up
	cargo fmt --all -- --check
	cargo build --workspace --bins
	cargo clippy --workspace --all-targets -- -D warnings
	mkdir -p .local; set -o pipefail; cargo test --workspace 2>&1 | tee .local/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' .local/test.log

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

bench-kafka: install up
	cargo build --release -p loadgen
	tests/bench/kafka_baseline.sh
