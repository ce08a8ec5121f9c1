#!/usr/bin/env python3
"""The benchmark suite's report (tests/bench/run.sh writes its inputs).

report.py RESULTS_DIR [--docs FILE] [--no-charts] reads RESULTS_DIR/figures.tsv
(run, key, value), lag.csv (per-second samples of the all-at-once runs) and
machine.txt, and writes RESULTS_DIR/results.md (min / median / max of every
figure over the runs, the ratios to the limits and peers computed within each
run, the issue's targets with ✓/✗), lag.png and throughput.png. It prints
results.md.

--docs FILE also writes FILE (docs/benchmarks.md): what the suite measures and
how to run it, then the same tables, with the charts linked relative to FILE.
--no-charts keeps the charts already in RESULTS_DIR instead of drawing them
(no matplotlib needed). Works offline on committed results:

    tests/bench/report.py tests/bench/results/latest --no-charts --docs docs/benchmarks.md
"""

import argparse
import csv
import math
import os
import statistics
from collections import defaultdict
from pathlib import Path
import sys

WORKERS = ["db-writer", "parquet-exporter", "analytics", "anomaly-detector", "websocket-sender"]
# Where each worker's sizing notes are (named in the reasons of missed targets).
NOTES = {w: f"workers/{w}/README.md" for w in ["db-writer", "parquet-exporter", "analytics",
                                                "anomaly-detector", "websocket-sender"]}
SHORT = {"raw.consume": "raw consume", "ch.insert": "raw insert", "pyarrow.write": "pyarrow"}


