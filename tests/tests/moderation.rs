//! Moderation actions through websocket-sender (docs/contracts.md,
//! "Moderation actions"), on the real stack with two instances and a third
//! started afterwards: a viewer cannot act; a deletion is retracted on every
//! instance within a second and never replayed (buffer or Kafka recovery);
//! mutes and bans hold on every instance, bans end subscriptions and refuse
//! new ones, an instance started later enforces them, and lifting works.

use std::time::{Duration, Instant};

use parley_tests::fresh_topic;
use parley_tests::ws::{publish_token, start_sender, Client, Sender};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn instances(n: usize) -> (String, String, Vec<Sender>) {
    let topic = fresh_topic("moderation", 3).await;
    let alerts = fresh_topic("moderation-alerts", 1).await;
    let senders = (0..n)
        .map(|_| start_sender(&topic, &alerts, 3, &[]))
        .collect();
    (topic, alerts, senders)
}

/// The first frame `pred` accepts (others are dropped).
async fn frame(client: &mut Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    client
        .next_matching(WAIT, pred)
        .await
        .unwrap_or_else(|| panic!("no {what} within {WAIT:?}"))
}

async fn publish(client: &mut Client, room: &str, key: &str) -> Value {
    client
        .send(json!({"op": "publish", "room_id": room, "content": format!("line {key}"), "client_msg_id": key}))
        .await;
    frame(client, "publish answer", |f| {
        matches!(f["op"].as_str(), Some("published" | "error")) && f["client_msg_id"] == key
    })
    .await
}

async fn moderate(client: &mut Client, action: Value) -> Value {
    let room = action["room_id"].clone();
    let mut op = action;
    op["op"] = json!("moderate");
    client.send(op).await;
    frame(client, "moderate answer", |f| {
        f["op"] == "moderated" || (f["op"] == "error" && f["room_id"] == room)
    })
    .await
}

