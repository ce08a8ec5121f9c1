//! One client connection: bind a source address, connect, authenticate,
//! subscribe, then read and record until told to stop.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::latency::LatencyHistogram;
use crate::ledger::RoomLog;
use crate::protocol::{self, Event, Protocol};
use crate::token::TokenMinter;

/// Counters shared by every connection.
#[derive(Debug)]
pub struct Counters {
    /// Connections subscribed to all their rooms.
    pub ready: AtomicU64,
    /// Connections that could not be set up.
    pub setup_failed: AtomicU64,
    /// Connections currently open and subscribed.
    pub open: AtomicU64,
    /// Connections the server closed (or that broke) after setup.
    pub dropped: AtomicU64,
    /// Message frames (Centrifugo: publications) received.
    pub messages: AtomicU64,
    /// Other frames received.
    pub other_frames: AtomicU64,
    /// Frames that did not parse.
    pub parse_errors: AtomicU64,
    /// Error frames or error replies.
    pub error_frames: AtomicU64,
    /// Wall clock (ms) of the first message, `i64::MAX` before any.
    pub first_message_ms: AtomicI64,
    /// Wall clock (ms) of the last message.
    pub last_message_ms: AtomicI64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            ready: AtomicU64::new(0),
            setup_failed: AtomicU64::new(0),
            open: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            other_frames: AtomicU64::new(0),
            parse_errors: AtomicU64::new(0),
            error_frames: AtomicU64::new(0),
            first_message_ms: AtomicI64::new(i64::MAX),
            last_message_ms: AtomicI64::new(0),
        }
    }
}

/// What every connection task shares.
pub struct Shared {
    /// Protocol spoken.
    pub protocol: Protocol,
    /// Server address.
    pub server: SocketAddr,
    /// All room ids; connections refer to them by index.
    pub rooms: Vec<String>,
    /// Token minter.
    pub minter: TokenMinter,
    /// Delivery latencies.
    pub latency: LatencyHistogram,
    /// Counters.
    pub counters: Counters,
    /// Limit on setup time.
    pub setup_timeout: Duration,
    /// First error seen per kind, for the summary.
    pub first_errors: std::sync::Mutex<Vec<String>>,
}

impl Shared {
    fn note_error(&self, error: String) {
        if let Ok(mut errors) = self.first_errors.lock() {
            if errors.len() < 5 && !errors.contains(&error) {
                errors.push(error);
            }
        }
    }
}

/// One connection's assignment.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Connection number (also the user id suffix).
    pub index: usize,
    /// Source address to bind.
    pub source: IpAddr,
    /// Indices of the rooms to subscribe to.
    pub rooms: Vec<usize>,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Could not be set up.
    SetupFailed,
    /// Held until the stop.
    Held,
    /// Closed by the server or broken before the stop.
    Dropped,
}

/// What a connection task returns.
pub struct Outcome {
    /// How it ended.
    pub ending: Ending,
    /// What it received, per room.
    pub logs: Vec<RoomLog>,
}

