//! The clients: N tokio-tungstenite connections on their own runtime (one
//! thread by default, in a thread of the `bench` process), each counting
//! the frames it gets, checking their order by sequence number and
//! recording latency from the send time inside the frame.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::ws_crates::config::Settings;
use crate::ws_crates::error::BenchError;
use crate::ws_crates::frame::{self, SUBSCRIBED};
use crate::ws_crates::latency::LatencyHistogram;

/// Longest a connection may take to connect and be subscribed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the clients saw so far (read at any time by the bench thread).
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Connections that got the subscription reply.
    pub subscribed: AtomicUsize,
    /// Connections that could not connect or subscribe.
    pub failed: AtomicUsize,
    /// Subscribed connections the server closed before the end.
    pub closed_early: AtomicUsize,
    /// Message frames received.
    pub frames: AtomicU64,
    /// Sequence numbers skipped (frames lost mid-stream).
    pub gaps: AtomicU64,
    /// Frames at or below a sequence number already seen.
    pub out_of_order: AtomicU64,
    /// Receive time of the latest frame, µs since the Unix epoch.
    pub last_frame_us: AtomicU64,
    /// Receive time − send time of every frame.
    pub latency: LatencyHistogram,
}

impl ClientStats {
    /// Connections subscribed and still open.
    pub fn held(&self) -> usize {
        let subscribed = self.subscribed.load(Ordering::Relaxed);
        subscribed.saturating_sub(self.closed_early.load(Ordering::Relaxed))
    }

    /// Connections that finished the ramp, one way or the other.
    pub fn ramped(&self) -> usize {
        self.subscribed.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
    }
}

/// The running clients.
#[derive(Debug)]
pub struct Clients {
    /// Their counters.
    pub stats: Arc<ClientStats>,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts `settings.connections` clients against 127.0.0.1:`port`.
pub fn start(settings: &Settings, port: u16) -> Result<Clients, BenchError> {
    let runtime = crate::ws_crates::server::runtime(settings.client_threads)?;
    let stats = Arc::new(ClientStats::default());
    let (stop, stopped) = oneshot::channel();
    let (connections, concurrency) = (settings.connections, settings.connect_concurrency);
    let thread_stats = Arc::clone(&stats);
    let thread = std::thread::Builder::new()
        .name("clients".into())
        .spawn(move || {
            runtime.block_on(async move {
                let gate = Arc::new(Semaphore::new(concurrency));
                let mut tasks = JoinSet::new();
                for _ in 0..connections {
                    tasks.spawn(connection(
                        port,
                        Arc::clone(&gate),
                        Arc::clone(&thread_stats),
                    ));
                }
                let _ = stopped.await;
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            });
            runtime.shutdown_timeout(Duration::from_millis(200));
        })
        .map_err(BenchError::setup("start the client thread"))?;
    Ok(Clients {
        stats,
        stop,
        thread,
    })
}

impl Clients {
    /// Drops every connection and waits (at most `limit`) for the thread.
    pub fn stop(self, limit: Duration) -> Result<(), BenchError> {
        let _ = self.stop.send(());
        let deadline = std::time::Instant::now() + limit;
        while !self.thread.is_finished() {
            if std::time::Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: "stopping the clients",
                    limit,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.thread.join();
        Ok(())
    }
}

async fn connection(port: u16, gate: Arc<Semaphore>, stats: Arc<ClientStats>) {
    let permit = gate.acquire().await;
    let url = format!("ws://127.0.0.1:{port}/ws");
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let tcp = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
            .await
            .map_err(std::io::Error::other)?;
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == SUBSCRIBED => Ok(ws),
            _ => Err(std::io::Error::other("no subscription reply")),
        }
    })
    .await;
    let mut ws = match opened {
        Ok(Ok(ws)) => ws,
        _ => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    stats.subscribed.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let mut next_seq = 0u64;
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Some(stamp) = frame::decode(text.as_str()) else {
            continue;
        };
        let now = frame::now_us();
        stats.latency.record(now.saturating_sub(stamp.sent_us));
        stats.frames.fetch_add(1, Ordering::Relaxed);
        stats.last_frame_us.fetch_max(now, Ordering::Relaxed);
        if stamp.seq > next_seq {
            stats
                .gaps
                .fetch_add(stamp.seq - next_seq, Ordering::Relaxed);
        } else if stamp.seq < next_seq {
            stats.out_of_order.fetch_add(1, Ordering::Relaxed);
        }
        next_seq = next_seq.max(stamp.seq + 1);
    }
    // Ended by the server (aborted tasks never get here).
    stats.closed_early.fetch_add(1, Ordering::Relaxed);
}
