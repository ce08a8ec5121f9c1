//! Publishing through websocket-sender (docs/contracts.md, "Publishing"),
//! on the real stack with two instances: the record is built from the
//! token, acknowledged after Kafka, delivered once to subscribers on both
//! instances, retries produce nothing new, refusals keep the connection
//! open, and the HTTP ingest answers with the contract's statuses.

use std::time::Duration;

use parley_tests::ws::{publish_token, start_sender, Client, Sender};
use parley_tests::{fresh_topic, read_all, ConsumedRecord};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// The records of `topic`, as JSON.
fn records(topic: &str, expect: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got: Vec<ConsumedRecord> = read_all(topic, Duration::from_secs(3));
        if got.len() >= expect || std::time::Instant::now() > deadline {
            return got
                .iter()
                .filter_map(|r| serde_json::from_slice(r.payload.as_deref()?).ok())
                .collect();
        }
    }
}

async fn publish(client: &mut Client, frame: Value) -> Value {
    publish_keeping(client, frame, &mut Vec::new()).await
}

/// Publishes and waits for the answer; `message` frames that arrive
/// meanwhile (the publisher's own subscription may deliver before the ack)
/// go to `stash`.
async fn publish_keeping(client: &mut Client, frame: Value, stash: &mut Vec<Value>) -> Value {
    let key = frame["client_msg_id"].clone();
    client.send(frame).await;
    answer(client, &key, stash).await
}

async fn answer(client: &mut Client, key: &Value, stash: &mut Vec<Value>) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match client.next(left).await {
            Ok(Some(f)) if f["op"] == "message" => stash.push(f),
            Ok(Some(f))
                if matches!(f["op"].as_str(), Some("published" | "error"))
                    && f["client_msg_id"] == *key =>
            {
                return f
            }
            Ok(Some(_)) => continue,
            other => panic!("no answer to publish {key}: {other:?}"),
        }
    }
    panic!("no answer to publish {key} within {WAIT:?}")
}

/// `count` message frames: those stashed first, then new ones.
async fn messages(client: &mut Client, stash: &mut Vec<Value>, count: usize) -> Vec<Value> {
    let mut got: Vec<Value> = std::mem::take(stash);
    if got.len() < count {
        got.extend(client.messages(count - got.len(), WAIT).await);
    }
    got
}

