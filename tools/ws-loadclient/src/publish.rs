//! The `publish` subcommand: publishing players. Ramps up the listeners
//! (on `--subscriber-server`) and the publishers (on `--server`), each
//! subscribed to one room; once all are set up (and `--go-file` exists)
//! the publishers send `--rate` publishes/s in total for `--duration`, each
//! at its own even pace with a staggered start; after `--drain` it stops
//! and prints one JSON summary: publish→ack and publish→delivered latency,
//! and deliveries against what was acknowledged.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::PublishConfig;
use crate::latency::{FineHistogram, FineSummary};
use crate::protocol::Protocol;
use crate::publisher::{self, PublishCounters, PublishShared, Role, Schedule};
use crate::token::TokenMinter;

/// How long to wait for connection tasks to wind down after the stop.
const WIND_DOWN: Duration = Duration::from_secs(30);
/// Time from the go signal to the first publish (every publisher has
/// seen its schedule by then).
const LEAD: Duration = Duration::from_millis(200);

/// The JSON summary line printed at the end.
#[derive(Debug, Serialize)]
pub struct PublishSummary {
    /// Protocol spoken.
    pub protocol: Protocol,
    /// Connections asked for.
    pub connections_target: usize,
    /// Publishing connections asked for.
    pub publishers: usize,
    /// Listening connections asked for.
    pub listeners: usize,
    /// Rooms.
    pub rooms: usize,
    /// Connections that subscribed.
    pub connections_ready: u64,
    /// Connections that could not be set up.
    pub setup_failed: u64,
    /// Connections lost after setup.
    pub dropped: u64,
    /// Seconds the ramp took.
    pub ramp_seconds: f64,
    /// Publishes/s asked for.
    pub rate_target: f64,
    /// Publishes sent.
    pub sent: u64,
    /// Seconds from the first publish sent to the last.
    pub publish_seconds: f64,
    /// Publishes sent per second over that window.
    pub sent_per_sec: f64,
    /// Publishes acknowledged.
    pub acked: u64,
    /// Refused for a rate (Parley 4429).
    pub refused_rate: u64,
    /// Refused otherwise.
    pub refused_other: u64,
    /// Neither acknowledged nor refused by the stop.
    pub unanswered: u64,
    /// Publish sent → its acknowledgement (`published` / publish reply), ms.
    pub ack_ms: FineSummary,
    /// Publish sent → received by a listener on `--subscriber-server`, ms.
    pub delivered_ms: FineSummary,
    /// Publish sent → received by the room's publishers (own subscription), ms.
    pub echo_ms: FineSummary,
    /// Messages listeners received.
    pub delivered: u64,
    /// Messages listeners should have received: per room, acknowledged
    /// publishes × listeners subscribed.
    pub delivered_expected: u64,
    /// Messages the publishers' own subscriptions received.
    pub echoed: u64,
    /// Unparsable frames and errors not tied to a publish.
    pub errors: u64,
    /// The load client's own CPU (user + system) from the first publish
    /// to the end of the drain, in cores: whether the client kept up.
    pub client_cores: f64,
    /// Up to five distinct errors.
    pub first_errors: Vec<String>,
}