/// POSTs an action to `/v1/moderation/actions`.
fn post_action(addr: &str, token: &str, body: &Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into();
    let mut response = agent
        .post(&format!("http://{addr}/v1/moderation/actions"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("http");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_is_retracted_everywhere_within_a_second_and_never_replayed() {
    let (topic, alerts, senders) = instances(2).await;
    let (a, b) = (&senders[0], &senders[1]);
    let player = publish_token("p-1", "viewer", &["r1"], "g1");
    let moderator = publish_token("mod-1", "moderator", &["*"], "g1");
    let mut publisher = Client::connect(&a.addr, Some(&player))
        .await
        .expect("connect");
    let mut mod_a = Client::connect(&a.addr, Some(&moderator))
        .await
        .expect("connect");
    let mut viewer_b = Client::connect(&b.addr, Some(&player))
        .await
        .expect("connect");
    assert_eq!(mod_a.subscribe("r1", None).await["op"], "subscribed");
    let mut viewer_a = Client::connect(&a.addr, Some(&player))
        .await
        .expect("connect");
    assert_eq!(viewer_a.subscribe("r1", None).await["op"], "subscribed");
    let subscribed = viewer_b.subscribe("r1", None).await;
    let since = subscribed["pos"].as_str().expect("pos").to_owned();

    // A viewer cannot act, over WebSocket or HTTP.
    let refused = moderate(
        &mut publisher,
        json!({"action": "delete_message", "room_id": "r1", "message_id": "x"}),
    )
    .await;
    assert_eq!(refused["code"], 4403, "{refused}");
    let (status, body) = post_action(
        &a.addr,
        &player,
        &json!({"action": "ban", "room_id": "r1", "user_id": "mod-1"}),
    );
    assert_eq!((status, body["code"].clone()), (403, json!(4403)), "{body}");

    let mut ids = Vec::new();
    for key in ["k1", "k2", "k3"] {
        let ack = publish(&mut publisher, "r1", key).await;
        assert_eq!(ack["op"], "published", "{ack}");
        ids.push(ack["message_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(viewer_b.messages(3, WAIT).await.len(), 3);

    let started = Instant::now();
    let done = moderate(
        &mut mod_a,
        json!({"action": "delete_message", "room_id": "r1", "message_id": ids[1], "reason": "abuse"}),
    )
    .await;
    assert_eq!(done["op"], "moderated", "{done}");
    assert!(done["action_id"].as_str().is_some_and(|id| !id.is_empty()));
    let retract = frame(&mut viewer_b, "retract on the other instance", |f| {
        f["op"] == "retract"
    })
    .await;
    let took = started.elapsed();
    assert_eq!(retract["room_id"], "r1");
    assert_eq!(retract["message_id"], ids[1].as_str());
    assert!(took < Duration::from_secs(1), "retracted after {took:?}");
    // (The moderator's own retract may arrive before its `moderated`.)
    let on_a = frame(&mut viewer_a, "retract on the moderator's instance", |f| {
        f["op"] == "retract"
    })
    .await;
    assert_eq!(on_a["message_id"], ids[1].as_str());
    println!("retracted on the other instance {took:?} after the moderator sent it");

    // Recovery from the buffer leaves it out…
    let mut again = Client::connect(&b.addr, Some(&player))
        .await
        .expect("connect");
    assert_eq!(again.subscribe("r1", Some(&since)).await["recovered"], true);
    let replayed: Vec<Value> = again.messages(3, Duration::from_secs(3)).await;
    let replayed_ids: Vec<&str> = replayed
        .iter()
        .filter_map(|f| f["message"]["message_id"].as_str())
        .collect();
    assert_eq!(replayed_ids, [ids[0].as_str(), ids[2].as_str()]);

    // …and so does an instance started afterwards, recovering from Kafka.
    let c = start_sender(&topic, &alerts, 3, &[]);
    let mut late = Client::connect(&c.addr, Some(&player))
        .await
        .expect("connect");
    let answer = late.subscribe("r1", Some(&since)).await;
    assert_eq!(answer["recovered"], true, "{answer}");
    let replayed = late.messages(3, Duration::from_secs(5)).await;
    let replayed_ids: Vec<&str> = replayed
        .iter()
        .filter_map(|f| f["message"]["message_id"].as_str())
        .collect();
    assert_eq!(replayed_ids, [ids[0].as_str(), ids[2].as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutes_and_bans_hold_on_every_instance_and_on_one_started_later() {
    let (topic, alerts, senders) = instances(2).await;
    let (a, b) = (&senders[0], &senders[1]);
    let moderator = publish_token("mod-1", "moderator", &["*"], "g1");
    let muted = publish_token("p-2", "viewer", &["r1", "r2"], "g1");
    let banned = publish_token("p-3", "viewer", &["r1"], "g1");
    let mut mod_a = Client::connect(&a.addr, Some(&moderator))
        .await
        .expect("connect");
    let mut muted_b = Client::connect(&b.addr, Some(&muted))
        .await
        .expect("connect");
    let mut muted_a = Client::connect(&a.addr, Some(&muted))
        .await
        .expect("connect");
    let mut banned_b = Client::connect(&b.addr, Some(&banned))
        .await
        .expect("connect");
    assert_eq!(banned_b.subscribe("r1", None).await["op"], "subscribed");

    // A mute over HTTP holds on both instances, in that room only.
    let (status, body) = post_action(
        &a.addr,
        &moderator,
        &json!({"action": "mute", "room_id": "r1", "user_id": "p-2", "reason": "flooding",
                "until": parley_shared::metrics::now_ms() + 600_000}),
    );
    assert_eq!(status, 201, "{body}");
    assert!(body["action_id"].is_string(), "{body}");
    let (status, body) = post_action(
        &a.addr,
        &moderator,
        &json!({"action": "mute", "room_id": "r1", "user_id": "p-2", "actor": "someone"}),
    );
    assert_eq!(status, 400, "the actor is the token's: {body}");
    for (client, key) in [(&mut muted_b, "m1"), (&mut muted_a, "m2")] {
        let refused = wait_for_code(client, "r1", key, 4423).await;
        assert!(
            refused["reason"]
                .as_str()
                .is_some_and(|r| r.contains("muted")),
            "{refused}"
        );
    }
    assert_eq!(publish(&mut muted_b, "r2", "m3").await["op"], "published");

    // A ban ends the subscription on the other instance and refuses a new one.
    let done = moderate(
        &mut mod_a,
        json!({"action": "ban", "room_id": "r1", "user_id": "p-3"}),
    )
    .await;
    assert_eq!(done["op"], "moderated", "{done}");
    let ended = frame(&mut banned_b, "the ban's 4403", |f| f["op"] == "error").await;
    assert_eq!(
        (ended["code"].clone(), ended["room_id"].clone()),
        (json!(4403), json!("r1"))
    );
    assert_eq!(banned_b.subscribe("r1", None).await["code"], 4403);
    assert_eq!(publish(&mut banned_b, "r1", "b1").await["code"], 4423);

    // An instance started now enforces both.
    let c = start_sender(&topic, &alerts, 3, &[]);
    let mut muted_c = Client::connect(&c.addr, Some(&muted))
        .await
        .expect("connect");
    let mut banned_c = Client::connect(&c.addr, Some(&banned))
        .await
        .expect("connect");
    assert_eq!(publish(&mut muted_c, "r1", "m4").await["code"], 4423);
    assert_eq!(banned_c.subscribe("r1", None).await["code"], 4403);

    // Lifting works everywhere.
    for action in [
        json!({"action": "unmute", "room_id": "r1", "user_id": "p-2"}),
        json!({"action": "unban", "room_id": "r1", "user_id": "p-3"}),
    ] {
        assert_eq!(moderate(&mut mod_a, action).await["op"], "moderated");
    }
    let ok = wait_for_code(&mut muted_c, "r1", "m5", 0).await;
    assert_eq!(ok["op"], "published", "{ok}");
    assert_eq!(publish(&mut muted_b, "r1", "m6").await["op"], "published");
    assert_eq!(banned_c.subscribe("r1", None).await["op"], "subscribed");
}

/// Publishes (a fresh key each try) until the answer has `code` (0: until
/// published): actions reach each instance a moment after their ack.
async fn wait_for_code(client: &mut Client, room: &str, key: &str, code: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let answer = publish(client, room, &format!("{key}-{attempt}")).await;
        let got = if answer["op"] == "published" {
            0
        } else {
            answer["code"].as_u64().unwrap_or(1)
        };
        if got == code {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "still {answer} after {attempt} tries"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_publish_reaches_nobody_and_alerts_moderators() {
    let topic = fresh_topic("moderation-block", 3).await;
    let alerts = fresh_topic("moderation-block-alerts", 1).await;
    let rules = parley_tests::repo().join("deploy/anomaly-detector/rules.toml");
    let rules = rules.to_str().expect("utf-8 path");
    let a = start_sender(&topic, &alerts, 3, &["--rules", rules]);
    let b = start_sender(&topic, &alerts, 3, &["--rules", rules]);
    let player = publish_token("p-9", "viewer", &["r1"], "g1");
    let moderator = publish_token("mod-1", "moderator", &["*"], "g1");
    let mut publisher = Client::connect(&a.addr, Some(&player))
        .await
        .expect("connect");
    let mut watcher = Client::connect(&b.addr, Some(&player))
        .await
        .expect("connect");
    let mut mod_b = Client::connect(&b.addr, Some(&moderator))
        .await
        .expect("connect");
    assert_eq!(watcher.subscribe("r1", None).await["op"], "subscribed");
    mod_b.send(json!({"op": "subscribe_alerts"})).await;
    frame(&mut mod_b, "subscribed_alerts", |f| {
        f["op"] == "subscribed_alerts"
    })
    .await;

    for (key, content) in [
        ("b1", "just k.y.s already"),
        ("b2", "go kill yourself noob"),
    ] {
        publisher
            .send(
                json!({"op": "publish", "room_id": "r1", "content": content, "client_msg_id": key}),
            )
            .await;
        let refused = frame(&mut publisher, "publish answer", |f| {
            f["client_msg_id"] == key
        })
        .await;
        assert_eq!(refused["code"], 4422, "{content}: {refused}");
        assert!(
            refused["reason"]
                .as_str()
                .is_some_and(|r| r.contains("self-harm-baiting")),
            "{refused}"
        );
    }
    let alert = frame(&mut mod_b, "the alert about the block", |f| {
        f["op"] == "alert"
    })
    .await;
    assert_eq!(alert["alert"]["rule"], "self-harm-baiting", "{alert}");
    assert_eq!(alert["alert"]["user_id"], "p-9");
    assert_eq!(alert["alert"]["room_id"], "r1");
    // An ordinary line still goes through, and it is the only one delivered.
    assert_eq!(publish(&mut publisher, "r1", "ok").await["op"], "published");
    let delivered = watcher.messages(3, Duration::from_secs(3)).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["message"]["content"], "line ok");
    let records = parley_tests::read_all(&topic, Duration::from_secs(3));
    assert_eq!(records.len(), 1, "nothing blocked was produced");
}

/// A flood rule whose policy mutes the author for 10 minutes.
const AUTO_MUTE_RULES: &str = r#"
[[rule]]
name = "flood-auto-mute"
kind = "flood"
category = "flood"
severity = "warning"
threshold = 5
window = "10s"
on_alert = { action = "mute", for = "10m" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_alert_mutes_its_author_automatically() {
    use parley_tests::process::{http_get, metric, worker_args, Worker};
    use parley_tests::{free_port, wait_until};
    let topic = fresh_topic("moderation-auto", 3).await;
    let alerts = fresh_topic("moderation-auto-alerts", 1).await;
    let actions = format!("{alerts}.actions");
    let sender = start_sender(
        &topic,
        &alerts,
        3,
        &["--publish-rate", "100", "--publish-burst", "100"],
    );
    let rules =
        std::env::temp_dir().join(format!("{}.toml", parley_tests::unique_name("auto-mute")));
    std::fs::write(&rules, AUTO_MUTE_RULES).expect("rules");
    let (dlq, by_game) = (
        fresh_topic("moderation-auto-dlq", 1).await,
        fresh_topic("moderation-auto-by-game", 3).await,
    );
    let port = free_port();
    let rules_arg = rules.display().to_string();
    let extra = [
        "--rules",
        rules_arg.as_str(),
        "--alerts-topic",
        alerts.as_str(),
        "--actions-topic",
        actions.as_str(),
        "--by-game-topic",
        by_game.as_str(),
    ];
    let group = parley_tests::unique_name("auto-mute");
    let mut detector = Worker::start(
        "anomaly-detector",
        &worker_args(&topic, &group, &dlq, port, &extra),
    );
    let metrics = format!("127.0.0.1:{port}");
    wait_until(Duration::from_secs(60), "detector assigned", || {
        assert!(detector.is_running(), "{}", detector.log_text());
        http_get(&metrics, "/metrics")
            .is_some_and(|(_, t)| metric(&t, "parley_partitions_assigned") >= 3.0)
    });

    let flooder = publish_token("p-flood", "viewer", &["r1"], "g1");
    let mut client = Client::connect(&sender.addr, Some(&flooder))
        .await
        .expect("connect");
    for i in 0..6 {
        assert_eq!(
            publish(&mut client, "r1", &format!("f{i}")).await["op"],
            "published"
        );
    }
    // The detector alerts, mutes as itself, and the sender enforces it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let muted = loop {
        let answer = publish(
            &mut client,
            "r1",
            &format!("after-{}", deadline.elapsed().as_millis()),
        )
        .await;
        if answer["code"] == 4423 {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "not muted: {answer}\n{}",
            detector.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        muted["reason"]
            .as_str()
            .is_some_and(|r| r.contains("muted")),
        "{muted}"
    );
    let records = parley_tests::read_all(&actions, Duration::from_secs(3));
    let taken: Vec<Value> = records
        .iter()
        .filter_map(|r| serde_json::from_slice(r.payload.as_deref()?).ok())
        .collect();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0]["actor"], "anomaly-detector");
    assert_eq!(taken[0]["action"], "mute");
    assert_eq!(taken[0]["user_id"], "p-flood");
    assert!(taken[0]["alert_id"].is_string());
    let _ = std::fs::remove_file(&rules);
}
