//! Helpers of the fault suite (`tests/tests/faults/`): a seeded random
//! source for fault moments, a WebSocket client that reconnects with its
//! last `pos` as `since` whenever its websocket-sender goes away, and what
//! the loadgen truth file says each sink must hold.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::ws::Client;

/// SplitMix64: a small, seeded, reproducible random source (fault moments,
/// which instance dies); the seed is logged so a run can be repeated.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A duration between `min` and `max` milliseconds.
    pub fn millis(&mut self, min: u64, max: u64) -> Duration {
        Duration::from_millis(min + self.below(max.saturating_sub(min) + 1))
    }
}

#[derive(Debug, Deserialize)]
struct TruthLine {
    label: String,
    message_id: Option<String>,
    room_id: String,
    incident_id: Option<String>,
}

/// What loadgen produced, from its `--truth` file.
#[derive(Debug, Default)]
pub struct Truth {
    /// Every valid message id, in production order.
    pub valid: Vec<String>,
    /// Valid message ids per room, in production (= Kafka partition) order.
    pub rooms: HashMap<String, Vec<String>>,
    /// Malformed records.
    pub malformed: usize,
    /// Incident id → its category.
    pub incidents: BTreeMap<String, String>,
    /// Message id → incident id.
    pub incident_of: HashMap<String, String>,
}

impl Truth {
    /// Parses loadgen's truth lines.
    pub fn parse(text: &str) -> Truth {
        let mut truth = Truth::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(t) = serde_json::from_str::<TruthLine>(line) else {
                continue;
            };
            if t.label == "malformed" {
                truth.malformed += 1;
                continue;
            }
            let Some(id) = t.message_id else { continue };
            truth.valid.push(id.clone());
            truth.rooms.entry(t.room_id).or_default().push(id.clone());
            if let Some(incident) = t.incident_id {
                truth
                    .incidents
                    .entry(incident.clone())
                    .or_insert_with(|| t.label.clone());
                truth.incident_of.insert(id, incident);
            }
        }
        truth
    }

    /// The `n` rooms with the most messages among the first records (by
    /// count, then name, so the choice is stable).
    pub fn busiest_rooms(&self, n: usize) -> Vec<String> {
        let mut rooms: Vec<(&String, usize)> =
            self.rooms.iter().map(|(r, ids)| (r, ids.len())).collect();
        rooms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rooms.into_iter().take(n).map(|(r, _)| r.clone()).collect()
    }
}

/// What one reconnecting client received.
#[derive(Debug, Default, Clone)]
pub struct RoomLog {
    /// Message ids in the order received.
    pub ids: Vec<String>,
    /// `pos` of each message, as (partition, offset).
    pub positions: Vec<(i32, i64)>,
    /// Connections lost and made again.
    pub reconnects: u32,
    /// Reconnects whose `subscribed` said `recovered: false` (a gap).
    pub not_recovered: u32,
    /// Error frames or unexpected answers seen.
    pub errors: Vec<String>,
}

