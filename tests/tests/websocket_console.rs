//! websocket-sender's browser console, used as a person would, in headless
//! Chromium driven over the Chrome DevTools Protocol (one DevTools WebSocket,
//! one flattened session per tab): sign in with a token in the URL fragment,
//! subscribe through the form, see live messages (moderators-only ones on the
//! moderator's page only), a refused room, alerts on the moderator's page, a
//! dropped connection resumed without gaps, and older messages from
//! ClickHouse. Leaves screenshots in /tmp/console.png (moderator, wide) and
//! /tmp/console-viewer.png (viewer, narrow).

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parley_tests::browser::{Cdp, Chromium, Page};
use parley_tests::clickhouse::{self, drop_database, fresh_database};
use parley_tests::process::{http_get, Worker};
use parley_tests::{binary, brokers, free_port, fresh_topic, unique_name, wait_until};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

const SECRET: &str = "console-test-secret-not-for-production";
const SHORT: Duration = Duration::from_secs(10);

// ---------- Chromium and the DevTools protocol ----------

/// What a failing wait prints: status, events and the ids shown.
const DESCRIBE_PAGE: &str = r#"JSON.stringify({
  url: location.href,
  status: document.querySelector('#status')?.textContent,
  events: [...document.querySelectorAll('#notices li')].map(li => li.textContent).slice(0, 12),
  login_error: document.querySelector('#login-error')?.textContent,
  rooms: [...document.querySelectorAll('#subscriptions [data-room-id]')].map(c => c.dataset.roomId + ':' + c.dataset.state),
  messages: [...document.querySelectorAll('#messages [data-message-id]')].map(m => m.dataset.messageId),
  alerts: [...document.querySelectorAll('#alerts [data-alert-id]')].map(a => a.dataset.alertId),
  alerts_state: document.querySelector('#alerts-panel')?.dataset.state,
})"#;

/// Every message id shown, top to bottom.
const MESSAGE_IDS: &str =
    "[...document.querySelectorAll('#messages [data-message-id]')].map(m => m.dataset.messageId)";

/// A JS string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).expect("string literal")
}

/// JS: the first element matching `selector` (which ends in an open
/// attribute test, e.g. `#alerts [data-alert-id`) whose attribute is `value`.
fn find(selector: &str, value: &str) -> String {
    format!(
        "document.querySelector('{selector}=' + JSON.stringify({}) + ']')",
        js(value)
    )
}

/// JS: the message shown with this id.
fn message(id: &str) -> String {
    find("#messages [data-message-id", id)
}

/// JS: true when the message is shown.
fn shows_message(id: &str) -> String {
    format!("!!{}", message(id))
}

/// JS: the subscription chip of a room.
fn chip(room: &str) -> String {
    find("#subscriptions [data-room-id", room)
}

/// JS: fills the room field and submits the form.
fn subscribe_via_form(room: &str) -> String {
    format!(
        "document.querySelector('#room-input').value = {}; \
         document.querySelector('#subscribe-form').requestSubmit(); true",
        js(room)
    )
}

// ---------- records and tokens ----------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn game_message(room: &str, id: &str, user: &str, kind: &str, content: &str) -> Value {
    json!({
        "v": 1,
        "message_id": id,
        "game_id": "g-console",
        "room_id": room,
        "user_id": format!("u-{}", user.to_lowercase()),
        "user_name": user,
        "kind": kind,
        "content": content,
        "sent_at": now_ms(),
        "meta": {"platform": "pc", "locale": "en-GB"},
    })
}

fn alert(room: &str, id: &str, severity: &str, category: &str, summary: &str) -> Value {
    let now = now_ms();
    json!({
        "v": 1,
        "alert_id": id,
        "rule": format!("{category}-rule"),
        "category": category,
        "severity": severity,
        "game_id": "g-console",
        "room_id": room,
        "user_id": "u-troll",
        "message_ids": ["m-evidence-1", "m-evidence-2"],
        "window_start": now - 10_000,
        "window_end": now,
        "detected_at": now,
        "score": 0.97,
        "summary": summary,
    })
}

