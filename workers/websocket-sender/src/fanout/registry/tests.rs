use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::config::Partitioner;

fn registry(room_buffer: usize, budget: usize) -> RoomRegistry {
    let table = Arc::new(PartitionTable::new(4, Partitioner::Consistent));
    for p in 0..4 {
        table.get(p).start_at(0);
    }
    RoomRegistry::new(table, room_buffer, budget)
}

fn subscriber(conn: u64, moderator: bool) -> Subscriber {
    Subscriber {
        conn,
        outbox: Arc::new(Outbox::new(1 << 20)),
        sees_moderators: moderator,
        user: format!("user-{conn}").into(),
    }
}

/// Frames queued for `s` (without control frames).
fn received(s: &Subscriber) -> Vec<String> {
    let mut out = Vec::new();
    s.outbox.drain_into(&mut out);
    out.into_iter()
        .map(|q| q.frame.as_str().to_owned())
        .filter(|f| !f.starts_with('{'))
        .collect()
}

fn publish(r: &RoomRegistry, room: &str, offset: i64, moderators_only: bool) {
    let p = r.partitions().partition_of(room);
    r.publish(test_delivery(room, p, offset, moderators_only));
}

#[test]
fn rooms_and_roles_are_kept_apart() {
    let r = registry(100, 1 << 20);
    let viewer = subscriber(1, false);
    let moderator = subscriber(2, true);
    let elsewhere = subscriber(3, true);
    for (room, s) in [("a", &viewer), ("a", &moderator), ("b", &elsewhere)] {
        assert!(matches!(
            r.subscribe(room, s, None, true),
            Subscribed::Live { .. }
        ));
    }
    publish(&r, "a", 1, false);
    publish(&r, "a", 2, true);
    publish(&r, "b", 3, false);
    assert_eq!(received(&viewer), ["a@1"]);
    assert_eq!(received(&moderator), ["a@1", "a@2"]);
    assert_eq!(received(&elsewhere), ["b@3"]);
}

#[test]
fn not_ready_until_the_partition_started() {
    let table = Arc::new(PartitionTable::new(1, Partitioner::Consistent));
    let r = RoomRegistry::new(table.clone(), 10, 1 << 20);
    assert_eq!(
        r.subscribe("a", &subscriber(1, false), None, true),
        Subscribed::NotReady
    );
    table.get(0).start_at(5);
    assert!(matches!(
        r.subscribe("a", &subscriber(1, false), None, true),
        Subscribed::Live {
            pos: Pos {
                partition: 0,
                offset: 4
            },
            recovered: false,
            ..
        }
    ));
}

#[test]
fn recovery_from_the_buffer_then_live_without_gaps_or_duplicates() {
    let r = registry(100, 1 << 20);
    for o in 1..=5 {
        publish(&r, "a", o, false);
    }
    let p = r.partitions().partition_of("a");
    let s = subscriber(1, false);
    let got = r.subscribe(
        "a",
        &s,
        Some(Pos {
            partition: p,
            offset: 2,
        }),
        true,
    );
    assert_eq!(
        got,
        Subscribed::Live {
            pos: Pos {
                partition: p,
                offset: 2
            },
            recovered: true,
            replayed: 3
        }
    );
    publish(&r, "a", 6, false);
    assert_eq!(received(&s), ["a@3", "a@4", "a@5", "a@6"]);
}

#[test]
fn a_client_ahead_of_this_instance_gets_nothing_twice() {
    let r = registry(100, 1 << 20);
    publish(&r, "a", 1, false);
    let p = r.partitions().partition_of("a");
    let s = subscriber(1, false);
    r.subscribe(
        "a",
        &s,
        Some(Pos {
            partition: p,
            offset: 3,
        }),
        true,
    );
    for o in 2..=4 {
        publish(&r, "a", o, false);
    }
    assert_eq!(received(&s), ["a@4"]);
}

