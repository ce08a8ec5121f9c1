//! websocket-sender under test: starting instances, minting tokens,
//! producing room messages, alerts and moderation actions, and a WebSocket
//! client that reads frames the way a player's client would.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::process::Worker;
use crate::{brokers, free_port, wait_until};

/// Secret the test instances verify tokens with.
pub const SECRET: &str = "parley-test-secret-0123456789abcdef";

/// A running websocket-sender with its addresses.
pub struct Sender {
    /// The process.
    pub worker: Worker,
    /// `host:port` of `/ws`.
    pub addr: String,
    /// `host:port` of `/metrics`.
    pub metrics: String,
}

/// Starts an instance on `topic` / `alerts` and waits until it reads every
/// partition (live reads start at the end, so produce only after this).
pub fn start_sender(topic: &str, alerts: &str, partitions: usize, extra: &[&str]) -> Sender {
    let (port, metrics_port) = (free_port(), free_port());
    let instance = crate::unique_name("ws");
    let mut args: Vec<String> = [
        "--brokers",
        &brokers(),
        "--topic",
        topic,
        "--alerts-topic",
        alerts,
        "--instance-id",
        &instance,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics_port}"),
        "--kafka-prop",
        "session.timeout.ms=10000",
        "--drain-timeout",
        "5s",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    // Moderation actions of this test only: instances started with the
    // same alerts topic share them.
    if !extra.contains(&"--actions-topic") {
        let actions = format!("{alerts}.actions");
        crate::create_topic_blocking(&actions, 1);
        args.extend(["--actions-topic".to_owned(), actions]);
    }
    let mut worker =
        Worker::start_with_env("websocket-sender", &args, &[("PARLEY_JWT_SECRET", SECRET)]);
    let metrics = format!("127.0.0.1:{metrics_port}");
    wait_until(Duration::from_secs(60), "websocket-sender assigned", || {
        assert!(worker.is_running(), "exited:\n{}", worker.log_text());
        crate::process::http_get(&metrics, "/metrics").is_some_and(|(_, text)| {
            crate::process::metric(&text, "parley_partitions_assigned") >= (partitions + 2) as f64
                && crate::process::metric(&text, "parley_ws_moderation_ready") == 1.0
        })
    });
    Sender {
        worker,
        addr: format!("127.0.0.1:{port}"),
        metrics,
    }
}

