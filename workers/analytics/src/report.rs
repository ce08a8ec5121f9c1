//! Turns every partition's windows into gauges every `--refresh`: active
//! users (sketches merged across partitions), active rooms, the K busiest
//! rooms (series of rooms that left the top K are removed), warming
//! partitions and state size.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parley_shared::metrics::now_ms;

use crate::metrics::AnalyticsMetrics;
use crate::rooms::{top_k, BusyRoom};
use crate::state::{lock, StateTable};
use crate::windows::{UserSketch, Window};
use parley_shared::labels::GameLabels;

/// What one refresh computed.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Active users by (game, window).
    pub users: HashMap<(Arc<str>, &'static str), u64>,
    /// Active rooms by (game, window).
    pub rooms: HashMap<(Arc<str>, &'static str), u64>,
    /// The busiest rooms, busiest first.
    pub top: Vec<BusyRoom>,
    /// Partitions younger than the longest window.
    pub warming: usize,
    /// Approximate state bytes.
    pub bytes: usize,
}

/// Computes the gauges from every partition's state at `now`.
pub fn snapshot(table: &StateTable, top: usize, now: i64) -> Snapshot {
    let mut out = Snapshot::default();
    let mut sketches: HashMap<(Arc<str>, &'static str), UserSketch> = HashMap::new();
    let mut candidates = Vec::new();
    for state in table.all() {
        let mut state = lock(&state);
        state.expire(now);
        if now - state.started_at < Window::OneHour.millis() {
            out.warming += 1;
        }
        out.bytes += state.bytes();
        for (game, windows) in &state.users {
            for window in Window::ALL {
                let sketch = sketches
                    .entry((Arc::clone(game), window.label()))
                    .or_default();
                windows.merge_into(window, now, sketch);
            }
        }
        for window in Window::ALL {
            let mut counts = HashMap::new();
            state.rooms.count_active(window, now, &mut counts);
            for (game, n) in counts {
                *out.rooms.entry((game, window.label())).or_default() += n;
            }
        }
        candidates.extend(state.rooms.busiest(top, now));
    }
    out.users = sketches
        .into_iter()
        .map(|(key, sketch)| (key, sketch.estimate() as u64))
        .collect();
    top_k(&mut candidates, top);
    out.top = candidates;
    out
}

/// Publishes snapshots every `every` until the task is dropped.
pub async fn publish_every(
    every: Duration,
    table: Arc<StateTable>,
    games: Arc<GameLabels>,
    metrics: AnalyticsMetrics,
    top: usize,
) {
    let mut tick = tokio::time::interval(every);
    let mut shown_users: HashSet<(Arc<str>, &'static str)> = HashSet::new();
    let mut shown_rooms: HashSet<(Arc<str>, &'static str)> = HashSet::new();
    let mut shown_top: HashSet<(Arc<str>, String)> = HashSet::new();
    loop {
        tick.tick().await;
        let table = Arc::clone(&table);
        let Ok(snap) = tokio::task::spawn_blocking(move || snapshot(&table, top, now_ms())).await
        else {
            continue;
        };
        // Zero the windows that emptied (the game stays visible as 0).
        for key in shown_users.difference(&snap.users.keys().cloned().collect()) {
            metrics
                .active_users
                .with_label_values(&[&key.0, key.1])
                .set(0);
        }
        for (key, n) in &snap.users {
            metrics
                .active_users
                .with_label_values(&[&key.0, key.1])
                .set(*n as i64);
            shown_users.insert(key.clone());
        }
        for key in shown_rooms.difference(&snap.rooms.keys().cloned().collect()) {
            metrics
                .active_rooms
                .with_label_values(&[&key.0, key.1])
                .set(0);
        }
        for (key, n) in &snap.rooms {
            metrics
                .active_rooms
                .with_label_values(&[&key.0, key.1])
                .set(*n as i64);
            shown_rooms.insert(key.clone());
        }
        // Top rooms: a capped family; rooms that left it disappear.
        let now_top: HashSet<(Arc<str>, String)> = snap
            .top
            .iter()
            .map(|b| (Arc::clone(&b.game), b.room.clone()))
            .collect();
        for (game, room) in shown_top.difference(&now_top) {
            let _ = metrics
                .top_rooms
                .remove_label_values(&[game.as_ref(), room.as_str()]);
        }
        for busy in &snap.top {
            metrics
                .top_rooms
                .with_label_values(&[busy.game.as_ref(), busy.room.as_str()])
                .set(busy.messages as i64);
        }
        shown_top = now_top;
        metrics.warming.set(snap.warming as i64);
        metrics.state_bytes.set(snap.bytes as i64);
        metrics.games.set(games.tracked() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::lock;

    #[test]
    fn partitions_merge_users_and_rebalances_drop_state() {
        let table = StateTable::default();
        let now = 100_000_000;
        let game: Arc<str> = Arc::from("g");
        for (p, users) in [(0, 0..600), (1, 400..1000)] {
            let state = table.start(p, now - 7_200_000, 1000);
            let mut state = lock(&state);
            for u in users {
                let user = format!("u{u}");
                state
                    .users
                    .entry(Arc::clone(&game))
                    .or_default()
                    .record(&user, now - 1_000, now);
                state
                    .rooms
                    .record(&format!("room-{p}-{}", u % 7), &game, now - 1_000);
            }
        }
        let snap = snapshot(&table, 3, now);
        let users = snap.users[&(Arc::clone(&game), "1m")] as f64;
        assert!(
            (users - 1000.0).abs() / 1000.0 < 0.05,
            "users in both partitions once: {users}"
        );
        assert_eq!(snap.rooms[&(Arc::clone(&game), "5m")], 14);
        assert_eq!(snap.top.len(), 3);
        assert_eq!(snap.warming, 0);

        table.drop_partition(1);
        table.start(2, now, 1000);
        let snap = snapshot(&table, 3, now);
        let users = snap.users[&(Arc::clone(&game), "1m")] as f64;
        assert!((users - 600.0).abs() / 600.0 < 0.05, "{users}");
        assert_eq!(snap.warming, 1, "the new partition says it is warming");
    }
}
