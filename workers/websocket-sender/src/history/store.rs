//! `GET /rooms/{room_id}/messages?before=<ms>&limit=<n>`: a room's older
//! messages from ClickHouse (db-writer's table, deduplicated by
//! `message_id`), newest first, for clients that open a room fresh or whose
//! recovery said `recovered: false`. Same token and room rules as `/ws`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use parley_shared::config::ClickHouseConnection;

/// Most messages one request returns.
pub const MAX_LIMIT: u32 = 500;
/// Messages returned without `limit`.
pub const DEFAULT_LIMIT: u32 = 50;

/// Query parameters.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryQuery {
    /// Only messages sent before this time (ms); default: now.
    pub before: Option<i64>,
    /// With `before`: also messages sent at exactly `before` whose id sorts
    /// below this one (the page cursor, so equal timestamps are not skipped).
    pub before_id: Option<String>,
    /// How many (1–500, default 50).
    pub limit: Option<u32>,
    /// Token, when no `Authorization` header is sent.
    pub token: Option<String>,
}

/// A row as ClickHouse returns it (JSONEachRow).
#[derive(Debug, Deserialize)]
struct Row {
    message_id: String,
    v: u32,
    game_id: String,
    room_id: String,
    user_id: String,
    user_name: Option<String>,
    kind: String,
    content: String,
    #[serde(deserialize_with = "int_or_string")]
    sent_at: i64,
    visibility: String,
    meta: String,
}

/// One message as clients know it (GameMessage v1).
#[derive(Debug, Serialize)]
struct Message {
    v: u32,
    message_id: String,
    game_id: String,
    room_id: String,
    user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    kind: String,
    content: String,
    sent_at: i64,
    visibility: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Box<RawValue>>,
    /// Deleted by a moderator (only moderators see such a message).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

/// The response body.
#[derive(Debug, Serialize)]
pub struct HistoryPage {
    room_id: String,
    messages: Vec<Box<RawValue>>,
    /// Pass as `before` for the next page; `null` at the start.
    next_before: Option<i64>,
    /// Pass as `before_id` for the next page.
    next_before_id: Option<String>,
}

/// Why history could not be served.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// ClickHouse failed or is unreachable.
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A row could not be read.
    #[error("bad row from ClickHouse: {0}")]
    Row(#[from] serde_json::Error),
}

/// Reads history from ClickHouse.
#[derive(Clone)]
pub struct HistoryStore {
    client: clickhouse::Client,
    table: String,
}

impl HistoryStore {
    /// A store for the configured table.
    pub fn new(args: &ClickHouseConnection) -> Self {
        let mut client = clickhouse::Client::default()
            .with_url(&args.url)
            .with_user(&args.user);
        if !args.password.is_empty() {
            client = client.with_password(args.password.expose());
        }
        HistoryStore {
            client,
            table: format!(
                "{}.{}",
                quote_ident(&args.database),
                quote_ident(&args.table)
            ),
        }
    }

    /// A start-up probe (`SELECT 1`, 5 s at most). Credentials ClickHouse
    /// refuses are a configuration error, returned as its message; a server
    /// that does not answer is only logged: live fan-out does not need it,
    /// and history answers 503 until it is back.
    pub async fn check_credentials(&self, url: &str) -> Result<(), String> {
        let probe = self.client.query("SELECT 1").fetch_bytes("TabSeparated");
        let result = match probe {
            Ok(mut cursor) => {
                tokio::time::timeout(std::time::Duration::from_secs(5), cursor.collect())
                    .await
                    .map_err(|_| "no answer within 5 s".to_owned())
                    .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string()))
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => Ok(()),
            Err(reason) if is_auth_error(&reason) => Err(reason),
            Err(reason) => {
                tracing::warn!(%url, %reason, "ClickHouse unavailable: history answers 503 until it is back");
                Ok(())
            }
        }
    }

