//! What a client may send to publish, and the one function that turns it
//! into a GameMessage v1: identity from the token, id from the client's
//! retry key, time from the server's clock, checked by the same
//! [`GameMessage::validate`] every worker's decoder uses.

use serde::Deserialize;

use crate::message::{
    GameMessage, MessageKind, Meta, Visibility, MAX_CONTENT_BYTES, SCHEMA_VERSION,
};

use super::refusal::Refusal;

/// Longest `client_msg_id`, in characters.
pub const MAX_CLIENT_MSG_ID_CHARS: usize = 64;

/// Namespace of the UUIDv5 message ids derived from (`sub`, `client_msg_id`).
const MESSAGE_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5d1c_8a4e_2f7b_4c39_9e06_b1a3_7f42_c0d8);

/// A publish as the client sends it (the WebSocket `publish` frame without
/// its `op`, or the HTTP ingest body). Fields only a `service` token may
/// set are ignored for every other token, never obeyed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PublishRequest {
    /// The room; the HTTP path gives it for ingest.
    #[serde(default)]
    pub room_id: Option<String>,
    /// The text.
    #[serde(default)]
    pub content: String,
    /// The client's own id for this message: its retry key.
    #[serde(default)]
    pub client_msg_id: String,
    /// `chat` unless a service token says otherwise.
    #[serde(default)]
    pub kind: Option<String>,
    /// Free-form client facts (an object).
    #[serde(default)]
    pub meta: Option<Meta>,
    /// The author, for a service token publishing for a player.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The author's display name (service tokens).
    #[serde(default)]
    pub user_name: Option<String>,
    /// Who may see it (service tokens).
    #[serde(default)]
    pub visibility: Option<Visibility>,
}

/// What a publisher may do, from its token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublisherRole {
    /// A player (viewer, moderator or admin): chat, visible to all, as itself.
    Player,
    /// A game server: may set the author, kind and visibility.
    Service,
}

/// Who publishes, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The token's `sub`.
    pub sub: String,
    /// The token's `game` claim; needed to publish.
    pub game: Option<String>,
    /// Player or service.
    pub role: PublisherRole,
}

/// The message id of (`sub`, `client_msg_id`): the same for every retry.
pub fn message_id_for(sub: &str, client_msg_id: &str) -> String {
    let mut name = Vec::with_capacity(sub.len() + client_msg_id.len() + 1);
    name.extend_from_slice(sub.as_bytes());
    name.push(0);
    name.extend_from_slice(client_msg_id.as_bytes());
    uuid::Uuid::new_v5(&MESSAGE_ID_NAMESPACE, &name).to_string()
}