/// Mints a token with the binary's own `token` command.
pub fn token(sub: &str, role: &str, rooms: &[&str], ttl: &str) -> String {
    let mut args = vec!["token", "--sub", sub, "--role", role, "--ttl", ttl];
    for room in rooms {
        args.extend(["--room", room]);
    }
    let output = std::process::Command::new(crate::binary("websocket-sender"))
        .args(&args)
        .env("PARLEY_JWT_SECRET", SECRET)
        .output()
        .expect("run websocket-sender token");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Mints a token with a `game` claim (one that may publish), valid 10 minutes.
pub fn publish_token(sub: &str, role: &str, rooms: &[&str], game: &str) -> String {
    let mut args = vec![
        "token", "--sub", sub, "--role", role, "--ttl", "10m", "--game", game,
    ];
    for room in rooms {
        args.extend(["--room", room]);
    }
    let output = std::process::Command::new(crate::binary("websocket-sender"))
        .args(&args)
        .env("PARLEY_JWT_SECRET", SECRET)
        .output()
        .expect("run websocket-sender token");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A GameMessage v1 for `room` (moderators-only when asked).
pub fn message(room: &str, n: usize, moderators_only: bool) -> Value {
    let mut m = json!({
        "v": 1,
        "message_id": uuid::Uuid::new_v4().to_string(),
        "game_id": "g1",
        "room_id": room,
        "user_id": format!("u{}", n % 7),
        "kind": "chat",
        "content": format!("message {n} in {room}"),
        "sent_at": crate::now_ms(),
    });
    if moderators_only {
        m["visibility"] = json!("moderators");
    }
    m
}

/// An Action v1 (docs/contracts.md, "Moderation actions") of `kind` in
/// `room` by `actor`, with a fresh `action_id`: `target` is the message of a
/// `delete_message`, the user of any other kind. Produce it keyed by `room`.
pub fn action(kind: &str, room: &str, target: &str, actor: &str) -> Value {
    let mut a = json!({
        "v": 1,
        "action_id": uuid::Uuid::new_v4().to_string(),
        "action": kind,
        "room_id": room,
        "actor": actor,
        "created_at": crate::now_ms(),
    });
    let field = if kind == "delete_message" {
        "message_id"
    } else {
        "user_id"
    };
    a[field] = json!(target);
    a
}

/// An idempotent producer to the stack's brokers (a 5 ms linger).
fn idempotent_producer() -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Produces records (key = room) in order and waits for every ack.
pub async fn produce(topic: &str, records: &[(String, Value)]) {
    let producer = idempotent_producer();
    let sends = records.iter().map(|(key, value)| {
        let payload = value.to_string();
        let producer = &producer;
        async move {
            producer
                .send(
                    FutureRecord::to(topic).key(key).payload(&payload),
                    Duration::from_secs(30),
                )
                .await
                .expect("delivered")
        }
    });
    futures::future::join_all(sends).await;
}

/// Produces actions in chunks of 50, one chunk every 100 ms, until `stop`
/// is set; returns every action_id produced (each acknowledged).
pub async fn stream_actions(
    topic: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::collections::BTreeSet<String> {
    let producer = idempotent_producer();
    let kinds = [
        ("mute", "mod-1"),
        ("ban", "operator:alice"),
        ("delete_message", "anomaly-detector"),
        ("unmute", "mod-2"),
    ];
    let mut ids = std::collections::BTreeSet::new();
    let mut n = 0usize;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let chunk: Vec<(String, String)> = (0..50)
            .map(|_| {
                n += 1;
                let (kind, actor) = kinds[n % kinds.len()];
                let room = format!("r{}", n % 6);
                let a = action(kind, &room, &format!("t{n}"), actor);
                ids.insert(a["action_id"].as_str().unwrap_or_default().to_owned());
                (room, a.to_string())
            })
            .collect();
        let sends = chunk.iter().map(|(room, payload)| {
            producer.send(
                FutureRecord::to(&topic).key(room).payload(payload),
                Duration::from_secs(30),
            )
        });
        for sent in futures::future::join_all(sends).await {
            assert!(sent.is_ok(), "an action was not acknowledged: {sent:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ids
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The server answered HTTP with this status instead of upgrading.
    Status(u16),
    /// Anything else.
    Other(String),
}

/// A player's client.
pub struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    /// Connects with `?token=` (or none).
    pub async fn connect(addr: &str, token: Option<&str>) -> Result<Client, ConnectError> {
        Self::connect_with(addr, token, None).await
    }

    /// Connects with a small receive buffer (a client that stops reading
    /// fills it quickly).
    pub async fn connect_with(
        addr: &str,
        token: Option<&str>,
        recv_buffer: Option<u32>,
    ) -> Result<Client, ConnectError> {
        let url = match token {
            Some(t) => format!("ws://{addr}/ws?token={t}"),
            None => format!("ws://{addr}/ws"),
        };
        let request = url
            .into_client_request()
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        let socket = TcpSocket::new_v4().map_err(|e| ConnectError::Other(e.to_string()))?;
        if let Some(size) = recv_buffer {
            let _ = socket.set_recv_buffer_size(size);
        }
        let stream = socket
            .connect(
                addr.parse()
                    .map_err(|_| ConnectError::Other("addr".into()))?,
            )
            .await
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        match tokio_tungstenite::client_async(request, stream).await {
            Ok((ws, _)) => Ok(Client { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(ConnectError::Status(response.status().as_u16()))
            }
            Err(e) => Err(ConnectError::Other(e.to_string())),
        }
    }

    /// Sends one operation.
    pub async fn send(&mut self, op: Value) {
        self.ws
            .send(Message::text(op.to_string()))
            .await
            .expect("send");
    }

    /// Sends one operation; false once the connection is gone.
    pub async fn try_send(&mut self, op: Value) -> bool {
        self.ws.send(Message::text(op.to_string())).await.is_ok()
    }

    /// Subscribes and returns the `subscribed` (or `error`) frame.
    pub async fn subscribe(&mut self, room: &str, since: Option<&str>) -> Value {
        let mut op = json!({"op": "subscribe", "room_id": room});
        if let Some(since) = since {
            op["since"] = json!(since);
        }
        self.send(op).await;
        self.next_matching(Duration::from_secs(30), |f| {
            matches!(f["op"].as_str(), Some("subscribed" | "error")) && f["room_id"] == room
        })
        .await
        .expect("subscribe answered")
    }

    /// The next JSON frame within `timeout` (`Err` with the close code when
    /// the server closed the connection, `Ok(None)` on timeout).
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Value>, Option<u16>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err(None),
                Ok(Some(Err(_))) => return Err(None),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => return Ok(Some(parse_frame(text.as_str()))),
                Message::Close(close) => {
                    return Err(close
                        .map(|c| u16::from(c.code))
                        .or(Some(u16::from(CloseCode::Status))))
                }
                _ => continue,
            }
        }
    }

    /// Frames until one matches `pred` (others are dropped).
    pub async fn next_matching(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left).await {
                Ok(Some(frame)) if pred(&frame) => return Some(frame),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
        None
    }

    /// Collects `message` frames until `count` arrived or `timeout` passed;
    /// returns them and the first non-message frame seen, if any.
    pub async fn messages(&mut self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < count {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match self.next(left).await {
                Ok(Some(frame)) if frame["op"] == "message" => out.push(frame),
                Ok(Some(_)) => continue,
                _ => break,
            }
        }
        out
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A frame as JSON. The message inside is the producer's JSON, untouched:
/// when it nests deeper than serde_json's limit (128; an unknown field may
/// nest without limit), the frame is read shallowly: its envelope and the
/// message's ids, the rest replaced by `"deep": true`.
fn parse_frame(text: &str) -> Value {
    #[derive(serde::Deserialize)]
    struct Shallow {
        op: String,
        room_id: Option<String>,
        pos: Option<String>,
        message: Option<ShallowMessage>,
    }
    #[derive(serde::Deserialize)]
    struct ShallowMessage {
        message_id: String,
        room_id: String,
    }
    match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let frame: Shallow = serde_json::from_str(text)
                .unwrap_or_else(|_| panic!("JSON frame: {e}: {}", &text[..text.len().min(200)]));
            let mut value = json!({"op": frame.op, "room_id": frame.room_id, "pos": frame.pos});
            if let Some(m) = frame.message {
                value["message"] =
                    json!({"message_id": m.message_id, "room_id": m.room_id, "deep": true});
            }
            value
        }
    }
}

/// `message_id`s of message frames, in order.
pub fn ids(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            f["message"]["message_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}