#[test]
fn a_gap_is_reported_when_the_buffer_dropped_what_was_missed() {
    let r = registry(3, 1 << 20);
    for o in 1..=6 {
        publish(&r, "a", o, false);
    }
    let p = r.partitions().partition_of("a");
    let s = subscriber(1, false);
    assert_eq!(
        r.subscribe(
            "a",
            &s,
            Some(Pos {
                partition: p,
                offset: 1
            }),
            true
        ),
        Subscribed::Gap {
            partition: p,
            from: 2,
            until: 4
        }
    );
    // After the caller replays 2..4 from Kafka:
    assert!(matches!(
        r.subscribe(
            "a",
            &s,
            Some(Pos {
                partition: p,
                offset: 3
            }),
            false
        ),
        Subscribed::Live {
            recovered: true,
            replayed: 3,
            ..
        }
    ));
    assert_eq!(received(&s), ["a@4", "a@5", "a@6"]);
}

#[test]
fn forgotten_rooms_lower_nobody_s_guarantee() {
    // A tiny budget: rooms are evicted; a later subscriber to an evicted
    // room must be told to read Kafka rather than get a silent gap.
    let r = registry(1000, 1);
    let mut offset = 0;
    for round in 0..200 {
        offset += 1;
        publish(&r, &format!("room-{}", round % 50), offset, false);
    }
    let usage = r.usage();
    assert!(usage.bytes <= 64 * 1024 + 16, "{usage:?}");
    let s = subscriber(1, false);
    let p = r.partitions().partition_of("room-0");
    match r.subscribe(
        "room-0",
        &s,
        Some(Pos {
            partition: p,
            offset: 0,
        }),
        true,
    ) {
        Subscribed::Live { replayed, .. } => {
            // Everything still buffered for room-0 came back.
            assert_eq!(replayed, received(&s).len());
        }
        Subscribed::Gap { from, until, .. } => assert!(from < until),
        Subscribed::NotReady => panic!("started"),
    }
}

#[test]
fn a_slow_subscriber_is_dropped_and_others_keep_receiving() {
    let r = registry(100, 1 << 20);
    let slow = Subscriber {
        conn: 1,
        outbox: Arc::new(Outbox::new(5)),
        sees_moderators: false,
        user: "slow".into(),
    };
    let fast = subscriber(2, false);
    r.subscribe("a", &slow, None, false);
    r.subscribe("a", &fast, None, false);
    publish(&r, "a", 1, false);
    publish(&r, "a", 2, false);
    assert_eq!(slow.outbox.closed().map(|c| c.code), Some(4008));
    publish(&r, "a", 3, false);
    assert_eq!(received(&fast), ["a@1", "a@2", "a@3"]);
}

proptest! {
    /// Whatever the interleaving of records, buffer limits, disconnects and
    /// reconnects with `since`, a client receives every record of its room
    /// after its first subscription exactly once and in order (gaps replayed
    /// from the log, as the connection does from Kafka).
    #[test]
    fn reconnecting_clients_see_every_record_once_in_order(
        steps in proptest::collection::vec((0u8..4, 0u8..3), 1..300),
        room_buffer in 1usize..20,
    ) {
        let r = registry(room_buffer, 1 << 20);
        let rooms = ["a", "b", "c"];
        let pa = r.partitions().partition_of("a");
        let mut log: Vec<(&str, i64)> = Vec::new();
        let mut offset = 0i64;
        let mut seen: Vec<i64> = Vec::new();
        let mut first: Option<Pos> = None;
        let mut last: Option<Pos> = None;
        let mut conn = 0u64;
        let mut current: Option<Subscriber> = None;

        let collect = |s: &Subscriber, seen: &mut Vec<i64>, last: &mut Option<Pos>| {
            for f in received(s) {
                if let Some(o) = f.strip_prefix("a@").and_then(|o| o.parse::<i64>().ok()) {
                    seen.push(o);
                    *last = Some(Pos { partition: pa, offset: o });
                }
            }
        };
        let connect = |conn: &mut u64, seen: &mut Vec<i64>, first: &mut Option<Pos>, last: &mut Option<Pos>, log: &Vec<(&str, i64)>| {
            *conn += 1;
            let s = subscriber(*conn, false);
            let mut since = *last;
            loop {
                match r.subscribe("a", &s, since, true) {
                    Subscribed::Gap { from, until, .. } => {
                        seen.extend(log.iter().filter(|(room, o)| *room == "a" && *o >= from && *o < until).map(|(_, o)| *o));
                        since = Some(Pos { partition: pa, offset: until - 1 });
                    }
                    Subscribed::Live { pos, .. } => {
                        first.get_or_insert(pos);
                        *last = Some(since.unwrap_or(pos));
                        break;
                    }
                    Subscribed::NotReady => unreachable!("started"),
                }
            }
            s
        };
        for (action, room) in steps {
            match action {
                0 | 1 => {
                    offset += 1;
                    let room = rooms[room as usize];
                    log.push((room, offset));
                    publish(&r, room, offset, false);
                }
                2 => {
                    if let Some(s) = current.take() {
                        collect(&s, &mut seen, &mut last);
                        r.unsubscribe("a", s.conn);
                    }
                }
                _ => {
                    if current.is_none() {
                        current = Some(connect(&mut conn, &mut seen, &mut first, &mut last, &log));
                    }
                }
            }
        }
        if current.is_none() && first.is_some() {
            current = Some(connect(&mut conn, &mut seen, &mut first, &mut last, &log));
        }
        if let Some(s) = &current {
            collect(s, &mut seen, &mut last);
        }
        let Some(first) = first else { return Ok(()) };
        let want: Vec<i64> = log.iter()
            .filter(|(room, o)| *room == "a" && *o > first.offset)
            .map(|(_, o)| *o)
            .collect();
        prop_assert_eq!(seen, want);
    }
}

