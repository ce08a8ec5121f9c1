//! What the test feeds the console: chat messages, alerts, and tokens minted
//! with websocket-sender's own `token` command.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use parley_tests::binary;
use serde_json::{json, Value};

use crate::SECRET;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub fn game_message(room: &str, id: &str, user: &str, kind: &str, content: &str) -> Value {
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

pub fn alert(room: &str, id: &str, severity: &str, category: &str, summary: &str) -> Value {
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
pub fn mint(sub: &str, role: &str, room: &str) -> String {
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
