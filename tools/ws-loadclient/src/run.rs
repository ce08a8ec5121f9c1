//! The `run` subcommand: ramp up N connections at a bounded rate, hold them,
//! report progress, stop on time or signal, check and summarize.

use std::fs::File;
use std::future::Future;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::RunConfig;
use crate::connection::{self, Counters, Ending, Outcome, Plan, Shared};
use crate::latency::{LatencyHistogram, LatencySummary};
use crate::ledger::{Truth, Verdict};
use crate::protocol::Protocol;
use crate::token::TokenMinter;

/// How long to wait for connection tasks to wind down after the stop.
const WIND_DOWN: Duration = Duration::from_secs(30);

/// The JSON summary line printed at the end.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    /// Protocol spoken.
    pub protocol: Protocol,
    /// Connections asked for.
    pub connections_target: usize,
    /// Connections that subscribed to all their rooms.
    pub connections_ready: u64,
    /// Connections still open at the stop.
    pub connections_held: u64,
    /// Connections that could not be set up.
    pub setup_failed: u64,
    /// Connections lost after setup.
    pub dropped: u64,
    /// Seconds from the first connection attempt to the last one settling.
    pub ramp_seconds: f64,
    /// Message frames received (all connections).
    pub frames: u64,
    /// Seconds from the first to the last message frame.
    pub frames_window_seconds: f64,
    /// Message frames per second over that window.
    pub frames_per_sec: f64,
    /// Delivery latency (receive time − `sent_at`), ms.
    pub latency_ms: LatencySummary,
    /// Other frames (replies, pings…).
    pub other_frames: u64,
    /// Frames that did not parse.
    pub parse_errors: u64,
    /// Error frames or replies.
    pub error_frames: u64,
    /// Parley `pos` offsets that did not grow within a room.
    pub pos_regressions: u64,
    /// The check against `--truth`, if given.
    pub check: Option<Verdict>,
    /// Up to five distinct errors.
    pub errors: Vec<String>,
}

/// Runs until `--duration` or `shutdown`, then returns the summary.
pub async fn run(
    config: RunConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<RunSummary> {
    config.validate().map_err(anyhow::Error::msg)?;
    let truth = match &config.truth {
        Some(path) => Some(read_truth(path)?),
        None => None,
    };
    let rooms = if config.rooms.is_empty() {
        truth
            .as_ref()
            .map(|t| t.rooms().to_vec())
            .unwrap_or_default()
    } else {
        config.rooms.clone()
    };
    if rooms.is_empty() {
        anyhow::bail!("no rooms: pass --room or a --truth file with records");
    }
    let per_connection = config.rooms_per_connection.min(rooms.len());
    let shared = Arc::new(Shared {
        protocol: config.protocol,
        server: config.server,
        rooms,
        minter: TokenMinter::new(config.secret.as_bytes(), config.token_ttl),
        latency: LatencyHistogram::new(),
        counters: Counters::default(),
        setup_timeout: config.setup_timeout,
        first_errors: std::sync::Mutex::new(Vec::new()),
    });

    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + config.duration;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let progress = tokio::spawn(report_progress(
        Arc::clone(&shared),
        config.connections as u64,
        config.progress_interval,
        config.ready_file.clone(),
        started,
        stop_rx.clone(),
    ));

    let ramp = ramp_up(&config, &shared, per_connection, &stop_rx, &mut tasks);
    tokio::pin!(shutdown);
    let stopped_early = tokio::select! {
        () = ramp => false,
        () = &mut shutdown => true,
        () = tokio::time::sleep_until(deadline) => true,
    };
    if !stopped_early {
        tokio::select! {
            () = &mut shutdown => {},
            () = tokio::time::sleep_until(deadline) => {},
        }
    }
    let _ = stop_tx.send(true);
    eprintln!("ws-loadclient: stopping");
    let mut outcomes = Vec::with_capacity(config.connections);
    let wind_down = tokio::time::sleep(WIND_DOWN);
    tokio::pin!(wind_down);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(Ok(outcome)) => outcomes.push(outcome),
                Some(Err(e)) => eprintln!("ws-loadclient: connection task failed: {e}"),
                None => break,
            },
            () = &mut wind_down => {
                eprintln!("ws-loadclient: {} connections did not stop in time", tasks.len());
                tasks.abort_all();
                break;
            }
        }
    }
    let ramp_seconds = progress.await.unwrap_or(0.0);
    Ok(summarize(&config, &shared, &outcomes, ramp_seconds, truth))
}

fn read_truth(path: &std::path::Path) -> anyhow::Result<Truth> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    Truth::read(BufReader::new(file)).with_context(|| format!("read {}", path.display()))
}