/// A client WebSocket.
pub type Ws = WebSocketStream<TcpStream>;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Connects from `source` to `server` (TCP_NODELAY) and upgrades to a
/// WebSocket with `token` where the protocol carries it in the URL.
pub async fn open(
    server: SocketAddr,
    source: IpAddr,
    protocol: Protocol,
    token: &str,
) -> anyhow::Result<Ws> {
    let socket = match server {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}{}", protocol::ws_path(protocol, token));
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Runs one connection until `stop` turns true. `permit` bounds concurrent
/// handshakes and is released once subscribed.
pub async fn run_connection(
    shared: Arc<Shared>,
    plan: Plan,
    permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let mut conn = Connection {
        logs: plan.rooms.iter().map(|&r| RoomLog::new(r)).collect(),
        shared: Arc::clone(&shared),
        rooms_pending: plan.rooms.len(),
        connected: false,
        setup_error: None,
    };
    let setup = tokio::time::timeout(shared.setup_timeout, conn.setup(&plan));
    let mut ws = match setup.await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return conn.fail(e),
        Err(_) => return conn.fail(anyhow::anyhow!("setup timed out")),
    };
    drop(permit);
    shared.counters.ready.fetch_add(1, Ordering::Relaxed);
    shared.counters.open.fetch_add(1, Ordering::Relaxed);
    let ending = loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = wait_for_stop(&mut stop) => break Ending::Held,
        };
        let result = match frame {
            Some(Ok(message)) => conn.handle(&mut ws, message).await,
            Some(Err(e)) => Err(e.into()),
            None => Err(anyhow::anyhow!("closed by server")),
        };
        if let Err(e) = result {
            shared.note_error(format!("connection dropped: {e}"));
            break Ending::Dropped;
        }
    };
    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
    if ending == Ending::Dropped {
        shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
    } else {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    Outcome {
        ending,
        logs: conn.logs,
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
pub async fn wait_for_stop(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

struct Connection {
    shared: Arc<Shared>,
    logs: Vec<RoomLog>,
    rooms_pending: usize,
    connected: bool,
    /// An error frame seen while setting up.
    setup_error: Option<String>,
}

impl Connection {
    fn fail(self, error: anyhow::Error) -> Outcome {
        self.shared
            .counters
            .setup_failed
            .fetch_add(1, Ordering::Relaxed);
        self.shared.note_error(format!("setup: {error:#}"));
        Outcome {
            ending: Ending::SetupFailed,
            logs: self.logs,
        }
    }

    async fn setup(&mut self, plan: &Plan) -> anyhow::Result<Ws> {
        let shared = Arc::clone(&self.shared);
        let room_ids: Vec<&str> = plan
            .rooms
            .iter()
            .filter_map(|&r| shared.rooms.get(r).map(String::as_str))
            .collect();
        let token = shared
            .minter
            .viewer(&format!("load-{}", plan.index), &room_ids)?;
        let mut ws = open(shared.server, plan.source, shared.protocol, &token).await?;
        if let Some(frame) = protocol::connect_frame(shared.protocol, &token) {
            ws.send(Message::text(frame)).await?;
            while !self.connected {
                let message = ws
                    .next()
                    .await
                    .ok_or_else(|| anyhow::anyhow!("closed before connect reply"))??;
                self.handle(&mut ws, message).await?;
                self.check_setup()?;
            }
        }
        for (n, room) in room_ids.iter().enumerate() {
            let frame = protocol::subscribe_frame(shared.protocol, room, n as u64 + 2);
            ws.feed(Message::text(frame)).await?;
        }
        ws.flush().await?;
        while self.rooms_pending > 0 {
            let message = ws
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("closed before subscribe replies"))??;
            self.handle(&mut ws, message).await?;
            self.check_setup()?;
        }
        Ok(ws)
    }

    fn check_setup(&mut self) -> anyhow::Result<()> {
        match self.setup_error.take() {
            Some(e) => Err(anyhow::anyhow!(e)),
            None => Ok(()),
        }
    }

    /// Handles one frame; an error ends the connection.
    async fn handle(&mut self, ws: &mut Ws, message: Message) -> anyhow::Result<()> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                anyhow::bail!(
                    "server closed: {}",
                    frame
                        .map(|f| format!("{} {}", f.code, f.reason))
                        .unwrap_or_default()
                )
            }
            _ => return Ok(()),
        };
        let protocol = self.shared.protocol;
        let mut pong = false;
        if protocol == Protocol::Parley {
            pong |= self.on_line(text.as_str());
        } else {
            for line in text.as_str().split('\n').filter(|l| !l.is_empty()) {
                pong |= self.on_line(line);
            }
        }
        if pong {
            ws.send(Message::text(protocol::CENTRIFUGO_PONG)).await?;
        }
        Ok(())
    }

    /// Handles one JSON document; returns whether a pong is due.
    fn on_line(&mut self, line: &str) -> bool {
        let counters = &self.shared.counters;
        let parsed = match self.shared.protocol {
            Protocol::Parley => protocol::parse_parley(line),
            Protocol::Centrifugo => protocol::parse_centrifugo_v2(line),
            Protocol::CentrifugoV1 => protocol::parse_centrifugo_v1(line, 1),
        };
        let event = match parsed {
            Ok(event) => event,
            Err(e) => {
                counters.parse_errors.fetch_add(1, Ordering::Relaxed);
                self.shared.note_error(format!("unparsable frame: {e}"));
                return false;
            }
        };
        match event {
            Event::Message {
                room,
                message_id,
                sent_at,
                offset,
                ..
            } => {
                let now = now_ms();
                self.shared.latency.record(now - sent_at);
                counters.messages.fetch_add(1, Ordering::Relaxed);
                counters.first_message_ms.fetch_min(now, Ordering::Relaxed);
                counters.last_message_ms.fetch_max(now, Ordering::Relaxed);
                let rooms = &self.shared.rooms;
                match self
                    .logs
                    .iter_mut()
                    .find(|log| rooms.get(log.room).is_some_and(|r| *r == room))
                {
                    Some(log) => log.record(&message_id, offset),
                    None => {
                        self.shared
                            .note_error(format!("message of a room not subscribed: {room}"));
                    }
                }
            }
            Event::Subscribed { .. } => {
                self.rooms_pending = self.rooms_pending.saturating_sub(1);
                counters.other_frames.fetch_add(1, Ordering::Relaxed);
            }
            Event::Connected => {
                self.connected = true;
                counters.other_frames.fetch_add(1, Ordering::Relaxed);
            }
            Event::Error(e) => {
                counters.error_frames.fetch_add(1, Ordering::Relaxed);
                self.shared.note_error(e.clone());
                self.setup_error = Some(e);
            }
            Event::Ping => {
                counters.other_frames.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Event::Other | Event::Published { .. } | Event::PublishRefused { .. } => {
                counters.other_frames.fetch_add(1, Ordering::Relaxed);
            }
        }
        false
    }
}