    /// Up to `limit` messages of `room_id` sent before `before`, newest
    /// first; moderators-only ones only when `moderators`. A message
    /// `deleted` says was deleted is left out, or for moderators marked
    /// `"deleted": true` (a page may then hold fewer than `limit`).
    pub async fn page(
        &self,
        room_id: &str,
        before: i64,
        before_id: Option<&str>,
        limit: u32,
        moderators: bool,
        deleted: impl Fn(&str) -> bool,
    ) -> Result<HistoryPage, HistoryError> {
        let visibility = if moderators {
            ""
        } else {
            "AND visibility != 'moderators'"
        };
        let sql = format!(
            "SELECT message_id, v, game_id, room_id, user_id, user_name, kind, content, \
             sent_at, visibility, meta FROM {} \
             WHERE room_id = ? AND (sent_at < ? OR (sent_at = ? AND message_id < ?)) {visibility} \
             ORDER BY sent_at DESC, message_id DESC LIMIT 1 BY message_id LIMIT ?",
            self.table
        );
        let bytes = self
            .client
            .query(&sql)
            .bind(room_id)
            .bind(before)
            .bind(before)
            .bind(before_id.unwrap_or(""))
            .bind(limit)
            .fetch_bytes("JSONEachRow")?
            .collect()
            .await?;
        let (mut messages, mut rows) = (Vec::new(), 0u32);
        let mut oldest = None;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let row: Row = serde_json::from_slice(line)?;
            rows += 1;
            oldest = Some((row.sent_at, row.message_id.clone()));
            let mut message = Message::from(row);
            if deleted(&message.message_id) {
                if !moderators {
                    continue;
                }
                message.deleted = true;
            }
            messages.push(serde_json::value::to_raw_value(&message)?);
        }
        let (next_before, next_before_id) = match oldest {
            Some((at, id)) if rows == limit => (Some(at), Some(id)),
            _ => (None, None),
        };
        Ok(HistoryPage {
            room_id: room_id.to_owned(),
            messages,
            next_before,
            next_before_id,
        })
    }
}

impl From<Row> for Message {
    fn from(row: Row) -> Self {
        Message {
            v: row.v,
            message_id: row.message_id,
            game_id: row.game_id,
            room_id: row.room_id,
            user_id: row.user_id,
            user_name: row.user_name,
            kind: row.kind,
            content: row.content,
            sent_at: row.sent_at,
            visibility: row.visibility,
            meta: RawValue::from_string(row.meta)
                .ok()
                .filter(|m| m.get() != "" && m.get() != "null"),
            deleted: false,
        }
    }
}

/// ClickHouse's error codes for a user or password it refuses:
/// UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED.
fn is_auth_error(reason: &str) -> bool {
    reason.split("Code: ").skip(1).any(|rest| {
        let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
        matches!(code.as_str(), "192" | "193" | "194" | "516")
    })
}

/// Backquotes an identifier for ClickHouse.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// ClickHouse may quote 64-bit integers in JSON.
fn int_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        Int(i64),
        Text(String),
    }
    match IntOrString::deserialize(d)? {
        IntOrString::Int(v) => Ok(v),
        IntOrString::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_game_messages() {
        let row: Row = serde_json::from_str(
            r#"{"message_id":"m1","v":1,"game_id":"g","room_id":"r","user_id":"u","user_name":null,
                "kind":"chat","content":"hi","sent_at":"1700000000000","visibility":"all","meta":"{\"locale\":\"en\"}"}"#,
        )
        .expect("row");
        let json = serde_json::to_value(Message::from(row)).expect("json");
        assert_eq!(json["sent_at"], 1_700_000_000_000i64);
        assert_eq!(json["meta"]["locale"], "en");
        assert!(json.get("user_name").is_none());
    }

    #[test]
    fn refused_credentials_are_told_apart_from_an_outage() {
        for refused in [
            "bad response: Code: 193, e.displayText() = DB::Exception: Wrong password for user default",
            "bad response: Code: 192, e.displayText() = DB::Exception: Unknown user nobody",
            "bad response: Code: 516. DB::Exception: default: Authentication failed",
        ] {
            assert!(is_auth_error(refused), "{refused}");
        }
        for other in [
            "network error: connection refused",
            "bad response: Code: 60. DB::Exception: Table parley.messages doesn't exist",
            "no answer within 5 s",
            "bad response: Code: 1930",
        ] {
            assert!(!is_auth_error(other), "{other}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("par`ley"), "`par\\`ley`");
    }
}