/// Mints a token with the worker's own `token` command.
fn mint(sub: &str, role: &str, room: &str) -> String {
    let output = Command::new(binary("websocket-sender"))
        .args([
            "token", "--sub", sub, "--role", role, "--room", room, "--ttl", "15m",
        ])
        .env("PARLEY_JWT_SECRET", SECRET)
        .output()
        .expect("run websocket-sender token");
    assert!(
        output.status.success(),
        "token command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout)
        .expect("token is UTF-8")
        .trim()
        .to_owned();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    token
}

/// A fresh ClickHouse database with db-writer's `messages` table holding
/// a few old messages of one room; dropped on drop.
struct HistoryDb {
    name: String,
}

impl HistoryDb {
    fn with_old_messages(room: &str, rows: &[(&str, &str, &str, i64)]) -> HistoryDb {
        let name = fresh_database();
        let schema = include_str!("../../deploy/clickhouse/001_messages.sql")
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("parley.", &format!("{name}."))
            .replace("EXISTS parley", &format!("EXISTS {name}"));
        for statement in schema.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            clickhouse::query(statement);
        }
        let mut insert = format!("INSERT INTO {name}.messages FORMAT JSONEachRow\n");
        for (offset, (id, visibility, content, sent_at)) in rows.iter().enumerate() {
            let row = json!({
                "message_id": id, "v": 1, "game_id": "g-console", "room_id": room,
                "user_id": "u-old", "user_name": "Earlier Player", "kind": "chat",
                "content": content, "sent_at": sent_at, "visibility": visibility,
                "meta": "{}", "kafka_partition": 0, "kafka_offset": offset,
                "ingested_at": "2025-01-01 00:00:00",
            });
            insert.push_str(&format!("{row}\n"));
        }
        clickhouse::query(&insert);
        HistoryDb { name }
    }
}

impl Drop for HistoryDb {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}

// ---------- the worker under test ----------

/// A websocket-sender on fresh topics and a fresh history database, with a
/// producer for both topics.
struct Stack {
    topic: String,
    alerts_topic: String,
    room: String,
    listen: String,
    producer: FutureProducer,
    _worker: Worker,
    _history: HistoryDb,
}

