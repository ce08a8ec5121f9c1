//! One connection of the `publish` mode: connect, authenticate, subscribe
//! to its room, then — a publisher — send publishes on its own schedule
//! and time each one to its acknowledgement, or — a listener — time each
//! message from the publisher's send time carried in its `meta`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::connection::{self, Ws};
use crate::latency::FineHistogram;
use crate::protocol::{self, Event, Protocol, PUBLISH_ID_BASE};
use crate::token::TokenMinter;

/// Counters and histograms every connection of the mode shares.
#[derive(Debug, Default)]
pub struct PublishCounters {
    /// Connections subscribed to their room.
    pub ready: AtomicU64,
    /// Connections that could not be set up.
    pub setup_failed: AtomicU64,
    /// Connections lost after setup.
    pub dropped: AtomicU64,
    /// Publishes sent.
    pub sent: AtomicU64,
    /// Publishes acknowledged.
    pub acked: AtomicU64,
    /// Publishes refused for a rate (Parley 4429).
    pub refused_rate: AtomicU64,
    /// Publishes refused otherwise.
    pub refused_other: AtomicU64,
    /// Messages with a send time received by listeners.
    pub delivered: AtomicU64,
    /// Messages with a send time received by publishers (their room's echo).
    pub echoed: AtomicU64,
    /// Frames that did not parse, and error frames not tied to a publish.
    pub errors: AtomicU64,
    /// Wall clock µs of the first and last publish sent.
    pub first_sent_us: AtomicU64,
    /// See `first_sent_us`.
    pub last_sent_us: AtomicU64,
}

/// What every connection task of the mode shares.
pub struct PublishShared {
    /// Protocol spoken.
    pub protocol: Protocol,
    /// Room ids.
    pub rooms: Vec<String>,
    /// Publishes acknowledged per room (the expected deliveries).
    pub acked_per_room: Vec<AtomicU64>,
    /// Listeners subscribed per room.
    pub listeners_per_room: Vec<AtomicU64>,
    /// Token minter.
    pub minter: TokenMinter,
    /// The tokens' `game` claim.
    pub game: String,
    /// The content of every publish.
    pub content: String,
    /// Publish → acknowledgement.
    pub ack: FineHistogram,
    /// Publish → a listener (on the other server) received it.
    pub delivered: FineHistogram,
    /// Publish → the publishers of the room (the publisher included) got it.
    pub echo: FineHistogram,
    /// Counters.
    pub counters: PublishCounters,
    /// Limit on setup time.
    pub setup_timeout: Duration,
    /// First distinct errors, for the summary.
    pub first_errors: std::sync::Mutex<Vec<String>>,
}

impl PublishShared {
    fn note_error(&self, error: String) {
        if let Ok(mut errors) = self.first_errors.lock() {
            if errors.len() < 5 && !errors.contains(&error) {
                errors.push(error);
            }
        }
    }
}

/// When a publisher sends: every `interval` from `first` until `end`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// First send.
    pub first: Instant,
    /// Time between sends.
    pub interval: Duration,
    /// No send at or after this.
    pub end: Instant,
}

/// One connection's part.
#[derive(Debug, Clone)]
pub struct Role {
    /// Connection number (user `pub-<index>`).
    pub index: usize,
    /// Server to connect to.
    pub server: SocketAddr,
    /// Source address to bind.
    pub source: IpAddr,
    /// Index of its room.
    pub room: usize,
    /// Where in each interval a publisher sends, as a fraction in [0, 1):
    /// publishers spread over the interval instead of sending at once.
    pub phase: f64,
    /// Publishers get the start of their schedule through this (None until
    /// publishing begins); listeners get `None`.
    pub schedule: Option<watch::Receiver<Option<Schedule>>>,
}

/// Wall clock in µs since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Runs one connection until `stop`; `permit` bounds concurrent handshakes.
/// Returns whether it held until the stop.
pub async fn run(
    shared: Arc<PublishShared>,
    role: Role,
    permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) -> bool {
    let counters = &shared.counters;
    let setup = tokio::time::timeout(shared.setup_timeout, setup(&shared, &role));
    let mut ws = match setup.await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return failed(&shared, &format!("setup: {e:#}")),
        Err(_) => return failed(&shared, "setup: timed out"),
    };
    drop(permit);
    counters.ready.fetch_add(1, Ordering::Relaxed);
    if role.schedule.is_none() {
        shared.listeners_per_room[role.room].fetch_add(1, Ordering::Relaxed);
    }
    let mut conn = Conn {
        shared: Arc::clone(&shared),
        role: role.clone(),
        pending: HashMap::new(),
        seq: 0,
    };
    let held = conn.serve(&mut ws, role.schedule, &mut stop).await;
    if held {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    } else {
        counters.dropped.fetch_add(1, Ordering::Relaxed);
    }
    held
}

