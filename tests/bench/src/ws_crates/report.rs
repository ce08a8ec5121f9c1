//! The one JSON line a run prints, and the arithmetic behind its figures
//! (pure, so it is tested without sockets).

use std::time::Duration;

use serde::Serialize;

use crate::ws_crates::latency::LatencySummary;

/// Raw readings of one run.
#[derive(Debug, Clone)]
pub struct Readings {
    /// Messages the server broadcast.
    pub sent_msgs: u64,
    /// Seconds the broadcast took.
    pub send_seconds: f64,
    /// Frames the server dropped at full outboxes.
    pub server_dropped: u64,
    /// Connections held to the end.
    pub held: usize,
    /// Message frames the clients got.
    pub frames: u64,
    /// From `go` to the last frame received.
    pub delivery_window: Duration,
    /// Server CPU over the traffic (from `go` to the end of the drain).
    pub server_cpu: Duration,
    /// Client-process CPU over the same time.
    pub client_cpu: Duration,
    /// Busy CPU time of the whole machine over the same time.
    pub machine_cpu: Duration,
    /// Wall time of that same time.
    pub traffic_wall: Duration,
    /// Server RSS with no connection, KiB.
    pub rss_empty_kib: u64,
    /// Server RSS with every connection open and idle, KiB.
    pub rss_idle_kib: u64,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Crate under test.
    pub server: &'static str,
    /// Connections asked for.
    pub connections: usize,
    /// Connections subscribed and open to the end.
    pub connections_held: usize,
    /// Server runtime threads.
    pub server_threads: usize,
    /// Client runtime threads.
    pub client_threads: usize,
    /// Frame size in bytes.
    pub payload_bytes: usize,
    /// Broadcast messages/s asked for.
    pub offered_msgs_per_sec: u32,
    /// Frames/s asked for (messages/s × connections held).
    pub offered_frames_per_sec: u64,
    /// Broadcast messages/s achieved by the server's broadcaster.
    pub sent_msgs_per_sec: f64,
    /// Frames the clients got.
    pub delivered_frames: u64,
    /// Frames/s the clients got, from `go` to the last frame.
    pub delivered_frames_per_sec: f64,
    /// Receive − send time of every frame.
    pub latency_ms: LatencySummary,
    /// Frames sent × held − frames delivered.
    pub losses: u64,
    /// Of which dropped at full server queues.
    pub server_dropped: u64,
    /// Sequence numbers skipped in the middle of a stream.
    pub gaps: u64,
    /// Frames out of order.
    pub out_of_order: u64,
    /// Connections that could not connect or subscribe.
    pub connect_failures: usize,
    /// Connections the server closed during the run.
    pub closed_early: usize,
    /// Seconds to open and subscribe every connection.
    pub ramp_seconds: f64,
    /// Server CPU time (all its threads) per delivered frame, µs.
    pub server_cpu_us_per_frame: f64,
    /// Server CPU time ÷ wall time during the traffic.
    pub server_cores_busy: f64,
    /// Client CPU time ÷ wall time during the traffic (if near the client
    /// thread count, the clients, not the server, set the pace).
    pub client_cores_busy: f64,
    /// Cores busy with anything else on the machine meanwhile (other
    /// processes share the cores: high values make a run suspect).
    pub other_cores_busy: f64,
    /// Server RSS with no connection, MiB.
    pub rss_mib_empty: f64,
    /// Server RSS with every connection idle, MiB.
    pub rss_mib_idle: f64,
    /// (idle − empty RSS) ÷ connections held, KiB.
    pub rss_kib_per_idle_connection: f64,
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

/// What a run's readings come to.
pub fn derive(r: &Readings) -> Derived {
    let held = r.held as u64;
    let window = r.delivery_window.as_secs_f64();
    let wall = r.traffic_wall.as_secs_f64();
    let per = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Derived {
        offered_frames_total: r.sent_msgs * held,
        losses: (r.sent_msgs * held).saturating_sub(r.frames),
        sent_msgs_per_sec: round(per(r.sent_msgs as f64, r.send_seconds), 1),
        delivered_frames_per_sec: round(per(r.frames as f64, window), 0),
        server_cpu_us_per_frame: round(per(r.server_cpu.as_secs_f64() * 1e6, r.frames as f64), 3),
        server_cores_busy: round(per(r.server_cpu.as_secs_f64(), wall), 2),
        client_cores_busy: round(per(r.client_cpu.as_secs_f64(), wall), 2),
        other_cores_busy: round(
            per(
                r.machine_cpu
                    .saturating_sub(r.server_cpu + r.client_cpu)
                    .as_secs_f64(),
                wall,
            ),
            2,
        ),
        rss_kib_per_idle_connection: round(
            per(
                r.rss_idle_kib.saturating_sub(r.rss_empty_kib) as f64,
                r.held as f64,
            ),
            2,
        ),
    }
}

/// Figures derived from [`Readings`].
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// Frames that should have arrived.
    pub offered_frames_total: u64,
    /// Frames that did not.
    pub losses: u64,
    /// Messages/s the broadcaster achieved.
    pub sent_msgs_per_sec: f64,
    /// Frames/s delivered.
    pub delivered_frames_per_sec: f64,
    /// Server CPU µs per delivered frame.
    pub server_cpu_us_per_frame: f64,
    /// Server cores busy.
    pub server_cores_busy: f64,
    /// Client cores busy.
    pub client_cores_busy: f64,
    /// Cores busy with other processes.
    pub other_cores_busy: f64,
    /// KiB of server RSS per idle connection.
    pub rss_kib_per_idle_connection: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings() -> Readings {
        Readings {
            sent_msgs: 100,
            send_seconds: 1.0,
            server_dropped: 0,
            held: 1_000,
            frames: 99_000,
            delivery_window: Duration::from_millis(1_100),
            server_cpu: Duration::from_millis(550),
            client_cpu: Duration::from_millis(990),
            machine_cpu: Duration::from_millis(1_650),
            traffic_wall: Duration::from_millis(1_100),
            rss_empty_kib: 10_000,
            rss_idle_kib: 30_000,
        }
    }

    #[test]
    fn figures_are_per_frame_per_second_and_per_connection() {
        let d = derive(&readings());
        assert_eq!(d.offered_frames_total, 100_000);
        assert_eq!(d.losses, 1_000);
        assert_eq!(d.delivered_frames_per_sec, 90_000.0);
        assert_eq!(d.server_cpu_us_per_frame, 5.556);
        assert_eq!(d.server_cores_busy, 0.5);
        assert_eq!(d.client_cores_busy, 0.9);
        assert_eq!(d.other_cores_busy, 0.1);
        assert_eq!(d.rss_kib_per_idle_connection, 20.0);
    }

    #[test]
    fn empty_runs_divide_by_nothing() {
        let mut r = readings();
        r.held = 0;
        r.frames = 0;
        r.delivery_window = Duration::ZERO;
        r.rss_idle_kib = 5_000;
        let d = derive(&r);
        assert_eq!(d.delivered_frames_per_sec, 0.0);
        assert_eq!(d.server_cpu_us_per_frame, 0.0);
        assert_eq!(d.rss_kib_per_idle_connection, 0.0);
    }
}
