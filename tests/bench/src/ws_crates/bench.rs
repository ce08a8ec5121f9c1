//! The `bench` role: starts the server child, ramps the clients, takes the
//! readings in order (RSS empty → RSS idle → CPU over traffic and drain)
//! and builds the [`Report`]. Every wait has a deadline.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::ws_crates::client::{self, ClientStats};
use crate::ws_crates::config::Settings;
use crate::ws_crates::error::BenchError;
use crate::ws_crates::frame;
use crate::ws_crates::procfs;
use crate::ws_crates::report::{self, Readings, Report};

/// Frames arriving no more for this long ends the drain early.
const QUIET_END: Duration = Duration::from_secs(1);
/// Poll period of every wait.
const POLL: Duration = Duration::from_millis(20);

fn log(message: &str) {
    eprintln!("[ws-crate-bench] {message}");
}

/// The server child process, driven over its stdin/stdout.
struct ServerChild {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    pid: String,
}

impl ServerChild {
    fn spawn(settings: &Settings) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(BenchError::setup("find this binary"))?;
        let mut child = Command::new(exe)
            .args(settings.server_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(BenchError::setup("start the server child"))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
        let stdout = stdout.ok_or_else(|| BenchError::Child("no stdout pipe".into()))?;
        let (tx, lines) = mpsc::channel();
        // Ends at the child's EOF.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = child.id().to_string();
        Ok(ServerChild {
            child,
            stdin,
            lines,
            pid,
        })
    }

    /// The words after `tag` of the next line starting with it.
    fn expect(&self, tag: &str, limit: Duration) -> Result<Vec<String>, BenchError> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let mut words = line.split_whitespace();
                    if words.next() == Some(tag) {
                        return Ok(words.map(str::to_owned).collect());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(BenchError::Timeout {
                        what: "server child reply",
                        limit,
                    })
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(BenchError::Child(format!("exited before `{tag}`")))
                }
            }
        }
    }

    fn say(&mut self, line: &str) -> Result<(), BenchError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| BenchError::Child("stdin closed".into()))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| BenchError::Child(format!("cannot send `{line}`: {e}")))
    }

    /// Asks the child to quit; kills it if it has not within `limit`.
    fn quit(&mut self, limit: Duration) {
        let _ = self.say("quit");
        self.stdin = None;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn parse<T: std::str::FromStr>(words: &[String], i: usize) -> Result<T, BenchError> {
    words
        .get(i)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| BenchError::Child(format!("bad reply {words:?}")))
}

/// Waits until `done` or `limit`; true if `done`.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