/// Runs the ramp, the publishing and the drain (or until `shutdown`).
pub async fn run(
    config: PublishConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<PublishSummary> {
    config.validate().map_err(anyhow::Error::msg)?;
    let rooms: Vec<String> = (0..config.room_count())
        .map(|n| format!("{}-{n}", config.room_prefix))
        .collect();
    let shared = Arc::new(PublishShared {
        protocol: config.protocol,
        acked_per_room: rooms.iter().map(|_| AtomicU64::new(0)).collect(),
        listeners_per_room: rooms.iter().map(|_| AtomicU64::new(0)).collect(),
        rooms,
        minter: TokenMinter::new(config.secret.as_bytes(), config.token_ttl),
        game: config.game.clone(),
        content: content(config.content_bytes),
        ack: FineHistogram::new(),
        delivered: FineHistogram::new(),
        echo: FineHistogram::new(),
        counters: PublishCounters::default(),
        setup_timeout: config.setup_timeout,
        first_errors: std::sync::Mutex::new(Vec::new()),
    });
    shared
        .counters
        .first_sent_us
        .store(u64::MAX, Ordering::Relaxed);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (plan_tx, plan_rx) = watch::channel(None::<Schedule>);
    let mut tasks: JoinSet<bool> = JoinSet::new();
    tokio::pin!(shutdown);

    let started = Instant::now();
    let ramp = ramp_up(&config, &shared, &plan_rx, &stop_rx, &mut tasks);
    let ramped = tokio::select! {
        () = ramp => wait_settled(&shared, config.connections as u64).await,
        () = &mut shutdown => false,
    };
    let ramp_seconds = started.elapsed().as_secs_f64();
    let c = &shared.counters;
    eprintln!(
        "ws-loadclient publish: ramp done in {ramp_seconds:.1}s: {} ready, {} failed",
        c.ready.load(Ordering::Relaxed),
        c.setup_failed.load(Ordering::Relaxed)
    );
    if let Some(path) = &config.ready_file {
        let body = serde_json::json!({
            "ready": c.ready.load(Ordering::Relaxed),
            "failed": c.setup_failed.load(Ordering::Relaxed),
            "seconds": ramp_seconds,
        });
        std::fs::write(path, format!("{body}\n"))?;
    }
    let mut client_cores = 0.0;
    if ramped && wait_go(&config, &mut shutdown).await {
        let cpu_before = (own_cpu_seconds(), Instant::now());
        let publishers = config.publisher_count();
        let now = tokio::time::Instant::now();
        let schedule = Schedule {
            first: now + LEAD,
            interval: Duration::from_secs_f64(publishers as f64 / config.rate),
            end: now + LEAD + config.duration,
        };
        let _ = plan_tx.send(Some(schedule));
        eprintln!(
            "ws-loadclient publish: {publishers} publishers, {:.0}/s in total for {:?}",
            config.rate, config.duration
        );
        let end = schedule.end + config.drain;
        let progress = report_progress(&shared, config.progress_interval);
        tokio::select! {
            () = tokio::time::sleep_until(end) => {}
            () = progress => {}
            () = &mut shutdown => {}
        }
        if let (Some(before), Some(after)) = (cpu_before.0, own_cpu_seconds()) {
            client_cores = (after - before) / cpu_before.1.elapsed().as_secs_f64().max(1e-9);
        }
    }
    let _ = stop_tx.send(true);
    let wind_down = tokio::time::sleep(WIND_DOWN);
    tokio::pin!(wind_down);
    loop {
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            () = &mut wind_down => {
                eprintln!("ws-loadclient publish: {} connections did not stop in time", tasks.len());
                tasks.abort_all();
                break;
            }
        }
    }
    let mut summary = summarize(&config, &shared, ramp_seconds);
    summary.client_cores = client_cores;
    Ok(summary)
}