/// Builds the record for `request` in `room_id` from `publisher`, at
/// `now_ms`, or says why it is refused. Nothing here is taken from the
/// request that the token decides: the author of a player's message is its
/// `sub`, the game its `game` claim.
pub fn build_message(
    publisher: &Publisher,
    room_id: &str,
    request: PublishRequest,
    now_ms: i64,
) -> Result<GameMessage, Refusal> {
    let client_msg_id = request.client_msg_id.as_str();
    if client_msg_id.is_empty() || client_msg_id.chars().count() > MAX_CLIENT_MSG_ID_CHARS {
        return Err(Refusal::Invalid(format!(
            "client_msg_id must be 1-{MAX_CLIENT_MSG_ID_CHARS} characters"
        )));
    }
    if request.content.len() > MAX_CONTENT_BYTES {
        return Err(Refusal::TooLarge(format!(
            "content is {} bytes, over the {MAX_CONTENT_BYTES}-byte limit",
            request.content.len()
        )));
    }
    let Some(game_id) = publisher.game.clone().filter(|g| !g.is_empty()) else {
        return Err(Refusal::Forbidden(
            "the token has no game claim: it cannot publish".to_owned(),
        ));
    };
    let message_id = message_id_for(&publisher.sub, client_msg_id);
    let (user_id, user_name, kind, visibility) = match publisher.role {
        PublisherRole::Player => (
            publisher.sub.clone(),
            None,
            MessageKind::Chat,
            Visibility::All,
        ),
        PublisherRole::Service => (
            request.user_id.unwrap_or_else(|| publisher.sub.clone()),
            request.user_name,
            request
                .kind
                .as_deref()
                .map_or(MessageKind::Chat, MessageKind::from),
            request.visibility.unwrap_or_default(),
        ),
    };
    let message = GameMessage {
        v: SCHEMA_VERSION,
        message_id,
        game_id,
        room_id: room_id.to_owned(),
        user_id,
        user_name,
        kind,
        content: request.content,
        sent_at: now_ms,
        visibility,
        meta: request.meta,
    };
    message
        .validate()
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player() -> Publisher {
        Publisher {
            sub: "u-7".into(),
            game: Some("starfall".into()),
            role: PublisherRole::Player,
        }
    }

    fn request(json: &str) -> PublishRequest {
        serde_json::from_str(json).expect("request json")
    }

    #[test]
    fn a_player_publishes_as_itself_whatever_the_frame_claims() {
        let req = request(
            r#"{"room_id":"r1","content":"gg","client_msg_id":"c1","kind":"system",
                "user_id":"someone-else","user_name":"Mallory","visibility":"moderators",
                "game_id":"othergame","meta":{"platform":"ios"}}"#,
        );
        let m = build_message(&player(), "r1", req, 1_000).expect("built");
        assert_eq!(m.user_id, "u-7");
        assert_eq!(m.game_id, "starfall");
        assert_eq!(m.kind, MessageKind::Chat);
        assert_eq!(m.visibility, Visibility::All);
        assert_eq!(m.user_name, None);
        assert_eq!(m.sent_at, 1_000);
        assert_eq!(m.room_id, "r1");
        assert_eq!(
            m.meta.as_ref().map(Meta::as_json),
            Some(r#"{"platform":"ios"}"#)
        );
        assert_eq!(m.message_id, message_id_for("u-7", "c1"));
    }

    #[test]
    fn a_service_may_set_author_kind_and_visibility() {
        let service = Publisher {
            role: PublisherRole::Service,
            ..player()
        };
        let req = request(
            r#"{"content":"","client_msg_id":"c1","kind":"join","user_id":"p-9",
                "user_name":"Nine","visibility":"moderators"}"#,
        );
        let m = build_message(&service, "r1", req, 5).expect("built");
        assert_eq!(
            (m.user_id.as_str(), m.user_name.as_deref()),
            ("p-9", Some("Nine"))
        );
        assert_eq!(m.kind, MessageKind::Join);
        assert_eq!(m.visibility, Visibility::Moderators);
    }

    #[test]
    fn the_id_is_stable_per_sender_and_key() {
        assert_eq!(message_id_for("a", "k"), message_id_for("a", "k"));
        assert_ne!(message_id_for("a", "k"), message_id_for("b", "k"));
        assert_ne!(message_id_for("a", "bk"), message_id_for("ab", "k"));
        assert_eq!(message_id_for("a", "k").len(), 36);
    }

    #[test]
    fn refusals() {
        let cases = [
            (r#"{"content":"","client_msg_id":"c"}"#, 4400),
            (r#"{"content":"   ","client_msg_id":"c"}"#, 4400),
            (r#"{"content":"hi","client_msg_id":""}"#, 4400),
            (r#"{"content":"hi"}"#, 4400),
        ];
        for (json, code) in cases {
            let got = build_message(&player(), "r", request(json), 1);
            assert_eq!(got.map_err(|r| r.code()).err(), Some(code), "{json}");
        }
        let long_key = format!(r#"{{"content":"hi","client_msg_id":"{}"}}"#, "k".repeat(65));
        assert!(build_message(&player(), "r", request(&long_key), 1).is_err());
        let big = PublishRequest {
            content: "x".repeat(MAX_CONTENT_BYTES + 1),
            client_msg_id: "c".into(),
            ..PublishRequest::default()
        };
        let refusal = build_message(&player(), "r", big, 1).expect_err("too large");
        assert_eq!((refusal.code(), refusal.http_status()), (4400, 413));
        let no_game = Publisher {
            game: None,
            ..player()
        };
        let ok = request(r#"{"content":"hi","client_msg_id":"c"}"#);
        let refusal = build_message(&no_game, "r", ok.clone(), 1).expect_err("no game");
        assert_eq!(refusal.code(), 4403);
        let refusal = build_message(&player(), "", ok, 1).expect_err("no room");
        assert_eq!(refusal.code(), 4400);
    }

    #[test]
    fn meta_must_be_an_object() {
        assert!(serde_json::from_str::<PublishRequest>(
            r#"{"content":"hi","client_msg_id":"c","meta":[1]}"#
        )
        .map(|r| build_message(&player(), "r", r, 1))
        .map_or(true, |built| built.is_err()));
    }
}
