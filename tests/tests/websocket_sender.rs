//! websocket-sender against the real stack: fan-out across two instances,
//! recovery with `since` (buffer, Kafka, gone), JWT and roles, slow readers,
//! history from ClickHouse, shutdown.

use std::time::Duration;

use parley_tests::process::http_get;
use parley_tests::ws::{ids, message, produce, start_sender, token, Client, ConnectError};
use parley_tests::{brokers, fresh_topic};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

fn records(room: &str, n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| (room.to_owned(), message(room, i, false)))
        .collect()
}

fn want(records: &[(String, Value)]) -> Vec<String> {
    records
        .iter()
        .map(|(_, m)| m["message_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_room_to_its_subscribers_exactly_once_in_order() {
    let topic = fresh_topic("ws-fanout", 4).await;
    let alerts = fresh_topic("ws-alerts", 1).await;
    let a = start_sender(&topic, &alerts, 4, &[]);
    let b = start_sender(&topic, &alerts, 4, &[]);
    let t = token("p1", "viewer", &["*"], "10m");
    let mut on_a = Client::connect(&a.addr, Some(&t)).await.expect("connect a");
    let mut on_b = Client::connect(&b.addr, Some(&t)).await.expect("connect b");
    let mut other = Client::connect(&b.addr, Some(&t))
        .await
        .expect("connect b2");
    for (client, room) in [
        (&mut on_a, "lobby"),
        (&mut on_b, "lobby"),
        (&mut other, "arena"),
    ] {
        let s = client.subscribe(room, None).await;
        assert_eq!(s["op"], "subscribed", "{s}");
        assert_eq!(s["recovered"], false);
    }
    let lobby = records("lobby", 400);
    let arena = records("arena", 200);
    let mut mixed = Vec::new();
    for (i, r) in lobby.iter().enumerate() {
        mixed.push(r.clone());
        if let Some(x) = arena.get(i) {
            mixed.push(x.clone());
        }
    }
    produce(&topic, &mixed).await;

    for client in [&mut on_a, &mut on_b] {
        let got = client.messages(400, WAIT).await;
        assert_eq!(got.len(), 400);
        assert!(
            ids(&got) == want(&lobby),
            "every lobby message once, in order"
        );
        assert!(got.iter().all(|f| f["room_id"] == "lobby"));
        let positions: Vec<i64> = got
            .iter()
            .map(|f| {
                let pos = f["pos"].as_str().unwrap_or_default();
                pos.split(':')
                    .nth(1)
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(-1)
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "pos increases");
    }
    let got = other.messages(200, WAIT).await;
    assert_eq!(ids(&got), want(&arena), "arena gets only arena");
    for client in [&mut on_a, &mut on_b, &mut other] {
        let extra = client.messages(1, Duration::from_millis(500)).await;
        assert!(extra.is_empty(), "nothing twice: {extra:?}");
    }

    // SIGTERM: clients are told the server is going away; exit 0.
    let mut a = a;
    a.worker.signal("TERM");
    let closed = loop {
        match on_a.next(WAIT).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no close frame"),
            Err(code) => break code,
        }
    };
    assert_eq!(closed, Some(1001));
    assert!(a.worker.wait(WAIT).success(), "{}", a.worker.log_text());
}

async fn delete_before(topic: &str, partition: i32, offset: i64) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("tpl");
    admin
        .delete_records(&tpl, &AdminOptions::new())
        .await
        .expect("delete records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_since_recovers_from_the_buffer_or_kafka_or_says_gone() {
    let topic = fresh_topic("ws-recover", 2).await;
    let alerts = fresh_topic("ws-alerts", 1).await;
    // A small buffer, so 1,000 missed messages must come from Kafka.
    let sender = start_sender(&topic, &alerts, 2, &["--room-buffer", "100"]);
    let t = token("p1", "viewer", &["r1"], "10m");

    let mut client = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("connect");
    client.subscribe("r1", None).await;
    let first = records("r1", 10);
    produce(&topic, &first).await;
    let got = client.messages(10, WAIT).await;
    assert_eq!(ids(&got), want(&first));
    let last_pos = got[9]["pos"].as_str().expect("pos").to_owned();
    client.close().await;

    // Missed while away: 1,000 messages (and other rooms' traffic).
    let missed = records("r1", 1000);
    let mut mixed = missed.clone();
    mixed.extend(records("r2", 300));
    produce(&topic, &mixed).await;

    let mut client = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("reconnect");
    let s = client.subscribe("r1", Some(&last_pos)).await;
    assert_eq!(s["recovered"], true, "{s}");
    let got = client.messages(1000, WAIT).await;
    assert_eq!(got.len(), 1000, "all missed");
    assert!(ids(&got) == want(&missed), "all missed, in order, once");
    let live = records("r1", 5);
    produce(&topic, &live).await;
    let got_live = client.messages(5, WAIT).await;
    assert_eq!(ids(&got_live), want(&live), "then live without a duplicate");
    let near_pos = got[995]["pos"].as_str().expect("pos").to_owned();
    client.close().await;

    // A short gap comes from the buffer.
    let mut client = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("reconnect");
    let s = client.subscribe("r1", Some(&near_pos)).await;
    assert_eq!(s["recovered"], true);
    let got = client.messages(9, WAIT).await;
    let mut tail = want(&missed)[996..].to_vec();
    tail.extend(want(&live));
    assert_eq!(ids(&got), tail);
    client.close().await;

    // The data is gone from Kafka: recovered false, then live.
    let partition: i32 = last_pos
        .split(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("partition");
    let end = parley_tests::end_offsets(&topic)[&partition];
    delete_before(&topic, partition, end).await;
    let mut client = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("reconnect");
    let s = client.subscribe("r1", Some(&last_pos)).await;
    assert_eq!(s["recovered"], false, "{s}");
    let after = records("r1", 3);
    produce(&topic, &after).await;
    assert_eq!(ids(&client.messages(3, WAIT).await), want(&after));

    let (_, text) = http_get(&sender.metrics, "/metrics").expect("metrics");
    for outcome in ["buffer", "kafka", "gone"] {
        let line = format!("parley_ws_recoveries_total{{outcome=\"{outcome}\"");
        assert!(
            text.lines()
                .any(|l| l.starts_with(&line) && !l.ends_with(" 0")),
            "{outcome} recovery counted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_are_enforced() {
    let topic = fresh_topic("ws-auth", 2).await;
    let alerts = fresh_topic("ws-alerts", 1).await;
    let sender = start_sender(&topic, &alerts, 2, &[]);

    // Refused before the upgrade: no token, expired, wrong signature, alg none.
    let expired = token("p1", "viewer", &["*"], "1s");
    let good = token("p1", "viewer", &["r1"], "10m");
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_sig = format!("{}.{}.{}", parts[0], parts[1], "AAAA");
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let alg_none = format!("{none_header}.{}.", parts[1]);
    parts.clear();
    tokio::time::sleep(Duration::from_secs(7)).await; // past expiry + leeway
    for (what, t) in [
        ("none", None),
        ("expired", Some(expired.as_str())),
        ("bad signature", Some(forged_sig.as_str())),
        ("alg none", Some(alg_none.as_str())),
    ] {
        match Client::connect(&sender.addr, t).await {
            Err(ConnectError::Status(401)) => {}
            Err(e) => panic!("{what}: {e:?}"),
            Ok(_) => panic!("{what}: upgraded"),
        }
    }

    // A viewer: its room only, no alerts, never moderators-only records.
    let mut viewer = Client::connect(&sender.addr, Some(&good))
        .await
        .expect("viewer");
    let refused = viewer.subscribe("r2", None).await;
    assert_eq!(refused["op"], "error");
    assert_eq!(refused["code"], 4403);
    viewer.send(json!({"op": "subscribe_alerts"})).await;
    let refused = viewer
        .next_matching(WAIT, |f| f["op"] == "error")
        .await
        .expect("error");
    assert_eq!(refused["code"], 4403);
    assert_eq!(viewer.subscribe("r1", None).await["op"], "subscribed");

    let moderator_token = token("mod", "moderator", &["r1", "r2"], "10m");
    let mut moderator = Client::connect(&sender.addr, Some(&moderator_token))
        .await
        .expect("moderator");
    moderator.subscribe("r1", None).await;
    moderator.send(json!({"op": "subscribe_alerts"})).await;
    moderator
        .next_matching(WAIT, |f| f["op"] == "subscribed_alerts")
        .await
        .expect("alerts subscribed");

    let public = ("r1".to_owned(), message("r1", 1, false));
    let private = ("r1".to_owned(), message("r1", 2, true));
    let elsewhere = ("r2".to_owned(), message("r2", 3, false));
    produce(&topic, &[public.clone(), private.clone(), elsewhere]).await;
    let alert = json!({
        "v": 1, "alert_id": "a-1", "rule": "flood", "category": "flood", "severity": "warning",
        "game_id": "g1", "room_id": "r1", "user_id": "u1", "message_ids": [],
        "window_start": 0, "window_end": 0, "detected_at": 0, "score": 1.0,
        "summary": "u1 flooded r1"
    });
    produce(&alerts, &[("r1".to_owned(), alert)]).await;

    let got = moderator.messages(2, WAIT).await;
    assert_eq!(ids(&got), want(&[public.clone(), private]));
    let got_alert = moderator
        .next_matching(WAIT, |f| f["op"] == "alert")
        .await
        .expect("alert reaches the moderator");
    assert_eq!(got_alert["alert"]["alert_id"], "a-1");
    let got = viewer.messages(2, Duration::from_secs(3)).await;
    assert_eq!(ids(&got), want(&[public]), "viewer: public r1 only");

    // History follows the same rules.
    let (status, _) =
        http_get(&sender.addr, &format!("/rooms/r2/messages?token={good}")).expect("http");
    assert_eq!(status, 403);
    let (status, _) = http_get(&sender.addr, "/rooms/r1/messages").expect("http");
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_is_closed_with_4008_and_others_keep_up() {
    let topic = fresh_topic("ws-slow", 1).await;
    let alerts = fresh_topic("ws-alerts", 1).await;
    let sender = start_sender(&topic, &alerts, 1, &["--send-queue-bytes", "262144"]);
    let t = token("p1", "viewer", &["*"], "10m");
    let mut slow = Client::connect_with(&sender.addr, Some(&t), Some(4096))
        .await
        .expect("slow");
    slow.subscribe("busy", None).await;
    let mut fast = Client::connect(&sender.addr, Some(&t)).await.expect("fast");
    fast.subscribe("busy", None).await;

    // ~10 MB for the room at ~2 MB/s while `slow` reads nothing: more than
    // its socket buffers and its 256 KiB queue hold.
    let big: Vec<(String, Value)> = (0..10_000)
        .map(|i| {
            let mut m = message("busy", i, false);
            m["content"] = json!("x".repeat(1000));
            ("busy".to_owned(), m)
        })
        .collect();
    let reader = tokio::spawn(async move {
        let got = fast.messages(10_000, Duration::from_secs(60)).await;
        (ids(&got), got)
    });
    for chunk in big.chunks(200) {
        produce(&topic, chunk).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (got_ids, got) = reader.await.expect("reader");
    assert_eq!(got_ids.len(), big.len(), "the fast reader gets everything");
    assert!(got_ids == want(&big), "in order, once");
    let now = parley_tests::now_ms();
    let worst = got
        .iter()
        .filter_map(|f| f["message"]["sent_at"].as_i64())
        .map(|s| now - s)
        .max()
        .unwrap_or(0);
    assert!(worst < 20_000, "fast reader kept up (worst {worst} ms)");

    // The slow reader finds a 4008 close after what was already in flight.
    let code = loop {
        match slow.next(WAIT).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no close frame"),
            Err(code) => break code,
        }
    };
    assert_eq!(code, Some(4008));
    let (_, text) = http_get(&sender.metrics, "/metrics").expect("metrics");
    assert!(
        text.contains("parley_ws_disconnects_total{code=\"4008\""),
        "counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_through_clickhouse_without_duplicates_or_hidden_records() {
    use parley_tests::clickhouse::{drop_database, fresh_database, query};
    let database = fresh_database();
    let migrate = std::process::Command::new(parley_tests::binary("db-writer"))
        .args(["--migrate", "--clickhouse-database", &database])
        .output()
        .expect("db-writer --migrate");
    assert!(migrate.status.success(), "{migrate:?}");
    // 30 messages a second apart, one moderators-only, one stored twice
    // (a replayed insert), as db-writer may leave them before a merge.
    let mut rows = Vec::new();
    for i in 0..30i64 {
        let visibility = if i == 7 { "moderators" } else { "all" };
        rows.push(json!({
            "message_id": format!("m{i:02}"), "v": 1, "game_id": "g1", "room_id": "h1",
            "user_id": "u1", "user_name": null, "kind": "chat", "content": format!("hello {i}"),
            // Pairs share a millisecond: pages must not skip either.
            "sent_at": 1_700_000_000_000i64 + (i / 2) * 1000, "visibility": visibility,
            "meta": if i == 3 { r#"{"locale":"fi"}"# } else { "" },
            "kafka_partition": 0, "kafka_offset": i, "ingested_at": "2026-01-01 00:00:00",
        }));
    }
    rows.push(rows[12].clone());
    let body: Vec<String> = rows.iter().map(Value::to_string).collect();
    let _ = query(&format!(
        "INSERT INTO {database}.messages FORMAT JSONEachRow\n{}",
        body.join("\n")
    ));

    let topic = fresh_topic("ws-history", 1).await;
    let alerts = fresh_topic("ws-alerts", 1).await;
    let sender = start_sender(&topic, &alerts, 1, &["--clickhouse-database", &database]);
    let viewer = token("p1", "viewer", &["h1"], "10m");
    let moderator = token("m1", "moderator", &["*"], "10m");

    let page = |token: &str, query: &str| {
        let (status, body) = http_get(
            &sender.addr,
            &format!("/rooms/h1/messages?token={token}{query}"),
        )
        .expect("history");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).expect("JSON")
    };
    // Viewer: newest first, pages of 10, the hidden one skipped, no duplicate.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let p = page(&viewer, &format!("&limit=10{before}"));
        for m in p["messages"].as_array().expect("messages") {
            seen.push(m["message_id"].as_str().unwrap_or_default().to_owned());
            assert_eq!(m["room_id"], "h1");
        }
        match (p["next_before"].as_i64(), p["next_before_id"].as_str()) {
            (Some(b), Some(id)) => before = format!("&before={b}&before_id={id}"),
            _ => break,
        }
    }
    let expected: Vec<String> = (0..30)
        .rev()
        .filter(|i| *i != 7)
        .map(|i| format!("m{i:02}"))
        .collect();
    assert_eq!(seen, expected);
    let first = page(&viewer, "&limit=30");
    let m03 = first["messages"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["message_id"] == "m03").cloned())
        .expect("m03");
    assert_eq!(m03["meta"]["locale"], "fi", "meta comes back as JSON");
    assert_eq!(m03["sent_at"], 1_700_000_001_000i64);
    // A moderator sees the moderators-only record too.
    let all = page(&moderator, "&limit=100");
    assert_eq!(all["messages"].as_array().map(Vec::len), Some(30));
    drop_database(&database);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_and_an_address_over_its_limit_are_refused() {
    let topic = fresh_topic("ws-abuse", 2).await;
    let alerts = fresh_topic("ws-abuse-alerts", 1).await;
    let sender = start_sender(
        &topic,
        &alerts,
        2,
        &[
            "--max-connections-per-ip",
            "3",
            "--client-frames-per-sec",
            "5",
            "--max-subscriptions",
            "5",
        ],
    );
    let t = token("p1", "viewer", &["*"], "10m");

    // Three connections from 127.0.0.1 are fine; the fourth gets HTTP 429.
    let mut calm = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("first");
    let flooder = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("second");
    let third = Client::connect(&sender.addr, Some(&t))
        .await
        .expect("third");
    match Client::connect(&sender.addr, Some(&t)).await {
        Err(ConnectError::Status(429)) => {}
        Err(e) => panic!("fourth connection: {e:?}"),
        Ok(_) => panic!("fourth connection accepted"),
    }
    // A client's close frees its place at once (not after a timeout).
    third.close().await;
    let mut fourth = None;
    for _ in 0..30 {
        if let Ok(c) = Client::connect(&sender.addr, Some(&t)).await {
            fourth = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fourth.is_some(), "a freed place is given again");

    // A client sending far over its budget is closed with 4429 …
    let mut flooder = flooder;
    for _ in 0..200 {
        if !flooder.try_send(json!({"op": "ping"})).await {
            break;
        }
    }
    let mut closed = None;
    for _ in 0..300 {
        match flooder.next(Duration::from_secs(5)).await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(code) => {
                closed = code;
                break;
            }
        }
    }
    assert_eq!(closed, Some(4429), "flooder closed with 4429");
    // … while a calm client on the same instance keeps its subscription.
    assert_eq!(calm.subscribe("r-calm", None).await["op"], "subscribed");
    produce(&topic, &records("r-calm", 5)).await;
    assert_eq!(calm.messages(5, Duration::from_secs(30)).await.len(), 5);
    let (_, metrics) = http_get(&sender.metrics, "/metrics").expect("metrics");
    assert!(
        metrics.contains("reason=\"rate\"") && metrics.contains("reason=\"address\""),
        "refusals counted"
    );
    assert!(
        metrics.contains("parley_ws_disconnects_total{code=\"1005\""),
        "the client's close counted under its code (none given: 1005): {}",
        metrics
            .lines()
            .filter(|l| l.contains("disconnects"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
