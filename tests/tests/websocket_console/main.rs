//! websocket-sender's browser console, used as a person would, in headless
//! Chromium driven over the Chrome DevTools Protocol (one DevTools WebSocket,
//! one flattened session per tab): sign in with a token in the URL fragment,
//! subscribe through the form, see live messages (moderators-only ones on the
//! moderator's page only), a refused room, alerts on the moderator's page, a
//! dropped connection resumed without gaps, and older messages from
//! ClickHouse, and a moderator deleting a line from it (the viewer's page
//! loses it, the moderator's marks it). Leaves screenshots in /tmp/console.png (moderator, wide) and
//! /tmp/console-viewer.png (viewer, narrow).
//!
//! Layout: `page` (JavaScript read on the page), `records` (messages,
//! alerts, tokens), `stack` (the worker under test); the steps below.

mod page;
mod records;
mod stack;

use std::time::{Duration, Instant};

use parley_tests::browser::{Cdp, Chromium, Page};
use parley_tests::process::http_get;
use serde_json::{json, Value};

use page::{chip, find, message, shows_message, subscribe_via_form, DESCRIBE_PAGE, MESSAGE_IDS};
use records::{alert, game_message, mint};
use stack::{produce_until_shown, Stack};

/// The secret the worker under test verifies tokens with.
const SECRET: &str = "console-test-secret-not-for-production";
/// The usual wait for something to show on a page.
const SHORT: Duration = Duration::from_secs(10);

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
    a_moderator_deletes_a_line_and_viewers_lose_it(&mut people).await;

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

/// The moderator's Delete on a line: retracted on the viewer's page,
/// marked deleted on the moderator's; viewers get no moderation buttons.
async fn a_moderator_deletes_a_line_and_viewers_lose_it(people: &mut People) {
    let cdp = &mut people.cdp;
    let no_buttons = "document.querySelectorAll('#messages .msg-actions').length === 0";
    assert!(cdp.holds(&people.viewer, no_buttons).await);
    assert!(cdp.holds(&people.viewer, &shows_message("m-chat")).await);
    let click = format!(
        "{}.querySelector('[data-moderate=delete_message]').click(); true",
        message("m-chat")
    );
    assert_eq!(cdp.value(&people.moderator, &click).await, true);
    let marked = format!("{}?.dataset.deleted === 'true'", message("m-chat"));
    cdp.wait_for(&people.moderator, "m-chat marked deleted", &marked, SHORT)
        .await;
    let gone = format!("!{}", shows_message("m-chat"));
    cdp.wait_for(&people.viewer, "m-chat retracted", &gone, SHORT)
        .await;
}