/// Every frame queued for `s`, control frames included.
fn frames(s: &Subscriber) -> Vec<String> {
    let mut out = Vec::new();
    s.outbox.drain_into(&mut out);
    out.into_iter()
        .map(|q| q.frame.as_str().to_owned())
        .collect()
}

#[test]
fn a_retracted_message_leaves_the_buffer_and_its_subscribers_are_told() {
    let r = registry(100, 1 << 20);
    let viewer = subscriber(1, false);
    r.subscribe("a", &viewer, None, false);
    for offset in 1..=3 {
        publish(&r, "a", offset, false);
    }
    let _ = frames(&viewer);
    assert_eq!(r.retract("a", "a-2"), 1);
    let told = frames(&viewer);
    assert_eq!(
        told,
        [r#"{"op":"retract","room_id":"a","message_id":"a-2"}"#]
    );
    // A reconnect from before the deleted record replays the others only.
    let late = subscriber(2, false);
    r.subscribe(
        "a",
        &late,
        Some(Pos {
            partition: r.partitions().partition_of("a"),
            offset: 0,
        }),
        false,
    );
    assert_eq!(received(&late).len(), 2);
    assert_eq!(r.usage().entries, 2);
    assert_eq!(r.retract("no-such-room", "x"), 0);
}

#[test]
fn a_moderators_only_retraction_reaches_moderators_only() {
    let r = registry(100, 1 << 20);
    let (viewer, moderator) = (subscriber(1, false), subscriber(2, true));
    r.subscribe("a", &viewer, None, false);
    r.subscribe("a", &moderator, None, false);
    publish(&r, "a", 1, true);
    let _ = (frames(&viewer), frames(&moderator));
    assert_eq!(r.retract("a", "a-1"), 1);
    assert!(frames(&viewer).is_empty());
    assert_eq!(frames(&moderator).len(), 1);
}

#[test]
fn eviction_ends_only_the_banned_users_subscriptions() {
    let r = registry(100, 1 << 20);
    let (banned, other) = (subscriber(1, false), subscriber(2, false));
    r.subscribe("a", &banned, None, false);
    r.subscribe("a", &other, None, false);
    assert_eq!(r.evict("a", "user-1"), 1);
    let told = frames(&banned);
    assert_eq!(told.len(), 1);
    assert!(
        told[0].contains("4403") && told[0].contains("banned"),
        "{}",
        told[0]
    );
    publish(&r, "a", 1, false);
    assert!(received(&banned).is_empty());
    assert_eq!(received(&other).len(), 1);
    assert_eq!(r.evict("a", "user-1"), 0);
}
