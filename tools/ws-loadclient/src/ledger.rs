//! What each connection received, and the check against what was produced
//! (loadgen's `--truth` file): losses, duplicates, order violations and
//! moderators-only records that reached a viewer. Pure.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::BufRead;

use serde::{Deserialize, Serialize};

/// A stable 64-bit digest of a message id (a set of u64 is ~5× smaller
/// than one of strings, which matters at millions of deliveries).
pub fn id_hash(message_id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    message_id.hash(&mut hasher);
    hasher.finish()
}

/// What one connection received in one room, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct RoomLog {
    /// Index of the room in the run's room list.
    pub room: usize,
    /// Digests of the message ids, in arrival order.
    pub received: Vec<u64>,
    /// Last Kafka offset seen (Parley `pos`).
    last_offset: Option<u64>,
    /// Times the offset did not grow (duplicate or reorder by `pos`).
    pub offset_regressions: u64,
}

impl RoomLog {
    /// An empty log of room `room`.
    pub fn new(room: usize) -> Self {
        RoomLog {
            room,
            ..RoomLog::default()
        }
    }

    /// Records one delivered message.
    pub fn record(&mut self, message_id: &str, offset: Option<u64>) {
        self.received.push(id_hash(message_id));
        if let Some(offset) = offset {
            if self.last_offset.is_some_and(|last| offset <= last) {
                self.offset_regressions += 1;
            }
            self.last_offset = Some(offset);
        }
    }
}

/// One produced record as the check needs it.
#[derive(Debug, Clone, Copy)]
struct Produced {
    room: u32,
    /// Position among the room's viewer-visible messages.
    seq: u32,
    moderators_only: bool,
}

/// Everything that was produced, by room, in production order.
#[derive(Debug, Default)]
pub struct Truth {
    rooms: Vec<String>,
    room_index: HashMap<String, usize>,
    /// Viewer-visible messages per room.
    visible: Vec<u32>,
    by_id: HashMap<u64, Produced>,
}

#[derive(Deserialize)]
struct TruthLine {
    #[serde(default)]
    message_id: Option<String>,
    room_id: String,
    #[serde(default)]
    visibility: Option<String>,
}

impl Truth {
    /// Reads loadgen's `--truth` JSON lines; malformed records (no message
    /// id) are skipped since no server may deliver them.
    pub fn read(reader: impl BufRead) -> anyhow::Result<Self> {
        let mut truth = Truth::default();
        for (n, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: TruthLine = serde_json::from_str(&line)
                .map_err(|e| anyhow::anyhow!("truth line {}: {e}", n + 1))?;
            let Some(message_id) = record.message_id else {
                continue;
            };
            truth.add(
                &message_id,
                &record.room_id,
                record.visibility.as_deref() == Some("moderators"),
            );
        }
        Ok(truth)
    }

    /// Adds one produced message.
    pub fn add(&mut self, message_id: &str, room: &str, moderators_only: bool) {
        let index = match self.room_index.get(room) {
            Some(&i) => i,
            None => {
                self.rooms.push(room.to_owned());
                self.visible.push(0);
                self.room_index
                    .insert(room.to_owned(), self.rooms.len() - 1);
                self.rooms.len() - 1
            }
        };
        let seq = self.visible[index];
        if !moderators_only {
            self.visible[index] += 1;
        }
        self.by_id.insert(
            id_hash(message_id),
            Produced {
                room: index as u32,
                seq,
                moderators_only,
            },
        );
    }

    /// Rooms in order of first appearance.
    pub fn rooms(&self) -> &[String] {
        &self.rooms
    }

