//! WebSocket: every client got its room's messages in Kafka order, without
//! a duplicate, across its reconnects.

use std::time::{Duration, Instant};

use parley_tests::faults::{compare_room, RoomClient, Truth};

/// What the clients got, summed, with a line per client.
pub struct WsCheck {
    pub lines: Vec<String>,
    pub messages: usize,
    pub missing: usize,
    pub dup: usize,
    pub ordered: bool,
    pub reconnects: u32,
    pub gaps: u32,
}

/// Waits (at most 120 s) until every client has its room's count, then
/// closes them and compares each with the truth.
pub async fn websocket_check(clients: Vec<RoomClient>, truth: &Truth) -> WsCheck {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline
        && clients
            .iter()
            .any(|c| c.received() < truth.rooms.get(&c.room).map_or(0, Vec::len))
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut ws_lines = Vec::new();
    let (mut ws_missing, mut ws_dup, mut ws_ordered, mut ws_reconnects, mut ws_gaps) =
        (0, 0, true, 0, 0);
    let mut ws_messages = 0;
    for client in clients {
        let (room, addr) = (client.room.clone(), client.addr.clone());
        let log = client.finish().await;
        let expected = truth.rooms.get(&room).cloned().unwrap_or_default();
        let (missing, dup, ordered) = compare_room(&expected, &log);
        ws_lines.push(format!(
            "{room} via {addr}: {}/{} messages, {missing} missing, {dup} duplicated, ordered {ordered}, {} reconnects, errors {:?}",
            log.ids.len(),
            expected.len(),
            log.reconnects,
            log.errors.iter().take(3).collect::<Vec<_>>()
        ));
        ws_missing += missing;
        ws_dup += dup;
        ws_ordered &= ordered;
        ws_reconnects += log.reconnects;
        ws_gaps += log.not_recovered;
        ws_messages += expected.len();
    }
    eprintln!("{}", ws_lines.join("\n"));
    WsCheck {
        lines: ws_lines,
        messages: ws_messages,
        missing: ws_missing,
        dup: ws_dup,
        ordered: ws_ordered,
        reconnects: ws_reconnects,
        gaps: ws_gaps,
    }
}