/// Runs one measurement.
pub fn run(settings: &Settings) -> Result<Report, BenchError> {
    let ticks = procfs::clock_ticks();
    let mut server = ServerChild::spawn(settings)?;
    let port: u16 = parse(&server.expect("ready", Duration::from_secs(10))?, 0)?;
    std::thread::sleep(Duration::from_millis(300));
    let rss_empty_kib = procfs::rss_kib(&server.pid)?;

    let ramp_start = Instant::now();
    let clients = client::start(settings, port)?;
    let stats = &clients.stats;
    let ramp_limit = Duration::from_secs(30 + settings.connections as u64 / 100);
    if !wait_until(ramp_limit, || stats.ramped() >= settings.connections) {
        return Err(BenchError::Timeout {
            what: "the ramp",
            limit: ramp_limit,
        });
    }
    let ramp_seconds = ramp_start.elapsed().as_secs_f64();
    log(&format!(
        "{}: {} subscribed in {ramp_seconds:.1} s, {} failed",
        settings.server.name(),
        stats.subscribed.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed)
    ));
    std::thread::sleep(settings.settle);
    let rss_idle_kib = procfs::rss_kib(&server.pid)?;

    let server_cpu0 = procfs::cpu_time(&server.pid, ticks)?;
    let client_cpu0 = procfs::cpu_time("self", ticks)?;
    let (machine0, _) = procfs::machine_ticks()?;
    let go = Instant::now();
    let go_us = frame::now_us();
    server.say("go")?;
    let sent = server.expect("sent", settings.duration * 2 + Duration::from_secs(60))?;
    let (sent_msgs, send_seconds): (u64, f64) = (parse(&sent, 0)?, parse(&sent, 1)?);
    let server_dropped: u64 = parse(&sent, 2)?;
    drain(stats, sent_msgs, settings.drain_limit);
    let server_cpu = procfs::cpu_time(&server.pid, ticks)?.saturating_sub(server_cpu0);
    let client_cpu = procfs::cpu_time("self", ticks)?.saturating_sub(client_cpu0);
    let (machine1, _) = procfs::machine_ticks()?;
    let machine_cpu =
        Duration::from_secs_f64(machine1.saturating_sub(machine0) as f64 / ticks.max(1) as f64);
    let traffic_wall = go.elapsed();

    let readings = Readings {
        sent_msgs,
        send_seconds,
        server_dropped,
        held: stats.held(),
        frames: stats.frames.load(Ordering::Relaxed),
        delivery_window: Duration::from_micros(
            stats
                .last_frame_us
                .load(Ordering::Relaxed)
                .saturating_sub(go_us),
        ),
        server_cpu,
        client_cpu,
        machine_cpu,
        traffic_wall,
        rss_empty_kib,
        rss_idle_kib,
    };
    let latency_ms = stats.latency.summary();
    let (gaps, out_of_order) = (
        stats.gaps.load(Ordering::Relaxed),
        stats.out_of_order.load(Ordering::Relaxed),
    );
    let (connect_failures, closed_early) = (
        stats.failed.load(Ordering::Relaxed),
        stats.closed_early.load(Ordering::Relaxed),
    );
    // Stopping the clients first: the server sees EOFs, not resets.
    clients.stop(Duration::from_secs(20))?;
    server.quit(Duration::from_secs(5));

    let d = report::derive(&readings);
    Ok(Report {
        server: settings.server.name(),
        connections: settings.connections,
        connections_held: readings.held,
        server_threads: settings.server_threads,
        client_threads: settings.client_threads,
        payload_bytes: settings.payload_bytes,
        offered_msgs_per_sec: settings.rate,
        offered_frames_per_sec: u64::from(settings.rate) * readings.held as u64,
        sent_msgs_per_sec: d.sent_msgs_per_sec,
        delivered_frames: readings.frames,
        delivered_frames_per_sec: d.delivered_frames_per_sec,
        latency_ms,
        losses: d.losses,
        server_dropped,
        gaps,
        out_of_order,
        connect_failures,
        closed_early,
        ramp_seconds: (ramp_seconds * 100.0).round() / 100.0,
        server_cpu_us_per_frame: d.server_cpu_us_per_frame,
        server_cores_busy: d.server_cores_busy,
        client_cores_busy: d.client_cores_busy,
        other_cores_busy: d.other_cores_busy,
        rss_mib_empty: (rss_empty_kib as f64 / 1024.0 * 10.0).round() / 10.0,
        rss_mib_idle: (rss_idle_kib as f64 / 1024.0 * 10.0).round() / 10.0,
        rss_kib_per_idle_connection: d.rss_kib_per_idle_connection,
    })
}

/// Waits until every held connection has every sent frame, frames stop
/// arriving for [`QUIET_END`], or `limit`.
fn drain(stats: &ClientStats, sent_msgs: u64, limit: Duration) {
    let mut last = u64::MAX;
    let mut last_change = Instant::now();
    let all_in = wait_until(limit, || {
        let frames = stats.frames.load(Ordering::Relaxed);
        if frames >= sent_msgs * stats.held() as u64 {
            return true;
        }
        if frames != last {
            last = frames;
            last_change = Instant::now();
        }
        last_change.elapsed() > QUIET_END
    });
    if !all_in {
        log(&format!("drain stopped at its limit of {limit:?}"));
    }
}