def load(out):
    runs = defaultdict(dict)
    with open(out / "figures.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                value = float(row["value"].replace(",", ""))
            except ValueError:
                continue
            if not math.isnan(value):
                runs[int(row["run"])][row["key"]] = value
    lag = defaultdict(lambda: defaultdict(list))
    lag_path = out / "lag.csv"
    if lag_path.exists():
        with open(lag_path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                try:
                    t, produced, consumed = float(row["t"]), int(row["produced"]), int(row["consumed"])
                except ValueError:
                    continue
                lag[int(row["run"])][row["worker"]].append((t, max(produced - consumed, 0)))
    return runs, lag


class Figures:
    """Per-run values of every figure, and ratios computed within each run."""

    def __init__(self, runs, lag):
        self.runs = runs
        for run, values in runs.items():
            rate = values.get("aio.achieved") or values.get("aio.offered")
            start = values.get("aio.start", 0)
            for worker, samples in lag.get(run, {}).items():
                # Lag while the traffic flows and after: records behind ÷ the offered rate.
                during = [l for t, l in samples if t >= start]
                if during and rate:
                    values[f"aio.{worker}.max_lag_s"] = max(during) / rate

    def values(self, key):
        return [v[key] for _, v in sorted(self.runs.items()) if key in v]

    def ratio(self, num, den):
        """num ÷ den within each run; den may be a tuple (its minimum)."""
        out = []
        for _, v in sorted(self.runs.items()):
            dens = den if isinstance(den, tuple) else (den,)
            if num in v and all(d in v for d in dens):
                d = min(v[d] for d in dens)
                if d > 0:
                    out.append(v[num] / d)
        return out


def mmm(values, fmt="{:,.0f}"):
    """'min / median / max' (or the one value) of a list."""
    if not values:
        return "—"
    if len(values) == 1:
        return fmt.format(values[0])
    return " / ".join(fmt.format(x) for x in (min(values), statistics.median(values), max(values)))


def med(values):
    return statistics.median(values) if values else None


def check(ok):
    return "—" if ok is None else ("✓" if ok else "✗")


def pq_cores_reason(fig):
    """Why the exporter misses its ratio: the cores its CPU per message needs at the target rate."""
    needed = []
    for _, v in sorted(fig.runs.items()):
        if all(k in v for k in ("pq.cpu_us", "raw.consume", "pyarrow.write")):
            needed.append(0.7 * min(v["raw.consume"], v["pyarrow.write"]) * v["pq.cpu_us"] / 1e6)
    cores = f"{med(needed):.1f} cores" if needed else "more cores than the machine has"
    return (f"CPU-bound: at its own CPU per message, 0.70 × min(raw consume, pyarrow) needs {cores} "
            "for the exporter alone, on a 2-core machine shared with the broker; JSON decoding and "
            f"Arrow building are work neither peer does; see {NOTES['parquet-exporter']}, Sizing")


def floors(fig):
    """'a / b' per run: the bare-consumer p99 floor during Parley's and the peer's runs."""
    mine, peer = fig.values("ws.floor_p99_ms"), fig.values("wspeer.floor_p99_ms")
    if not mine or not peer:
        return "not measured"
    return ", ".join(f"{a:.0f} / {b:.0f}" for a, b in zip(mine, peer))


def throughput_table(fig):
    rows = [
        ("Kafka ProducerPerformance (acks=all, lz4)", "kafka.producer_perf", None, None),
        ("loadgen produce (acks=all, lz4)", "kafka.loadgen", None, None),
        ("Kafka ConsumerPerformance (fetch phase)", "kafka.consumer_perf", None, None),
        ("raw consume: bare rdkafka loop", "raw.consume", None, None),
        ("raw insert: clickhouse-client RowBinary", "ch.insert", None, None),
        ("peer: ClickHouse Kafka engine + MV", "ch.kafka_engine", None, None),
        ("**db-writer** drain", "dw.rate", ("raw.consume", "ch.insert"), "ch.kafka_engine"),
        ("raw limit / peer: pyarrow write_table (zstd)", "pyarrow.write", None, None),
        ("**parquet-exporter** drain", "pq.rate", ("raw.consume", "pyarrow.write"), "pyarrow.write"),
        ("**analytics** drain", "an.rate", ("raw.consume",), None),
        ("raw limit: bare RegexSet, 500 rules", "regexset.scan", None, None),
        ("**anomaly-detector** drain (500 rules)", "ad.rate", ("regexset.scan",), None),
        ("peer: Centrifuge 0.15 server, frames/s", "wspeer.fps", None, None),
        ("**websocket-sender**, frames/s", "ws.fps", None, "wspeer.fps"),
    ]
    cpu = {"dw.rate": "dw", "pq.rate": "pq", "an.rate": "an", "ad.rate": "ad"}
    lines = [
        "| figure | msg/s min / median / max | CPU µs/msg | peak RSS MiB | ÷ limit | ÷ peer |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, key, limit, peer in rows:
        c = r = "" if key not in cpu else None
        if key in cpu:
            c = mmm(fig.values(cpu[key] + ".cpu_us"), "{:.2f}")
            r = mmm(fig.values(cpu[key] + ".rss_mib"))
        elif key == "ws.fps" or key == "wspeer.fps":
            side = key.split(".")[0]
            c = mmm(fig.values(side + ".cpu_us_frame"), "{:.2f}") + " per frame"
        lim = mmm(fig.ratio(key, limit), "{:.2f}") if limit else ""
        if limit and len(limit) > 1:
            lim += " (of the lower: " + ", ".join(SHORT[l] for l in limit) + ")"
        pr = mmm(fig.ratio(key, peer), "{:.2f}") if peer and peer != key else ""
        lines.append(f"| {label} | {mmm(fig.values(key))} | {c} | {r} | {lim} | {pr} |")
    return lines


def ws_cpu_reason(fig):
    """Why websocket-sender's CPU per frame is what it is, from the run's figures."""
    kernel = fig.values("ws.sys_us_frame")
    peer, peer_kernel = fig.values("wspeer.cpu_us_frame"), fig.values("wspeer.sys_us_frame")
    text = "each frame is its own WebSocket write to one client"
    if kernel:
        text += (f": {med(kernel):.2f} µs of it in the kernel, the write and loopback TCP delivering into "
                 "the load client's socket (~30 % of the server's CPU by perf: a real network does that "
                 "on the client's machine)")
    if peer:
        text += f"; the peer {med(peer):.2f} µs"
        if peer_kernel:
            text += f" ({med(peer_kernel):.2f} in the kernel)"
    return text + f"; see {NOTES['websocket-sender']}"


def aio_table(fig):
    lines = [
        "| group | max lag (s behind) | caught up after the last record (s) | CPU µs/msg | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in WORKERS:
        lines.append(
            f"| {w} | {mmm(fig.values(f'aio.{w}.max_lag_s'), '{:.2f}')} | {mmm(fig.values(f'aio.{w}.catchup_s'), '{:.1f}')} "
            f"| {mmm(fig.values(f'aio.{w}.cpu_us'), '{:.2f}')} | {mmm(fig.values(f'aio.{w}.rss_mib'))} |"
        )
    lines += [
        "",
        "| all at once | min / median / max |",
        "|---|---:|",
        f"| offered rate (msg/s) | {mmm(fig.values('aio.offered'))} |",
        f"| achieved by the producer (msg/s) | {mmm(fig.values('aio.achieved'))} |",
        f"| WebSocket clients held | {mmm(fig.values('aio.ws.held'))} |",
        f"| WebSocket frames/s delivered | {mmm(fig.values('aio.ws.fps'))} |",
        f"| WebSocket latency p50 (ms) | {mmm(fig.values('aio.ws.p50_ms'))} |",
        f"| WebSocket latency p99 (ms) | {mmm(fig.values('aio.ws.p99_ms'))} |",
        f"| WebSocket frames lost (of those expected) | {mmm(fig.values('aio.ws.lost'))} (of {mmm(fig.values('aio.ws.expected'))}) |",
        f"| WebSocket connections dropped during the run | {mmm(fig.values('aio.ws.dropped'))} |",
        f"| whole machine: cores busy while sending | {mmm(fig.values('aio.machine_cores'), '{:.2f}')} |",
    ]
    return lines


PUB_RATES = [1000, 10000]
PUB_SIDES = [("pub", "Parley: A → Kafka → B"), ("pubnats", "Centrifugo, 2 nodes + NATS"),
             ("pubmem", "Centrifugo, 1 node, memory broker")]


def publish_table(fig):
    """Publishing players (publish.sh): Parley and the two Centrifugo set-ups, per rate."""
    if not any(fig.values(f"{side}.{rate}.ack_p99_ms") for side, _ in PUB_SIDES for rate in PUB_RATES):
        return ["Not measured in this run (tests/bench/publish.sh)."]
    lines = ["| figure | " + " | ".join(name for _, name in PUB_SIDES) + " |",
             "|---|" + "---:|" * len(PUB_SIDES)]
    rows = [
        ("publishes sent per second", "sent_rate", "{:,.0f}"),
        ("publish→ack p50 (ms)", "ack_p50_ms", "{:.1f}"),
        ("publish→ack p99 (ms)", "ack_p99_ms", "{:.1f}"),
        ("reference: Kafka's own Java producer at this rate, acks=all, p50 (ms)", "floor_p50_ms", "{:.1f}"),
        ("reference: … p99 (ms; a fresh JVM, its warm-up included)", "floor_p99_ms", "{:.1f}"),
        ("publish→delivered on the other instance p50 (ms)", "del_p50_ms", "{:.1f}"),
        ("publish→delivered on the other instance p99 (ms)", "del_p99_ms", "{:.1f}"),
        ("deliveries lost", "lost", "{:,.0f}"),
        ("server CPU per published message (µs, A + B)", "cpu_us", "{:.1f}"),
        ("… with the broker's CPU (µs; Kafka / NATS)", "cpu_broker_us", "{:.1f}"),
        ("… above the idle servers' own (µs)", "cpu_above_idle_us", "{:.1f}"),
        ("published messages per server CPU-second", "per_cpu", "{:,.0f}"),
        ("load client cores busy", "client_cores", "{:.2f}"),
        ("whole machine cores busy (of 2)", "machine_cores", "{:.2f}"),
    ]
    for rate in PUB_RATES:
        for label, key, fmt in rows:
            cells = [mmm(fig.values(f"{side}.{rate}.{key}"), fmt) for side, _ in PUB_SIDES]
            lines.append(f"| {rate:,}/s: {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "An acknowledgement means different things: Parley answers `published` after Kafka wrote the",
        "record with acks=all (durable, read back by every instance); Centrifugo answers once its",
        "broker took the publication — NATS (at-most-once, nothing kept) across two nodes, or its",
        "own memory on one node, where publisher and listener share the node. A latency of",
        "10000.0 ms is the load client's histogram cap (10 s or more). Each run's full table,",
        "with connections dropped and publishes left unanswered, is in publish-run*.md beside",
        "the results.",
    ]
    return lines


def publish_reason(fig, see):
    """Why the publish latency targets are missed, from the same run's floor and machine load."""
    parts = []
    floor = med(fig.values("pub.10000.floor_p99_ms"))
    if floor is not None:
        parts.append(f"every Parley ack waits for Kafka (acks=all): Kafka's own Java producer at 10,000/s with "
                     f"the same settings, on this machine in the same run, had p99 {floor:.0f} ms")
    machine = med(fig.values("pub.10000.machine_cores"))
    if machine is not None:
        parts.append(f"{machine:.2f} of 2 cores busy during Parley's run")
    peers = [(name, med(fig.values(f"{side}.10000.ack_p99_ms"))) for side, name in PUB_SIDES[1:]]
    peers = [f"{name} {v:.0f} ms" for name, v in peers if v is not None]
    if peers:
        parts.append("ack p99 of " + ", ".join(peers) + " in the same run")
    return "; ".join(parts + [see])


def cpu_reason(fig, peer, rate, see):
    """Why Parley's CPU per published message is above a peer's."""
    mine, theirs = med(fig.values(f"pub.{rate}.cpu_us")), med(fig.values(f"{peer}.{rate}.cpu_us"))
    if mine is None or theirs is None:
        return see
    text = (f"{mine:.0f} µs per published message for Parley's two instances against {theirs:.0f} µs: each "
            "instance consumes every record from Kafka, decodes it and fans it out, and A also builds, "
            "serializes and produces it (librdkafka's threads)")
    if peer == "pubmem":
        text += "; the one-node peer does one in-process hand-off, with no broker and no second reader"
    return text + f"; {see}"


def targets(fig):
    """(target, measured median (min–max), ok, reason when missed)."""
    out = []

    def add(name, values, ok_fn, fmt, reason):
        m = med(values)
        ok = None if m is None else ok_fn(m)
        out.append((name, mmm(values, fmt), ok, "" if ok in (True, None) else reason))

    noisy = "measured while other jobs shared the 2 cores (load average at the start in the machine line)"
    cores = med(fig.values("aio.machine_cores"))
    machine = (
        f"{cores:.2f} of 2 cores busy while sending: Kafka, ClickHouse, the five workers, the producer "
        "and the load client holding the WebSocket connections share the machine; see the lag chart"
        if cores is not None else "see the lag chart"
    )
    add("db-writer ≥ 0.70 × min(raw consume, raw insert)", fig.ratio("dw.rate", ("raw.consume", "ch.insert")),
        lambda m: m >= 0.70, "{:.2f}", noisy)
    add("db-writer faster than the ClickHouse Kafka engine", fig.ratio("dw.rate", "ch.kafka_engine"),
        lambda m: m > 1.0, "{:.2f}", f"see {NOTES['db-writer']}")
    add("parquet-exporter ≥ 0.70 × min(raw consume, pyarrow)", fig.ratio("pq.rate", ("raw.consume", "pyarrow.write")),
        lambda m: m >= 0.70, "{:.2f}",
        pq_cores_reason(fig))
    fps = fig.ratio("ws.fps", "wspeer.fps")
    p99 = fig.ratio("ws.p99_ms", "wspeer.p99_ms")
    # Both servers get the same fixed offered rate: when both deliver every
    # frame, frames/s is that rate, and what differs is the client's timing.
    lost = fig.values("ws.lost") + fig.values("wspeer.lost")
    all_delivered = bool(fps) and len(lost) == 2 * len(fps) and not any(lost)
    add("websocket-sender frames/s ≥ the peer's (÷ peer)", fps,
        lambda m: m >= 0.99 or all_delivered, "{:.2f}",
        "see websocket-sender-run*.md beside this file (frames delivered of expected, latency)")
    if all_delivered:
        name, measured, ok, reason = out[-1]
        out[-1] = (name, measured + " (both delivered every frame offered, in every run)", ok, reason)
    add("… at equal p99: Parley p99 ÷ peer p99 ≤ 1", p99, lambda m: m <= 1.0, "{:.2f}",
        "p99 of a bare Kafka consumer reading the same records at the same time (the floor), Parley's "
        "runs / the peer's: " + floors(fig) + f" ms; see websocket-sender-run*.md and {NOTES['websocket-sender']}")
    over = [a - b for a, b in zip(fig.values("ws.p99_ms"), fig.values("ws.floor_p99_ms"))]
    peer_over = [a - b for a, b in zip(fig.values("wspeer.p99_ms"), fig.values("wspeer.floor_p99_ms"))]
    if over and peer_over:
        out.append(("… p99 above the bare-consumer floor of the same run: Parley ≤ the peer",
                    f"{mmm(over)} ms vs {mmm(peer_over)} ms", med(over) <= med(peer_over),
                    "" if med(over) <= med(peer_over) else f"see {NOTES['websocket-sender']}"))
    add("websocket-sender ≤ 10 KB per idle connection", fig.values("ws.kb_idle"), lambda m: m <= 10, "{:.1f} KB",
        f"see {NOTES['websocket-sender']}")
    add("anomaly-detector ≥ 0.5 × bare RegexSet", fig.ratio("ad.rate", "regexset.scan"), lambda m: m >= 0.5,
        "{:.2f}", "")
    for name, key, limit, reason in [
        ("db-writer", "dw.cpu_us", 4, noisy),
        ("parquet-exporter", "pq.cpu_us", 4, noisy),
        ("analytics", "an.cpu_us", 2, noisy),
        ("anomaly-detector", "ad.cpu_us", 4,
         "JSON decoding (~15 %), normalization, the first-seen set, keyword matching and the per-user "
         "windows"),
        ("websocket-sender (per delivered frame)", "ws.cpu_us_frame", 4, ws_cpu_reason(fig)),
    ]:
        add(f"{name} ≤ {limit} µs CPU per message", fig.values(key), lambda m, l=limit: m <= l, "{:.2f} µs", reason)
    for w in WORKERS:
        add(f"all at once: {w} lag < 1 s", fig.values(f"aio.{w}.max_lag_s"), lambda m: m < 1.0, "{:.2f} s", machine)
    add("all at once: WebSocket p99 ≤ 100 ms", fig.values("aio.ws.p99_ms"), lambda m: m <= 100, "{:,.0f} ms",
        machine)
    publish = f"see publish-run*.md beside the results and {NOTES['websocket-sender']}, Publishing"
    add("publishing at 10,000/s: publish→ack p99 ≤ 20 ms", fig.values("pub.10000.ack_p99_ms"),
        lambda m: m <= 20, "{:.1f} ms", publish_reason(fig, publish))
    add("publishing at 10,000/s: publish→delivered (other instance) p99 ≤ 50 ms",
        fig.values("pub.10000.del_p99_ms"), lambda m: m <= 50, "{:.1f} ms", publish_reason(fig, publish))
    for peer, name in (("pubnats", "2 nodes + NATS"), ("pubmem", "1 node")):
        for rate in PUB_RATES:
            add(f"publishing at {rate:,}/s: published messages per server CPU ≥ Centrifugo's ({name})",
                fig.ratio(f"pub.{rate}.per_cpu", f"{peer}.{rate}.per_cpu"), lambda m: m >= 1.0, "{:.2f}",
                cpu_reason(fig, peer, rate, publish))
    return out


def charts(out, fig, lag):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib missing (deploy/local/install.sh installs it); no charts", file=sys.stderr)
        return []
    made = []
    if lag:
        plt.figure(figsize=(9, 4.5))
        colors = dict(zip(WORKERS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
        for run in sorted(lag):
            values = fig.runs.get(run, {})
            rate = values.get("aio.achieved") or values.get("aio.offered") or 1
            start = values.get("aio.start", 0)
            for w in WORKERS:
                pts = [(t - start, l / rate) for t, l in lag[run].get(w, []) if t >= start]
                if pts:
                    xs, ys = zip(*pts)
                    plt.plot(xs, ys, color=colors[w], alpha=0.9 if run == 1 else 0.45,
                             label=w if run == min(lag) else None, linewidth=1.2)
        plt.axhline(1.0, color="grey", linestyle="--", linewidth=0.8, label="1 s target")
        plt.xlabel("seconds since the producer was launched (it first reads its source topic)")
        plt.ylabel("lag (records behind ÷ offered rate, s)")
        offered = f"{med(fig.values('aio.offered')) or 0:,.0f}"
        plt.title(f"Consumer lag per group, all five at once ({offered} msg/s offered; every run, the first darker)")
        plt.legend(fontsize=8)
        plt.grid(alpha=0.3)
        plt.tight_layout()
        plt.savefig(out / "lag.png", dpi=110)
        plt.close()
        made.append("lag.png")

    groups = [
        ("db-writer", [("db-writer", "dw.rate"), ("raw consume", "raw.consume"),
                       ("clickhouse-client insert", "ch.insert"), ("ClickHouse Kafka engine (peer)", "ch.kafka_engine")]),
        ("parquet-exporter", [("parquet-exporter", "pq.rate"), ("raw consume", "raw.consume"),
                              ("pyarrow (limit, peer)", "pyarrow.write")]),
        ("analytics", [("analytics", "an.rate"), ("raw consume", "raw.consume")]),
        ("anomaly-detector", [("anomaly-detector", "ad.rate"), ("bare RegexSet", "regexset.scan")]),
        ("websocket-sender (frames/s)", [("websocket-sender", "ws.fps"), ("Centrifuge peer", "wspeer.fps")]),
    ]
    labels, meds, errs, colors = [], [], [[], []], []
    for title, bars in groups:
        for i, (name, key) in enumerate(bars):
            vals = fig.values(key)
            if not vals:
                continue
            m = statistics.median(vals)
            labels.append(title if i == 0 else name)
            meds.append(m)
            errs[0].append(m - min(vals))
            errs[1].append(max(vals) - m)
            colors.append("tab:blue" if i == 0 else "tab:gray")
    if meds:
        plt.figure(figsize=(9, 0.38 * len(meds) + 1.2))
        ys = list(range(len(meds)))[::-1]
        plt.barh(ys, meds, xerr=errs, color=colors, capsize=3)
        plt.yticks(ys, labels, fontsize=8)
        plt.xscale("log")
        plt.xlabel("msg/s (median; bars: min–max over the runs; log scale)")
        plt.title("Parley's workers (blue) against raw limits and peers (grey)")
        plt.grid(axis="x", alpha=0.3)
        plt.tight_layout()
        plt.savefig(out / "throughput.png", dpi=110)
        plt.close()
        made.append("throughput.png")
    return made


DOCS_INTRO = """\
# Benchmarks

Written by the benchmark suite (`tests/bench/run.sh`, through
`tests/bench/report.py`) at the end of each run; do not edit it by hand.
The figures below are the suite's latest run, kept in
`tests/bench/results/latest/` with the raw figures (`figures.tsv`, `lag.csv`).

## What the suite measures

One command runs every benchmark side by side on one machine and one stack,
on the same preloaded traffic, and checks the performance targets:

| step | what | measured |
|---|---|---|
| raw limits | Kafka's `ProducerPerformance` and `ConsumerPerformance`, a bare rdkafka consume loop, `clickhouse-client` RowBinary insert of db-writer's rows, pyarrow `write_table` of the exporter's rows, a bare `RegexSet` of the same 500 rules | msg/s |
| peers | ClickHouse's Kafka table engine + materialized view (for db-writer); pyarrow (for parquet-exporter); a Centrifuge 0.15 server, or Centrifugo v6 given `CENTRIFUGO_BIN` (for websocket-sender) | msg/s, frames/s, latency, KB per idle connection, CPU per frame |
| each worker alone | db-writer, parquet-exporter, analytics and anomaly-detector (500 content rules plus the shipped rules) drain the preloaded topic; websocket-sender against the peer at equal traffic | msg/s, CPU µs per message from the process's own user+sys time, peak RSS, ratio to its limit and peer within the run |
| publishing players | 5,000 connections, publishers on one websocket-sender instance and listeners on another, at 1,000 and 10,000 publishes/s; Centrifugo v6's client-side publish (two nodes over NATS, and one node) with the same load client, given `CENTRIFUGO_BIN` | publish→ack and publish→delivered p50/p99, deliveries lost, server CPU per published message |
| all five at once | the five groups on one topic fed at a fixed offered rate, with WebSocket clients connected | lag per group every second, WebSocket p50/p99 and losses against loadgen's truth, CPU and RSS per worker, cores busy |

## Running it

```sh
make bench            # tests/bench/run.sh: 3 runs of everything (about 17 min on 2 cores)
make bench QUICK=1    # tests/bench/run.sh --quick: 1 run, smaller counts (a few minutes)
```

`tests/bench/run.sh` flags: `--runs N` (3), `--count N` (preloaded messages,
1,000,000; `--quick` 200,000), `--rate MSG_PER_S` (the all-at-once offered
rate, 20,000), `--duration S` (60; `--quick` 20), `--connections N`
(5,000), `--rooms N` (2,000), `--no-build`. It builds the release binaries,
brings the stack up if it is down, and holds `/tmp/parley-bench.lock` and a
shared `/tmp/parley-stack.lock` while it runs. Each run's results go to
`tests/bench/results/<UTC time>/` (worker logs in its `logs/`), are copied
to `tests/bench/results/latest/` (committed; older runs are ignored by git),
and this file is rewritten from them. `STEPS=publish tests/bench/run.sh`
runs only the publishing step and puts its figures into `latest/` beside
the others (`machine.txt` there says when each step was measured). To
rewrite it from the committed results without running anything:
`tests/bench/report.py tests/bench/results/latest --no-charts --docs docs/benchmarks.md`.

Each worker's own scripts (`tests/bench/db_writer.sh`, `parquet_exporter.sh`,
`analytics.sh`, `anomaly_detector.sh`, `websocket_sender.sh`, `publish.sh`,
`kafka_baseline.sh`, `ws_crates.sh`) run one benchmark alone.

## The latest run
"""


def report(out, fig, runs, made, image_dir, level):
    """The tables of a run as Markdown lines, headings at `level`, images relative to `image_dir`."""
    h = "#" * level
    machine = (out / "machine.txt").read_text(encoding="utf-8").strip().splitlines()
    seconds = fig.values("suite.seconds")
    md = [f"- {line}" for line in machine]
    if seconds:
        md.append(f"- suite duration: {seconds[0] / 60:.1f} min")
    n = sum(1 for v in runs.values() if any(not k.startswith("suite.") for k in v))
    md += ["", f"Every figure: min / median / max over {n} run(s); ratios computed within each run.", ""]
    md += [f"{h} Each alone: throughput against the raw limits and peers", ""] + throughput_table(fig)
    md += ["", f"{h} All five groups at once", ""] + aio_table(fig)
    md += ["", "Lag: the topic's high watermark minus the records the group has read, sampled every",
           "second, divided by the producer's achieved rate (seconds behind the stream).", ""]
    md += [f"{h} Publishing players (issue #19)", ""] + publish_table(fig)
    md += ["", f"{h} Targets (issues #9, #19)", "", "| target | measured | | why missed |", "|---|---:|---|---|"]
    for name, measured, ok, reason in targets(fig):
        md.append(f"| {name} | {measured} | {check(ok)} | {reason} |")
    md.append("")
    for m in made:
        link = Path(os.path.relpath(out / m, image_dir)).as_posix()
        md.append(f"![{m}]({link})")
    return md


def main():
    parser = argparse.ArgumentParser(description="The benchmark suite's report.")
    parser.add_argument("results", type=Path, help="a results folder of tests/bench/run.sh")
    parser.add_argument("--docs", type=Path, help="also write this file (docs/benchmarks.md)")
    parser.add_argument("--no-charts", action="store_true", help="keep the charts already in the folder")
    args = parser.parse_args()
    out = args.results
    runs, lag = load(out)
    fig = Figures(runs, lag)
    if args.no_charts:
        made = [m for m in ("lag.png", "throughput.png") if (out / m).exists()]
    else:
        made = charts(out, fig, lag)
    md = [f"# Parley benchmark suite — {out.name}", ""] + report(out, fig, runs, made, out, 2)
    text = "\n".join(md) + "\n"
    (out / "results.md").write_text(text, encoding="utf-8")
    if args.docs:
        docs = DOCS_INTRO.split("\n") + report(out, fig, runs, made, args.docs.resolve().parent, 3)
        args.docs.write_text("\n".join(docs) + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
