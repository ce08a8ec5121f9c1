# syntax=docker/dockerfile:1.7
# Parley: one image holding every worker and tool binary. Pick the binary
# with the container's command (compose `command:`, Kubernetes `command:`),
# e.g. `docker run parley db-writer --help`. Checked statically by
# deploy/validate.sh (hadolint); Docker does not run on our build machines.
#
# Tags are pinned; pin digests (`image:tag@sha256:…`) where builds must be
# reproducible bit for bit.

# --- builder -----------------------------------------------------------------
# The same Debian release as the runtime stage, so the glibc and libssl the
# binaries link against are the ones the runtime image installs.
FROM rust:1.95-bookworm AS builder

# rdkafka builds librdkafka from source (rdkafka-sys without `cmake-build`:
# ./configure + make), linking OpenSSL and zlib dynamically and zstd
# statically. The rust image has gcc and make; these are its headers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Every worker and tool of the workspace (deploy/validate.sh checks that this
# list names each crate under workers/ and tools/). Stripped of debug info:
# the release profile keeps line tables for local profiling only.
ARG PARLEY_BINS="websocket-sender db-writer analytics anomaly-detector parquet-exporter parley-admin loadgen ws-loadclient"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eux; \
    set --; \
    for b in ${PARLEY_BINS}; do set -- "$@" --bin "$b"; done; \
    cargo build --release --locked "$@"; \
    mkdir -p /out; \
    for b in ${PARLEY_BINS}; do \
      cp "target/release/$b" /out/; \
      strip --strip-debug "/out/$b"; \
    done

# --- runtime -----------------------------------------------------------------
FROM debian:12.12-slim

# Runtime libraries of the binaries (see `ldd`): libssl3 (librdkafka TLS,
# HTTPS to ClickHouse/S3), zlib1g (librdkafka), plus CA roots. glibc and
# libgcc are in the base image. No compilers, no package caches.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/*

# Numeric, non-root user (Kubernetes `runAsNonRoot` checks the number).
# /var/lib/parley holds parquet-exporter's local output and S3 spool; a
# volume mounted there inherits this ownership.
RUN groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/parley \
      --no-create-home --shell /usr/sbin/nologin parley \
 && mkdir -p /var/lib/parley/export /var/lib/parley/spool \
 && chown -R 10001:10001 /var/lib/parley

COPY --from=builder /out/ /usr/local/bin/
# A /healthz probe for runtimes without HTTP probes (compose healthchecks):
# bash's /dev/tcp, so the image needs no curl.
COPY --chmod=0755 deploy/docker/parley-healthz /usr/local/bin/parley-healthz
# Moderation rules and word lists (rules name the lists relative to
# themselves). The websocket-sender console and the ClickHouse schema are
# compiled into the binaries.
COPY deploy/anomaly-detector/rules.toml /etc/parley/anomaly-detector/rules.toml
COPY deploy/anomaly-detector/wordlists/ /etc/parley/anomaly-detector/wordlists/

ENV PARLEY_RULES=/etc/parley/anomaly-detector/rules.toml \
    PARLEY_EXPORT_OUT=/var/lib/parley/export \
    PARLEY_LOG_FORMAT=json

WORKDIR /var/lib/parley
USER 10001:10001

# WebSocket (websocket-sender) and the workers' metrics ports (docs/contracts.md).
# Each worker listens on 127.0.0.1 unless told otherwise: containers set
# PARLEY_METRICS_ADDR / PARLEY_WS_LISTEN to 0.0.0.0:<port>.
# No ENTRYPOINT or CMD of ours: every container names the binary it runs.
EXPOSE 8080 9101 9102 9103 9104 9105