/// A player's client on one room that reconnects with `since` = its last
/// `pos` whenever the connection is lost, until `stop` is set.
pub struct RoomClient {
    /// The room.
    pub room: String,
    /// The websocket-sender address it (re)connects to.
    pub addr: String,
    /// What it received so far.
    pub log: Arc<Mutex<RoomLog>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RoomClient {
    /// Starts the client on the current tokio runtime.
    pub fn start(addr: &str, room: &str, token: &str) -> RoomClient {
        let log = Arc::new(Mutex::new(RoomLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(run(
            addr.to_owned(),
            room.to_owned(),
            token.to_owned(),
            Arc::clone(&log),
            Arc::clone(&stop),
        ));
        RoomClient {
            room: room.to_owned(),
            addr: addr.to_owned(),
            log,
            stop,
            task,
        }
    }

    /// What it received so far.
    pub fn snapshot(&self) -> RoomLog {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Messages received so far.
    pub fn received(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ids
            .len()
    }

    /// Stops the client and returns what it received.
    pub async fn finish(self) -> RoomLog {
        self.stop.store(true, Ordering::Relaxed);
        let log = Arc::clone(&self.log);
        let _ = self.task.await;
        let received = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
        received
    }
}

fn parse_pos(pos: &str) -> Option<(i32, i64)> {
    let (p, o) = pos.split_once(':')?;
    Some((p.parse().ok()?, o.parse().ok()?))
}

async fn run(
    addr: String,
    room: String,
    token: String,
    log: Arc<Mutex<RoomLog>>,
    stop: Arc<AtomicBool>,
) {
    let lock = || log.lock().unwrap_or_else(PoisonError::into_inner);
    let mut since: Option<String> = None;
    let mut connected_before = false;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut client) = Client::connect(&addr, Some(&token)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if connected_before {
            lock().reconnects += 1;
        }
        connected_before = true;
        let mut op = json!({"op": "subscribe", "room_id": room});
        if let Some(since) = &since {
            op["since"] = json!(since);
        }
        if !client.try_send(op).await {
            continue;
        }
        // The answer, then messages until the connection is lost.
        let answer = client
            .next_matching(Duration::from_secs(60), |f| {
                matches!(f["op"].as_str(), Some("subscribed" | "error"))
            })
            .await;
        let Some(answer) = answer else { continue };
        if answer["op"] == "error" {
            lock().errors.push(answer.to_string());
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        if since.is_some() && answer["recovered"] != true {
            lock().not_recovered += 1;
        }
        if since.is_none() {
            since = answer["pos"]
                .as_str()
                .filter(|p| parse_pos(p).is_some())
                .map(str::to_owned);
        }
        loop {
            match client.next(Duration::from_millis(500)).await {
                Ok(Some(frame)) if frame["op"] == "message" => {
                    let Some(pos) = frame["pos"].as_str().map(str::to_owned) else {
                        lock().errors.push(format!("message without pos: {frame}"));
                        continue;
                    };
                    let id = message_id(&frame);
                    let mut log = lock();
                    log.ids.push(id);
                    log.positions.push(parse_pos(&pos).unwrap_or((-1, -1)));
                    drop(log);
                    since = Some(pos);
                }
                Ok(Some(frame)) if frame["op"] == "error" => lock().errors.push(frame.to_string()),
                Ok(Some(_)) => {}
                Ok(None) => {
                    if stop.load(Ordering::Relaxed) {
                        client.close().await;
                        return;
                    }
                }
                Err(_) => break,
            }
        }
    }
}

fn message_id(frame: &Value) -> String {
    frame["message"]["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// How a client's log compares with the room's messages: (missing,
/// duplicated, in Kafka order).
pub fn compare_room(expected: &[String], log: &RoomLog) -> (usize, usize, bool) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in &log.ids {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let duplicated = seen.values().map(|&n| n - 1).sum();
    let missing = expected
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let ordered = log.ids == expected
        && log
            .positions
            .windows(2)
            .all(|w| w[0].0 == w[1].0 && w[0].1 < w[1].1);
    (missing, duplicated, ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_bounded() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        let d = a.millis(100, 200);
        assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
    }

    #[test]
    fn truth_groups_valid_messages_by_room_in_order() {
        let text = [
            r#"{"label":"benign","message_id":"a","room_id":"r1"}"#,
            r#"{"label":"malformed","room_id":"r1"}"#,
            r#"{"label":"flood","message_id":"b","room_id":"r2","incident_id":"inc-1"}"#,
            r#"{"label":"benign","message_id":"c","room_id":"r1"}"#,
        ]
        .join("\n");
        let t = Truth::parse(&text);
        assert_eq!(t.valid, ["a", "b", "c"]);
        assert_eq!(t.malformed, 1);
        assert_eq!(t.rooms["r1"], ["a", "c"]);
        assert_eq!(t.busiest_rooms(1), ["r1"]);
        assert_eq!(t.incidents["inc-1"], "flood");
    }

    #[test]
    fn a_room_log_is_compared_for_loss_duplicates_and_order() {
        let expected: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
        let mut log = RoomLog {
            ids: expected.clone(),
            positions: vec![(1, 1), (1, 5), (1, 9)],
            ..RoomLog::default()
        };
        assert_eq!(compare_room(&expected, &log), (0, 0, true));
        log.ids = ["a", "b", "b"].map(str::to_owned).to_vec();
        assert_eq!(compare_room(&expected, &log), (1, 1, false));
    }
}