fn failed(shared: &PublishShared, error: &str) -> bool {
    shared.counters.setup_failed.fetch_add(1, Ordering::Relaxed);
    shared.note_error(error.to_owned());
    false
}

async fn setup(shared: &PublishShared, role: &Role) -> anyhow::Result<Ws> {
    let room = shared.rooms[role.room].as_str();
    let token = shared
        .minter
        .player(&format!("pub-{}", role.index), &[room], &shared.game)?;
    let mut ws = connection::open(role.server, role.source, shared.protocol, &token).await?;
    if let Some(frame) = protocol::connect_frame(shared.protocol, &token) {
        ws.send(Message::text(frame)).await?;
        wait_for(&mut ws, shared.protocol, |e| matches!(e, Event::Connected)).await?;
    }
    ws.send(Message::text(protocol::subscribe_frame(
        shared.protocol,
        room,
        2,
    )))
    .await?;
    wait_for(&mut ws, shared.protocol, |e| {
        matches!(e, Event::Subscribed { .. })
    })
    .await?;
    Ok(ws)
}

/// Reads until an event `done` accepts; an error frame fails the setup.
async fn wait_for(
    ws: &mut Ws,
    protocol: Protocol,
    done: impl Fn(&Event<'_>) -> bool,
) -> anyhow::Result<()> {
    loop {
        let message = ws
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("closed during setup"))??;
        let Message::Text(text) = message else {
            continue;
        };
        for line in lines(protocol, text.as_str()) {
            match parse(protocol, line)? {
                Event::Error(e) => anyhow::bail!("{e}"),
                Event::Ping => ws.send(Message::text(protocol::CENTRIFUGO_PONG)).await?,
                event if done(&event) => return Ok(()),
                _ => {}
            }
        }
    }
}

/// The JSON documents of one frame (Centrifugo batches them by lines).
fn lines(protocol: Protocol, text: &str) -> impl Iterator<Item = &str> {
    let batched = protocol != Protocol::Parley;
    text.split(move |c| batched && c == '\n')
        .filter(|l| !l.is_empty())
}

fn parse(protocol: Protocol, line: &str) -> Result<Event<'_>, serde_json::Error> {
    match protocol {
        Protocol::Parley => protocol::parse_parley(line),
        Protocol::Centrifugo => protocol::parse_centrifugo_v2(line),
        Protocol::CentrifugoV1 => protocol::parse_centrifugo_v1(line, 1),
    }
}

/// The sequence number of a publish, from its Parley `client_msg_id`
/// (`c<connection>-<seq>`) or its Centrifugo command id.
pub fn publish_seq(client_msg_id: Option<&str>, id: Option<u64>) -> Option<u64> {
    match (client_msg_id, id) {
        (Some(key), _) => key.rsplit_once('-')?.1.parse().ok(),
        (None, Some(id)) => id.checked_sub(PUBLISH_ID_BASE),
        (None, None) => None,
    }
}

struct Conn {
    shared: Arc<PublishShared>,
    role: Role,
    /// Publishes sent and not yet answered: seq → send instant.
    pending: HashMap<u64, Instant>,
    seq: u64,
}

impl Conn {
    /// Reads (and publishes, on schedule) until the stop; false if the
    /// connection was lost first.
    async fn serve(
        &mut self,
        ws: &mut Ws,
        mut schedule: Option<watch::Receiver<Option<Schedule>>>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let mut plan: Option<Schedule> = None;
        let timer = tokio::time::sleep_until(far);
        tokio::pin!(timer);
        loop {
            let waiting_for_plan = plan.is_none() && schedule.is_some();
            tokio::select! {
                biased;
                () = connection::wait_for_stop(stop) => return true,
                frame = ws.next() => {
                    let result = match frame {
                        Some(Ok(message)) => self.on_frame(ws, message).await,
                        Some(Err(e)) => Err(e.into()),
                        None => Err(anyhow::anyhow!("closed by server")),
                    };
                    if let Err(e) = result {
                        self.shared.note_error(format!("connection dropped: {e}"));
                        return false;
                    }
                }
                changed = async { schedule.as_mut()?.changed().await.ok() }, if waiting_for_plan => {
                    if changed.is_none() {
                        schedule = None;
                        continue;
                    }
                    plan = schedule.as_ref().and_then(|s| *s.borrow());
                    if let Some(p) = plan {
                        timer.as_mut().reset(p.first + p.interval.mul_f64(self.role.phase));
                    }
                }
                () = &mut timer => {
                    let Some(p) = plan else {
                        timer.as_mut().reset(far);
                        continue;
                    };
                    if let Err(e) = self.publish(ws).await {
                        self.shared.note_error(format!("connection dropped: {e}"));
                        return false;
                    }
                    let next = timer.deadline() + p.interval;
                    timer.as_mut().reset(if next < p.end { next } else { far });
                }
            }
        }
    }