impl Stack {
    async fn start() -> Stack {
        let topic = fresh_topic("ws-console", 3).await;
        let alerts_topic = fresh_topic("ws-console-alerts", 1).await;
        let room = format!(
            "g-console-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let hour_ago = now_ms() - 3_600_000;
        let history = HistoryDb::with_old_messages(
            &room,
            &[
                ("h-old-1", "all", "first message of the evening", hour_ago),
                ("h-old-2", "all", "rematch?", hour_ago + 1_000),
                (
                    "h-old-mod",
                    "moderators",
                    "[note] watch u-troll",
                    hour_ago + 2_000,
                ),
            ],
        );
        let listen = format!("127.0.0.1:{}", free_port());
        let metrics = format!("127.0.0.1:{}", free_port());
        let args = [
            "--brokers",
            &brokers(),
            "--topic",
            &topic,
            "--alerts-topic",
            &alerts_topic,
            "--instance-id",
            &unique_name("console"),
            "--listen",
            &listen,
            "--metrics-addr",
            &metrics,
            "--clickhouse-database",
            &history.name,
        ]
        .map(str::to_owned);
        let worker =
            Worker::start_with_env("websocket-sender", &args, &[("PARLEY_JWT_SECRET", SECRET)]);
        wait_until(SHORT * 3, "websocket-sender /healthz", || {
            http_get(&metrics, "/healthz").is_some_and(|(status, _)| status == 200)
        });
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .create()
            .expect("producer");
        Stack {
            topic,
            alerts_topic,
            room,
            listen,
            producer,
            _worker: worker,
            _history: history,
        }
    }

    async fn produce(&self, topic: &str, value: &Value) {
        let payload = value.to_string();
        self.producer
            .send(
                FutureRecord::to(topic).key(&self.room).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }

    async fn message(&self, value: &Value) {
        self.produce(&self.topic, value).await;
    }

    async fn alert(&self, value: &Value) {
        self.produce(&self.alerts_topic, value).await;
    }

    /// The console URL that signs in with `token`.
    fn console_url(&self, token: &str) -> String {
        format!("http://{}/#token={token}", self.listen)
    }
}

/// The worker reads both topics from their end: until its consumers have
/// their partitions, a record can pass unseen. Produces `record(attempt)`
/// until its id shows on the page (checked by `shown(id)`); the id seen.
async fn produce_until_shown(
    stack: &Stack,
    cdp: &mut Cdp,
    page: &Page,
    topic: &str,
    record: impl Fn(u32) -> (String, Value),
    shown: impl Fn(&str) -> String,
) -> String {
    for attempt in 0..30 {
        let (id, value) = record(attempt);
        stack.produce(topic, &value).await;
        let deadline = Instant::now() + Duration::from_millis(800);
        while Instant::now() < deadline {
            if cdp.holds(page, &shown(&id)).await {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("{}: nothing produced to {topic} showed in 24 s", page.name);
}

// ---------- the test, step by step ----------

/// The two people: a moderator on a wide screen, a viewer on a narrow one.
struct People {
    cdp: Cdp,
    moderator: Page,
    viewer: Page,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_live_messages_alerts_recovery_and_history() {
    let started = Instant::now();
    let stack = Stack::start().await;
    for path in ["/", "/console.js", "/console.css"] {
        let (status, body) = http_get(&stack.listen, path).expect(path);
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    let viewer_token = mint("viewer-vic", "viewer", &stack.room);
    let moderator_token = mint("mod-max", "moderator", "*");

    let mut chromium = Chromium::launch();
    let mut cdp = Cdp::connect(&chromium.devtools_url()).await;
    cdp.describe = DESCRIBE_PAGE.to_owned();
    let moderator_url = stack.console_url(&moderator_token);
    let moderator = cdp.open("moderator page", &moderator_url, 1200, 860).await;
    let viewer_url = stack.console_url(&viewer_token);
    let viewer = cdp.open("viewer page", &viewer_url, 420, 860).await;
    let mut people = People {
        cdp,
        moderator,
        viewer,
    };

    signs_in_from_the_fragment(&mut people).await;
    subscribes_through_the_form(&stack, &mut people).await;
    shows_live_messages_to_whom_they_are_for(&stack, &mut people).await;
    eprintln!("live messages checked after {:?}", started.elapsed());
    shows_alerts_to_the_moderator(&stack, &mut people).await;
    resumes_after_a_dropped_connection(&stack, &mut people).await;
    loads_older_messages(&mut people).await;

    let People {
        mut cdp,
        moderator,
        viewer,
    } = people;
    cdp.screenshot(&moderator, "/tmp/console.png").await;
    cdp.screenshot(&viewer, "/tmp/console-viewer.png").await;
    drop(cdp);
    drop(chromium);
    eprintln!("console test took {:?}", started.elapsed());
}

/// Signed in from `#token=`, which leaves the address bar; who is shown.
async fn signs_in_from_the_fragment(people: &mut People) {
    let cdp = &mut people.cdp;
    for (page, sub, role) in [
        (&people.moderator, "mod-max", "moderator"),
        (&people.viewer, "viewer-vic", "viewer"),
    ] {
        cdp.wait_for(
            page,
            "connected",
            "document.querySelector('#status')?.dataset.state === 'connected'",
            SHORT,
        )
        .await;
        let who = cdp
            .value(
                page,
                "({href: location.href, sub: document.querySelector('#who-sub').textContent, \
                  role: document.querySelector('#who-role').textContent, \
                  alerts_hidden: document.querySelector('#alerts-panel').hidden})",
            )
            .await;
        assert!(
            !who["href"].as_str().unwrap_or_default().contains("token"),
            "{}: token left in the URL: {who}",
            page.name
        );
        assert_eq!(who["sub"], sub, "{who}");
        assert_eq!(who["role"], role, "{who}");
        assert_eq!(
            who["alerts_hidden"],
            role == "viewer",
            "alerts panel: {who}"
        );
    }
}

/// Both join the room; the viewer is refused a room its token lacks; the
/// moderator's alerts are on.
async fn subscribes_through_the_form(stack: &Stack, people: &mut People) {
    let (cdp, room) = (&mut people.cdp, &stack.room);
    for page in [&people.moderator, &people.viewer] {
        cdp.value(page, &subscribe_via_form(room)).await;
        let active = format!("{}?.dataset.state === 'active'", chip(room));
        cdp.wait_for(page, "room subscribed", &active, SHORT).await;
    }
    let private_room = format!("{room}-private");
    cdp.value(&people.viewer, &subscribe_via_form(&private_room))
        .await;
    let refused = format!("{}?.dataset.state === 'refused'", chip(&private_room));
    cdp.wait_for(&people.viewer, "private room refused", &refused, SHORT)
        .await;
    let show_room = format!("{}.querySelector('.sub-select').click(); true", chip(room));
    cdp.value(&people.viewer, &show_room).await;
    cdp.wait_for(
        &people.moderator,
        "alerts subscribed",
        "document.querySelector('#alerts-panel').dataset.state === 'subscribed'",
        SHORT,
    )
    .await;
}

/// Live messages reach both; the moderators-only one only the moderator,
/// marked; message text never becomes markup.
async fn shows_live_messages_to_whom_they_are_for(stack: &Stack, people: &mut People) {
    let (cdp, room) = (&mut people.cdp, &stack.room);
    let join = |attempt: u32| {
        let id = format!("m-join-{attempt}");
        let value = game_message(room, &id, "Ann", "join", "joined the room");
        (id, value)
    };
    let topic = &stack.topic;
    let joined =
        produce_until_shown(stack, cdp, &people.moderator, topic, join, shows_message).await;
    // A moderators-only record, then public ones, in one partition (key = room).
    let hostile = r#"<img src=x onerror="window.__pwned=1"><b>bold?</b> & "quotes""#;
    let mut flagged = game_message(
        room,
        "m-mod",
        "Console",
        "system",
        "[automod] flagged u-troll",
    );
    flagged["visibility"] = json!("moderators");
    stack.message(&flagged).await;
    stack
        .message(&game_message(room, "m-html", "Bob", "chat", hostile))
        .await;
    stack
        .message(&game_message(
            room,
            "m-chat",
            "Chloé",
            "chat",
            "gg, close one!",
        ))
        .await;
    for (page, ids) in [
        (&people.moderator, &["m-mod", "m-html", "m-chat"][..]),
        (&people.viewer, &[joined.as_str(), "m-html", "m-chat"][..]),
    ] {
        for id in ids {
            cdp.wait_for(page, id, &shows_message(id), SHORT).await;
        }
    }
    // The viewer holds the later records of that partition, so it would
    // hold the moderators-only one by now had it been sent.
    let viewer = &people.viewer;
    assert!(!cdp.holds(viewer, &shows_message("m-mod")).await);
    let no_flagged =
        "document.querySelectorAll('#messages [data-visibility=moderators]').length === 0";
    assert!(cdp.holds(viewer, no_flagged).await);

    let flagged_line = cdp
        .value(
            &people.moderator,
            &format!(
                "(li => ({{vis: li.dataset.visibility, marked: li.classList.contains('mod-only'), \
                 text: li.textContent}}))({})",
                message("m-mod")
            ),
        )
        .await;
    assert_eq!(flagged_line["vis"], "moderators");
    assert_eq!(flagged_line["marked"], true);
    let text = flagged_line["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("moderators only") && text.contains("[automod]"),
        "{flagged_line}"
    );
    // Text is shown as text: no element made from message data, no script run.
    let hostile_line = cdp
        .value(
            &people.moderator,
            &format!(
                "(li => ({{content: li.querySelector('.msg-content').textContent, \
                 user: li.querySelector('.msg-user').textContent, \
                 elements: document.querySelectorAll('#messages img, #messages b').length, \
                 pwned: window.__pwned === 1}}))({})",
                message("m-html")
            ),
        )
        .await;
    assert_eq!(
        hostile_line,
        json!({"content": hostile, "user": "Bob", "elements": 0, "pwned": false})
    );
}

/// Alerts reach the moderator's page as they arrive, with what matters.
async fn shows_alerts_to_the_moderator(stack: &Stack, people: &mut People) {
    let (cdp, room) = (&mut people.cdp, &stack.room);
    let summary = "u-troll sent 14 toxic messages in 30 s";
    let toxic = |attempt: u32| {
        let id = format!("a-toxic-{attempt}");
        let value = alert(room, &id, "critical", "toxicity", summary);
        (id, value)
    };
    let alert_item = |id: &str| find("#alerts [data-alert-id", id);
    let shown = |id: &str| format!("!!{}", alert_item(id));
    let topic = &stack.alerts_topic;
    let toxic_id = produce_until_shown(stack, cdp, &people.moderator, topic, toxic, shown).await;
    let text = cdp
        .value(
            &people.moderator,
            &format!("{}.textContent", alert_item(&toxic_id)),
        )
        .await;
    let text = text.as_str().unwrap_or_default();
    for part in ["critical", "toxicity", "toxicity-rule", room, summary] {
        assert!(text.contains(part), "alert shows {part:?}: {text}");
    }
    let flood = alert(room, "a-flood", "warning", "flood", "12 messages in 5 s");
    stack.alert(&flood).await;
    cdp.wait_for(
        &people.moderator,
        "second alert",
        "!!document.querySelector('#alerts [data-alert-id=a-flood][data-severity=warning]')",
        SHORT,
    )
    .await;
}

/// A dropped connection resumes from the last position, without gaps or
/// duplicates, and says so.
async fn resumes_after_a_dropped_connection(stack: &Stack, people: &mut People) {
    let (cdp, room, page) = (&mut people.cdp, &stack.room, &people.moderator);
    assert!(
        cdp.holds(page, "window.parleyConsole.dropConnection(2500)")
            .await
    );
    cdp.wait_for(
        page,
        "disconnected",
        "document.querySelector('#status').dataset.state !== 'connected'",
        SHORT,
    )
    .await;
    let away = game_message(room, "m-away", "Dev", "chat", "sent while you were away");
    stack.message(&away).await;
    let recovered = format!(
        "{}?.dataset.recovered === 'true'",
        find("#messages .room[data-room-id", room)
    );
    for (what, condition) in [
        (
            "reconnected",
            "document.querySelector('#status').dataset.state === 'connected'".to_owned(),
        ),
        ("the message missed while away", shows_message("m-away")),
        ("recovery shown", recovered),
    ] {
        cdp.wait_for(page, what, &condition, SHORT * 2).await;
    }
    let ids = cdp.value(page, MESSAGE_IDS).await;
    let ids: Vec<&str> = ids
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "duplicates after resume: {ids:?}");
}

/// "Load older" brings ClickHouse's messages above the live ones, oldest
/// first; the viewer's leave out moderators-only records.
async fn loads_older_messages(people: &mut People) {
    let cdp = &mut people.cdp;
    let load_older =
        "document.querySelector('#messages .room:not([hidden]) [data-action=load-older]').click(); true";
    for page in [&people.moderator, &people.viewer] {
        cdp.value(page, load_older).await;
        cdp.wait_for(page, "history", &shows_message("h-old-2"), SHORT)
            .await;
    }
    assert_eq!(
        cdp.value(&people.moderator, &format!("{MESSAGE_IDS}.slice(0, 3)"))
            .await,
        json!(["h-old-1", "h-old-2", "h-old-mod"])
    );
    assert_eq!(
        cdp.value(&people.viewer, &format!("{MESSAGE_IDS}.slice(0, 2)"))
            .await,
        json!(["h-old-1", "h-old-2"])
    );
    assert!(!cdp.holds(&people.viewer, &shows_message("h-old-mod")).await);
}