/// This process's user + system CPU seconds (Linux `/proc/self/stat`).
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_seconds_of_stat(&stat, 100.0)
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds at `ticks` per
/// second (fields 14 and 15; the command name may hold spaces, so fields
/// are counted after its closing parenthesis).
fn cpu_seconds_of_stat(stat: &str, ticks: f64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// `bytes` of printable text.
fn content(bytes: usize) -> String {
    "publishing players benchmark "
        .chars()
        .cycle()
        .take(bytes.max(1))
        .collect()
}

/// Spawns listeners, then publishers, at `--connect-rate`.
async fn ramp_up(
    config: &PublishConfig,
    shared: &Arc<PublishShared>,
    plan: &watch::Receiver<Option<Schedule>>,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<bool>,
) {
    let handshakes = Arc::new(Semaphore::new(config.connect_concurrency));
    let sources = config.source_count();
    let base = u32::from(config.source_base);
    let publishers = config.publisher_count();
    let rooms = shared.rooms.len();
    let start = tokio::time::Instant::now();
    for index in 0..config.connections {
        let due = start + Duration::from_secs_f64(index as f64 / config.connect_rate);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        // Listeners first: they are all there before anyone publishes.
        let listeners = config.connections - publishers;
        let (server, room, schedule, phase) = if index < listeners {
            (config.listener_server(), index % rooms, None, 0.0)
        } else {
            let n = index - listeners;
            let phase = n as f64 / publishers as f64;
            (config.server, n % rooms, Some(plan.clone()), phase)
        };
        let role = Role {
            index,
            server,
            source: IpAddr::V4(Ipv4Addr::from(base + (index as u32 % sources))),
            room,
            phase,
            schedule,
        };
        tasks.spawn(publisher::run(
            Arc::clone(shared),
            role,
            permit,
            stop.clone(),
        ));
    }
}

/// Waits until every connection is ready or failed; false if some failed.
async fn wait_settled(shared: &PublishShared, target: u64) -> bool {
    let c = &shared.counters;
    loop {
        let (ready, failed) = (
            c.ready.load(Ordering::Relaxed),
            c.setup_failed.load(Ordering::Relaxed),
        );
        if ready + failed >= target {
            return failed == 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for `--go-file` (if any); false on timeout or shutdown.
async fn wait_go(
    config: &PublishConfig,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> bool {
    let Some(path) = &config.go_file else {
        return true;
    };
    let deadline = tokio::time::Instant::now() + config.go_timeout;
    loop {
        if path.exists() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = &mut *shutdown => return false,
        }
        if tokio::time::Instant::now() > deadline {
            eprintln!("ws-loadclient publish: no {} in time", path.display());
            return false;
        }
    }
}

/// Prints progress lines until cancelled.
async fn report_progress(shared: &PublishShared, interval: Duration) {
    let c = &shared.counters;
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::time::sleep(interval).await;
        let sent = c.sent.load(Ordering::Relaxed);
        let rate = (sent - last.1) as f64 / last.0.elapsed().as_secs_f64();
        let (ack, delivered) = (shared.ack.summary(), shared.delivered.summary());
        eprintln!(
            "ws-loadclient publish: sent={sent} ({rate:.0}/s) acked={} refused={} ack p50={}ms p99={}ms delivered={} p50={}ms p99={}ms dropped={}",
            c.acked.load(Ordering::Relaxed),
            c.refused_rate.load(Ordering::Relaxed) + c.refused_other.load(Ordering::Relaxed),
            ack.p50,
            ack.p99,
            c.delivered.load(Ordering::Relaxed),
            delivered.p50,
            delivered.p99,
            c.dropped.load(Ordering::Relaxed),
        );
        last = (Instant::now(), sent);
    }
}

fn summarize(config: &PublishConfig, shared: &PublishShared, ramp_seconds: f64) -> PublishSummary {
    let c = &shared.counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let (sent, acked) = (load(&c.sent), load(&c.acked));
    let (refused_rate, refused_other) = (load(&c.refused_rate), load(&c.refused_other));
    let (first, last) = (load(&c.first_sent_us), load(&c.last_sent_us));
    let publish_seconds = if sent > 1 && last > first {
        (last - first) as f64 / 1e6
    } else {
        0.0
    };
    let delivered_expected = shared
        .acked_per_room
        .iter()
        .zip(&shared.listeners_per_room)
        .map(|(a, l)| load(a) * load(l))
        .sum();
    let publishers = config.publisher_count();
    PublishSummary {
        protocol: config.protocol,
        connections_target: config.connections,
        publishers,
        listeners: config.connections - publishers,
        rooms: shared.rooms.len(),
        connections_ready: load(&c.ready),
        setup_failed: load(&c.setup_failed),
        dropped: load(&c.dropped),
        ramp_seconds,
        rate_target: config.rate,
        sent,
        publish_seconds,
        sent_per_sec: if publish_seconds > 0.0 {
            (sent - 1) as f64 / publish_seconds
        } else {
            0.0
        },
        acked,
        refused_rate,
        refused_other,
        unanswered: sent.saturating_sub(acked + refused_rate + refused_other),
        ack_ms: shared.ack.summary(),
        delivered_ms: shared.delivered.summary(),
        echo_ms: shared.echo.summary(),
        delivered: load(&c.delivered),
        delivered_expected,
        echoed: load(&c.echoed),
        errors: load(&c.errors),
        client_cores: 0.0,
        first_errors: shared
            .first_errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_from_a_stat_line() {
        let stat = "4242 (ws load) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_seconds_of_stat(stat, 100.0), Some(3.0));
        assert_eq!(cpu_seconds_of_stat("junk", 100.0), None);
        assert!(own_cpu_seconds().is_some());
    }

    #[test]
    fn content_has_the_asked_size() {
        assert_eq!(content(64).len(), 64);
        assert_eq!(content(0).len(), 1);
        assert!(content(300).starts_with("publishing players"));
    }
}