    async fn publish(&mut self, ws: &mut Ws) -> anyhow::Result<()> {
        let shared = &self.shared;
        self.seq += 1;
        let key = format!("c{}-{}", self.role.index, self.seq);
        let sent_us = now_us();
        let frame = protocol::publish_frame(
            shared.protocol,
            &shared.rooms[self.role.room],
            &shared.content,
            &key,
            PUBLISH_ID_BASE + self.seq,
            sent_us,
        );
        self.pending.insert(self.seq, Instant::now());
        let counters = &shared.counters;
        counters.sent.fetch_add(1, Ordering::Relaxed);
        let sent = sent_us.max(0) as u64;
        counters.first_sent_us.fetch_min(sent, Ordering::Relaxed);
        counters.last_sent_us.fetch_max(sent, Ordering::Relaxed);
        ws.send(Message::text(frame)).await?;
        Ok(())
    }

    async fn on_frame(&mut self, ws: &mut Ws, message: Message) -> anyhow::Result<()> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => anyhow::bail!(
                "server closed: {}",
                frame
                    .map(|f| format!("{} {}", f.code, f.reason))
                    .unwrap_or_default()
            ),
            _ => return Ok(()),
        };
        let protocol = self.shared.protocol;
        let mut pong = false;
        for line in lines(protocol, text.as_str()) {
            pong |= self.on_line(line);
        }
        if pong {
            ws.send(Message::text(protocol::CENTRIFUGO_PONG)).await?;
        }
        Ok(())
    }

    /// Records one JSON document; returns whether a pong is due.
    fn on_line(&mut self, line: &str) -> bool {
        let shared = &self.shared;
        let counters = &shared.counters;
        let event = match parse(shared.protocol, line) {
            Ok(event) => event,
            Err(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                shared.note_error(format!("unparsable frame: {e}"));
                return false;
            }
        };
        match event {
            Event::Message {
                sent_us: Some(sent_us),
                ..
            } => {
                let latency = now_us() - sent_us;
                if self.role.schedule.is_some() {
                    shared.echo.record_us(latency);
                    counters.echoed.fetch_add(1, Ordering::Relaxed);
                } else {
                    shared.delivered.record_us(latency);
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Event::Published { client_msg_id, id } => {
                let sent = publish_seq(client_msg_id.as_deref(), id)
                    .and_then(|seq| self.pending.remove(&seq));
                if let Some(sent) = sent {
                    shared.ack.record_us(sent.elapsed().as_micros() as i64);
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                    shared.acked_per_room[self.role.room].fetch_add(1, Ordering::Relaxed);
                }
            }
            Event::PublishRefused {
                client_msg_id,
                id,
                code,
            } => {
                if let Some(seq) = publish_seq(client_msg_id.as_deref(), id) {
                    self.pending.remove(&seq);
                }
                if code == 4429 {
                    counters.refused_rate.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.refused_other.fetch_add(1, Ordering::Relaxed);
                    shared.note_error(format!("publish refused: {code}"));
                }
            }
            Event::Error(e) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                shared.note_error(e);
            }
            Event::Ping => return true,
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_seq_from_either_protocol() {
        assert_eq!(publish_seq(Some("c12-34"), None), Some(34));
        assert_eq!(publish_seq(Some("junk"), None), None);
        assert_eq!(publish_seq(None, Some(PUBLISH_ID_BASE + 7)), Some(7));
        assert_eq!(publish_seq(None, Some(3)), None);
        assert_eq!(publish_seq(None, None), None);
    }

    #[test]
    fn centrifugo_frames_split_by_line_parley_frames_do_not() {
        let batched: Vec<&str> = lines(Protocol::Centrifugo, "{\"a\":1}\n{\"b\":2}\n").collect();
        assert_eq!(batched, ["{\"a\":1}", "{\"b\":2}"]);
        let single: Vec<&str> = lines(Protocol::Parley, "{\"a\":\"x\\ny\"}").collect();
        assert_eq!(single.len(), 1);
    }
}