/// Spawns the connections at `--connect-rate`, at most
/// `--connect-concurrency` handshakes at a time.
async fn ramp_up(
    config: &RunConfig,
    shared: &Arc<Shared>,
    per_connection: usize,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Outcome>,
) {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let handshakes = Arc::new(Semaphore::new(config.connect_concurrency));
    let sources = config.source_count();
    let base = u32::from(config.source_base);
    let start = tokio::time::Instant::now();
    for index in 0..config.connections {
        let due = start + Duration::from_secs_f64(index as f64 / config.connect_rate);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        let rooms =
            rand::seq::index::sample(&mut rng, shared.rooms.len(), per_connection).into_vec();
        let plan = Plan {
            index,
            source: IpAddr::V4(Ipv4Addr::from(base + (index as u32 % sources))),
            rooms,
        };
        tasks.spawn(connection::run_connection(
            Arc::clone(shared),
            plan,
            permit,
            stop.clone(),
        ));
    }
}

/// Prints progress lines and writes the ready file once every connection
/// has settled; returns the ramp time in seconds.
async fn report_progress(
    shared: Arc<Shared>,
    target: u64,
    interval: Duration,
    ready_file: Option<std::path::PathBuf>,
    started: Instant,
    mut stop: watch::Receiver<bool>,
) -> f64 {
    let counters = &shared.counters;
    let mut ramp_seconds = None;
    let mut last = (Instant::now(), 0u64);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => {
                return ramp_seconds.unwrap_or_else(|| started.elapsed().as_secs_f64());
            }
        }
        let ready = counters.ready.load(Ordering::Relaxed);
        let failed = counters.setup_failed.load(Ordering::Relaxed);
        if ramp_seconds.is_none() && ready + failed >= target {
            let seconds = started.elapsed().as_secs_f64();
            ramp_seconds = Some(seconds);
            eprintln!("ws-loadclient: ramp done in {seconds:.1}s: {ready} ready, {failed} failed");
            if let Some(path) = &ready_file {
                let body =
                    serde_json::json!({"ready": ready, "failed": failed, "seconds": seconds});
                if let Err(e) = std::fs::write(path, format!("{body}\n")) {
                    eprintln!("ws-loadclient: cannot write {}: {e}", path.display());
                }
            }
        }
        if last.0.elapsed() >= interval {
            let messages = counters.messages.load(Ordering::Relaxed);
            let rate = (messages - last.1) as f64 / last.0.elapsed().as_secs_f64();
            let latency = shared.latency.summary();
            eprintln!(
                "ws-loadclient: open={} ready={ready} failed={failed} dropped={} frames={messages} rate={rate:.0}/s p50={}ms p99={}ms max={}ms",
                counters.open.load(Ordering::Relaxed),
                counters.dropped.load(Ordering::Relaxed),
                latency.p50,
                latency.p99,
                latency.max,
            );
            last = (Instant::now(), messages);
        }
    }
}

fn summarize(
    config: &RunConfig,
    shared: &Shared,
    outcomes: &[Outcome],
    ramp_seconds: f64,
    truth: Option<Truth>,
) -> RunSummary {
    let c = &shared.counters;
    let frames = c.messages.load(Ordering::Relaxed);
    let first = c.first_message_ms.load(Ordering::Relaxed);
    let last = c.last_message_ms.load(Ordering::Relaxed);
    let window = if frames > 1 && last > first {
        (last - first) as f64 / 1000.0
    } else {
        0.0
    };
    let logs = || outcomes.iter().flat_map(|o| o.logs.iter());
    let check = truth.map(|t| t.check(&shared.rooms, logs()));
    RunSummary {
        protocol: config.protocol,
        connections_target: config.connections,
        connections_ready: c.ready.load(Ordering::Relaxed),
        connections_held: outcomes.iter().filter(|o| o.ending == Ending::Held).count() as u64,
        setup_failed: c.setup_failed.load(Ordering::Relaxed),
        dropped: c.dropped.load(Ordering::Relaxed),
        ramp_seconds,
        frames,
        frames_window_seconds: window,
        frames_per_sec: if window > 0.0 {
            frames as f64 / window
        } else {
            0.0
        },
        latency_ms: shared.latency.summary(),
        other_frames: c.other_frames.load(Ordering::Relaxed),
        parse_errors: c.parse_errors.load(Ordering::Relaxed),
        error_frames: c.error_frames.load(Ordering::Relaxed),
        pos_regressions: logs().map(|l| l.offset_regressions).sum(),
        check,
        errors: shared
            .first_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
    }
}