    /// Messages produced.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing was produced.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Checks every (connection, room) log. `room_names` maps a log's room
    /// index to its id.
    pub fn check<'a>(
        &self,
        room_names: &[String],
        logs: impl IntoIterator<Item = &'a RoomLog>,
    ) -> Verdict {
        let mut verdict = Verdict::default();
        let mut seen: Vec<bool> = Vec::new();
        for log in logs {
            let Some(name) = room_names.get(log.room) else {
                continue;
            };
            let room = self.room_index.get(name).copied();
            let expected = room.map_or(0, |r| self.visible[r]) as usize;
            verdict.expected += expected as u64;
            seen.clear();
            seen.resize(expected, false);
            let mut highest: Option<u32> = None;
            for hash in &log.received {
                match self.by_id.get(hash) {
                    Some(p) if Some(p.room as usize) == room && p.moderators_only => {
                        verdict.moderators_leaked += 1;
                    }
                    Some(p) if Some(p.room as usize) == room => {
                        let slot = &mut seen[p.seq as usize];
                        if *slot {
                            verdict.duplicates += 1;
                            continue;
                        }
                        *slot = true;
                        verdict.delivered_unique += 1;
                        if highest.is_some_and(|h| p.seq < h) {
                            verdict.order_violations += 1;
                        }
                        highest = highest.max(Some(p.seq));
                    }
                    _ => verdict.unexpected += 1,
                }
            }
        }
        verdict.lost = verdict.expected.saturating_sub(verdict.delivered_unique);
        verdict
    }
}

/// The outcome of checking deliveries against the truth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// (connection, message) pairs that should have been delivered.
    pub expected: u64,
    /// Distinct expected messages delivered.
    pub delivered_unique: u64,
    /// Expected but never delivered.
    pub lost: u64,
    /// Delivered again on the same connection and room.
    pub duplicates: u64,
    /// Delivered after a later message of the same room.
    pub order_violations: u64,
    /// Delivered but never produced for that room.
    pub unexpected: u64,
    /// Moderators-only messages delivered to a viewer.
    pub moderators_leaked: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> Truth {
        let lines = [
            r#"{"label":"benign","message_id":"a1","room_id":"A","game_id":"g","user_id":"u","sent_at":1}"#,
            r#"{"label":"benign","message_id":"b1","room_id":"B","game_id":"g","user_id":"u","sent_at":1}"#,
            r#"{"label":"benign","message_id":"a2","room_id":"A","game_id":"g","user_id":"u","sent_at":2,"visibility":"moderators"}"#,
            r#"{"label":"malformed","room_id":"A","game_id":"g","user_id":"u","sent_at":2,"malformed":"json"}"#,
            r#"{"label":"benign","message_id":"a3","room_id":"A","game_id":"g","user_id":"u","sent_at":3}"#,
            r#"{"label":"benign","message_id":"a4","room_id":"A","game_id":"g","user_id":"u","sent_at":4}"#,
        ];
        Truth::read(lines.join("\n").as_bytes()).expect("truth")
    }

    fn log(room: usize, ids: &[&str]) -> RoomLog {
        let mut log = RoomLog::new(room);
        for id in ids {
            log.record(id, None);
        }
        log
    }

    #[test]
    fn perfect_delivery() {
        let t = truth();
        assert_eq!(t.rooms(), ["A", "B"]);
        assert_eq!(t.len(), 5);
        let names = vec!["A".to_owned(), "B".to_owned()];
        let logs = [log(0, &["a1", "a3", "a4"]), log(1, &["b1"])];
        let v = t.check(&names, &logs);
        assert_eq!(
            v,
            Verdict {
                expected: 4,
                delivered_unique: 4,
                ..Verdict::default()
            }
        );
    }

    #[test]
    fn losses_duplicates_reorders_and_leaks() {
        let t = truth();
        let names = vec!["A".to_owned(), "B".to_owned(), "C".to_owned()];
        let logs = [
            log(0, &["a1", "a4", "a3", "a3", "a2", "b1"]),
            log(1, &[]),
            log(2, &["zz"]),
        ];
        let v = t.check(&names, &logs);
        assert_eq!(v.expected, 4);
        assert_eq!(v.delivered_unique, 3);
        assert_eq!(v.lost, 1);
        assert_eq!(v.duplicates, 1);
        assert_eq!(v.order_violations, 1);
        assert_eq!(v.moderators_leaked, 1);
        assert_eq!(v.unexpected, 2);
    }

    #[test]
    fn offsets_must_grow() {
        let mut l = RoomLog::new(0);
        l.record("x", Some(5));
        l.record("y", Some(6));
        l.record("y", Some(6));
        l.record("z", Some(4));
        assert_eq!(l.offset_regressions, 2);
    }
}
