//! Retraction latency across websocket-sender instances, for
//! tests/bench/moderation.sh: a moderator on instance A and a viewer on
//! instance B subscribe to the same rooms while traffic flows; every
//! `--interval-ms` the moderator deletes a message it just received, and
//! the time from its `moderate` frame to the `moderated` ack and from the
//! ack to the viewer's `retract` (on the other instance) is recorded.
//!
//! `retract-bench --a HOST:PORT --b HOST:PORT --moderator-token T
//!  --viewer-token T --rooms r1,r2,… [--count 200] [--interval-ms 100]`
//! prints one JSON object: counts and p50/p99/max in milliseconds.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Args {
    a: String,
    b: String,
    moderator: String,
    viewer: String,
    rooms: Vec<String>,
    count: usize,
    interval: Duration,
}

fn args() -> Result<Args, String> {
    let all: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        all.iter()
            .position(|a| a == name)
            .and_then(|i| all.get(i + 1))
            .cloned()
    };
    let need = |name: &str| flag(name).ok_or(format!("{name} is required"));
    Ok(Args {
        a: need("--a")?,
        b: need("--b")?,
        moderator: need("--moderator-token")?,
        viewer: need("--viewer-token")?,
        rooms: need("--rooms")?.split(',').map(str::to_owned).collect(),
        count: flag("--count").and_then(|v| v.parse().ok()).unwrap_or(200),
        interval: Duration::from_millis(
            flag("--interval-ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(100),
        ),
    })
}

async fn connect(addr: &str, token: &str, rooms: &[String]) -> Result<Socket, String> {
    let url = format!("ws://{addr}/ws?token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    for room in rooms {
        let op = json!({"op": "subscribe", "room_id": room}).to_string();
        ws.send(Message::text(op))
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
    }
    Ok(ws)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(mut values: Vec<f64>) -> Value {
    values.sort_by(f64::total_cmp);
    json!({
        "n": values.len(),
        "p50_ms": percentile(&values, 50.0),
        "p99_ms": percentile(&values, 99.0),
        "max_ms": values.last().copied().unwrap_or(f64::NAN),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("retract-bench: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args = args()?;
    let mut moderator = connect(&args.a, &args.moderator, &args.rooms).await?;
    let mut viewer = connect(&args.b, &args.viewer, &args.rooms).await?;
    // Message ids the moderator saw, newest last, with their room.
    let mut recent: VecDeque<(String, String)> = VecDeque::new();
    // message_id → (sent, acked)
    let mut pending: HashMap<String, (Instant, Option<Instant>)> = HashMap::new();
    let mut waiting_ack: VecDeque<String> = VecDeque::new();
    let (mut ack_ms, mut retract_ms, mut total_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut sent, mut refused) = (0usize, 0usize);
    let mut tick = tokio::time::interval(args.interval);
    let deadline = Instant::now() + args.interval * args.count as u32 + Duration::from_secs(30);
    while Instant::now() < deadline && (sent < args.count || !pending.is_empty()) {
        tokio::select! {
            _ = tick.tick(), if sent < args.count => {
                if let Some((room, id)) = recent.pop_back() {
                    let op = json!({"op": "moderate", "action": "delete_message", "room_id": room, "message_id": id});
                    moderator.send(Message::text(op.to_string())).await.map_err(|e| format!("send: {e}"))?;
                    pending.insert(id.clone(), (Instant::now(), None));
                    waiting_ack.push_back(id);
                    sent += 1;
                }
            }
            frame = moderator.next() => {
                let Some(Ok(Message::Text(text))) = frame else { continue };
                let f: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                match f["op"].as_str() {
                    // Moderators-only records are retracted to moderators only.
                    Some("message") if f["message"]["visibility"] != "moderators" => {
                        if let (Some(room), Some(id)) = (f["room_id"].as_str(), f["message"]["message_id"].as_str()) {
                            recent.push_back((room.to_owned(), id.to_owned()));
                            if recent.len() > 1000 { recent.pop_front(); }
                        }
                    }
                    // Acks come back in the order the actions were sent.
                    Some("moderated") => {
                        if let Some(id) = waiting_ack.pop_front() {
                            if let Some(entry) = pending.get_mut(&id) {
                                entry.1 = Some(Instant::now());
                                ack_ms.push(entry.0.elapsed().as_secs_f64() * 1000.0);
                            }
                        }
                    }
                    Some("error") => {
                        refused += 1;
                        if let Some(id) = waiting_ack.pop_front() { pending.remove(&id); }
                    }
                    _ => {}
                }
            }
            frame = viewer.next() => {
                let Some(Ok(Message::Text(text))) = frame else { continue };
                let f: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                if f["op"] == "retract" {
                    if let Some(id) = f["message_id"].as_str() {
                        if let Some((at, acked)) = pending.remove(id) {
                            let now = Instant::now();
                            total_ms.push((now - at).as_secs_f64() * 1000.0);
                            if let Some(acked) = acked {
                                retract_ms.push(now.saturating_duration_since(acked).as_secs_f64() * 1000.0);
                            }
                        }
                    }
                }
            }
        }
    }
    let report = json!({
        "sent": sent,
        "refused": refused,
        "missing": pending.len(),
        "ack": summary(ack_ms),
        "ack_to_retract": summary(retract_ms),
        "send_to_retract": summary(total_ms),
    });
    println!("{report}");
    Ok(())
}