async fn two_instances(extra: &[&str]) -> (String, Sender, Sender) {
    let topic = fresh_topic("publish", 3).await;
    let alerts = fresh_topic("publish-alerts", 1).await;
    let a = start_sender(&topic, &alerts, 3, extra);
    let b = start_sender(&topic, &alerts, 3, extra);
    (topic, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_is_built_from_the_token_acknowledged_after_kafka_and_delivered_once() {
    let (topic, a, b) = two_instances(&[]).await;
    let player = publish_token("p-1", "viewer", &["r1"], "g1");
    let mut publisher = Client::connect(&a.addr, Some(&player))
        .await
        .expect("connect a");
    let mut watcher = Client::connect(&b.addr, Some(&player))
        .await
        .expect("connect b");
    assert_eq!(publisher.subscribe("r1", None).await["op"], "subscribed");
    assert_eq!(watcher.subscribe("r1", None).await["op"], "subscribed");

    // A frame claiming another identity produces the token's.
    let mut own = Vec::new();
    let ack = publish_keeping(
        &mut publisher,
        json!({"op": "publish", "room_id": "r1", "content": "hello there", "client_msg_id": "c-1",
               "user_id": "someone-else", "game_id": "other-game", "kind": "system",
               "visibility": "moderators", "sent_at": 1, "meta": {"platform": "ios"}}),
        &mut own,
    )
    .await;
    assert_eq!(ack["op"], "published", "{ack}");
    let message_id = ack["message_id"].as_str().expect("message_id").to_owned();
    let pos = ack["pos"].as_str().expect("pos").to_owned();
    assert!(pos.contains(':'), "pos in the message frames' form: {pos}");

    let on_b = watcher.messages(1, WAIT).await;
    let on_a = messages(&mut publisher, &mut own, 1).await;
    for frames in [&on_a, &on_b] {
        assert_eq!(frames.len(), 1);
        let m = &frames[0]["message"];
        assert_eq!(m["message_id"], message_id.as_str());
        assert_eq!(frames[0]["pos"], pos.as_str());
        assert_eq!(m["user_id"], "p-1");
        assert_eq!(m["game_id"], "g1");
        assert_eq!(m["kind"], "chat");
        assert!(m.get("visibility").is_none_or(|v| v == "all"), "{m}");
        assert_eq!(m["meta"]["platform"], "ios");
    }

    // A retry answers with the same id and produces nothing new.
    let again = publish_keeping(
        &mut publisher,
        json!({"op": "publish", "room_id": "r1", "content": "hello there", "client_msg_id": "c-1"}),
        &mut own,
    )
    .await;
    assert_eq!(again["op"], "published");
    assert_eq!(again["message_id"], message_id.as_str());
    assert_eq!(again["pos"], pos.as_str());

    // A burst keeps the publisher's order, on both instances.
    let mut ids = Vec::new();
    for n in 0..8 {
        let key = format!("burst-{n}");
        publisher
            .send(json!({"op": "publish", "room_id": "r1", "content": format!("line {n}"), "client_msg_id": key}))
            .await;
    }
    // Acks may come in any order (each is sent when its delivery report
    // arrives); the records' order is what must hold.
    let mut acks = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + WAIT;
    while acks.len() < 8 {
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .expect("every burst publish answered in time");
        match publisher.next(left).await {
            Ok(Some(f)) if f["op"] == "message" => own.push(f),
            Ok(Some(f)) if f["op"] == "published" || f["op"] == "error" => {
                assert_eq!(f["op"], "published", "{f}");
                let key = f["client_msg_id"].as_str().unwrap_or_default().to_owned();
                acks.insert(key, f["message_id"].as_str().unwrap_or_default().to_owned());
            }
            Ok(Some(_)) => {}
            other => panic!("burst answers stopped: {other:?}"),
        }
    }
    for n in 0..8 {
        ids.push(acks[&format!("burst-{n}")].clone());
    }
    let mut none = Vec::new();
    for (client, stash) in [(&mut watcher, &mut none), (&mut publisher, &mut own)] {
        let got: Vec<String> = messages(client, stash, 8)
            .await
            .iter()
            .map(|f| {
                f["message"]["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        assert_eq!(got, ids, "burst order on a subscriber");
    }

    let stored = records(&topic, 9);
    assert_eq!(
        stored.len(),
        9,
        "one record per message, none for the retry"
    );
    assert_eq!(
        stored
            .iter()
            .filter(|r| r["message_id"] == message_id.as_str())
            .count(),
        1
    );
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_keep_the_connection_open() {
    let (_topic, a, _b) = two_instances(&["--publish-rate", "1", "--publish-burst", "3"]).await;
    let player = publish_token("p-2", "viewer", &["r1"], "g1");
    let mut client = Client::connect(&a.addr, Some(&player))
        .await
        .expect("connect");
    let cases = [
        (
            json!({"op": "publish", "room_id": "r1", "content": "", "client_msg_id": "e1"}),
            4400,
        ),
        (
            json!({"op": "publish", "room_id": "r1", "content": "x".repeat(4097), "client_msg_id": "e2"}),
            4400,
        ),
        (
            json!({"op": "publish", "room_id": "r2", "content": "hi", "client_msg_id": "e3"}),
            4403,
        ),
    ];
    for (frame, code) in cases {
        let answer = publish(&mut client, frame).await;
        assert_eq!(answer["op"], "error", "{answer}");
        assert_eq!(answer["code"], code, "{answer}");
    }
    // Over the rate: 4429 with retry_after_ms.
    let mut refused = None;
    for n in 0..6 {
        let answer = publish(
            &mut client,
            json!({"op": "publish", "room_id": "r1", "content": "spam", "client_msg_id": format!("s{n}")}),
        )
        .await;
        if answer["op"] == "error" {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("the rate refused a publish");
    assert_eq!(refused["code"], 4429, "{refused}");
    assert!(
        refused["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{refused}"
    );
    // A token without a game claim cannot publish.
    let no_game = parley_tests::ws::token("p-3", "viewer", &["r1"], "10m");
    let mut other = Client::connect(&a.addr, Some(&no_game))
        .await
        .expect("connect");
    let answer = publish(
        &mut other,
        json!({"op": "publish", "room_id": "r1", "content": "hi", "client_msg_id": "g"}),
    )
    .await;
    assert_eq!(answer["code"], 4403, "{answer}");
    // Still open.
    client.send(json!({"op": "ping"})).await;
    let pong = client.next_matching(WAIT, |f| f["op"] == "pong").await;
    assert!(pong.is_some());
}

/// POSTs `body` to the ingest endpoint with `token`.
fn post(addr: &str, room: &str, token: Option<&str>, body: &Value) -> (u16, Value, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let mut request = agent.post(&format!("http://{addr}/v1/rooms/{room}/messages"));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("http");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        retry_after,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ingest_answers_with_the_contract_statuses() {
    let (topic, a, _b) = two_instances(&["--publish-rate", "1", "--publish-burst", "2"]).await;
    let addr = a.addr.clone();
    let player = publish_token("p-4", "viewer", &["r1"], "g1");
    let service = publish_token("game-server-1", "service", &["*"], "g1");
    let ok = json!({"content": "from http", "client_msg_id": "h1"});
    let (status, body, _) = post(&addr, "r1", Some(&player), &ok);
    assert_eq!(status, 201, "{body}");
    let message_id = body["message_id"].as_str().expect("message_id").to_owned();
    assert!(body["pos"].as_str().is_some_and(|p| p.contains(':')));
    // The retry: same id, nothing new.
    let (status, again, _) = post(&addr, "r1", Some(&player), &ok);
    assert_eq!(
        (status, again["message_id"].as_str()),
        (201, Some(message_id.as_str()))
    );

    assert_eq!(post(&addr, "r1", None, &ok).0, 401);
    assert_eq!(post(&addr, "r1", Some("not-a-token"), &ok).0, 401);
    assert_eq!(post(&addr, "r9", Some(&player), &ok).0, 403);
    let (status, body, _) = post(
        &addr,
        "r1",
        Some(&player),
        &json!({"content": "", "client_msg_id": "h2"}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 4400, "errors as JSON with the code");
    let big = json!({"content": "x".repeat(5000), "client_msg_id": "h3"});
    assert_eq!(post(&addr, "r1", Some(&player), &big).0, 413);
    let mut limited = None;
    for n in 0..5 {
        let (status, _, retry_after) = post(
            &addr,
            "r1",
            Some(&player),
            &json!({"content": "again", "client_msg_id": format!("r{n}")}),
        );
        if status == 429 {
            limited = retry_after;
            break;
        }
    }
    assert!(
        limited.is_some_and(|s| s.parse::<u64>().is_ok()),
        "429 with Retry-After"
    );

    // A game server sets the author, kind and visibility.
    let system = json!({"content": "server restarting", "client_msg_id": "sys-1", "kind": "system",
                        "user_id": "npc-7", "user_name": "Herald", "visibility": "moderators"});
    let (status, body, _) = post(&addr, "r5", Some(&service), &system);
    assert_eq!(status, 201, "{body}");
    let stored = records(&topic, 3);
    let by_service = stored
        .iter()
        .find(|r| r["room_id"] == "r5")
        .expect("the service's record");
    assert_eq!(by_service["user_id"], "npc-7");
    assert_eq!(by_service["kind"], "system");
    assert_eq!(by_service["visibility"], "moderators");
    assert_eq!(by_service["game_id"], "g1");
    let by_player = stored
        .iter()
        .find(|r| r["message_id"] == message_id.as_str())
        .expect("the player's record");
    assert_eq!(by_player["user_id"], "p-4");
}
