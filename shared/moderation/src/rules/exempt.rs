//! Who a rule ignores: users, rooms and roles, and the role a message's
//! author has for that purpose.

use std::borrow::Cow;
use std::collections::HashSet;

use parley_shared::{GameMessage, MessageKind};

use super::file::Exemptions;

/// Exemptions as sets.
#[derive(Debug, Clone, Default)]
pub struct Exempt {
    /// User ids.
    pub users: HashSet<String>,
    /// Room ids.
    pub rooms: HashSet<String>,
    /// Roles.
    pub roles: HashSet<String>,
}

impl Exempt {
    /// Whether a message by `user` in `room` with `role` is exempt.
    pub fn covers(&self, user: &str, room: &str, role: Option<&str>) -> bool {
        self.users.contains(user)
            || self.rooms.contains(room)
            || role.is_some_and(|r| self.roles.contains(r))
    }
}

impl From<&Exemptions> for Exempt {
    fn from(written: &Exemptions) -> Exempt {
        Exempt {
            users: written.users.iter().cloned().collect(),
            rooms: written.rooms.iter().cloned().collect(),
            roles: written.roles.iter().cloned().collect(),
        }
    }
}

/// The message author's role for exemptions: `system` for system messages,
/// else `meta.role` when present. Borrowed from the message unless the
/// role is written with JSON escapes.
///
/// `meta` is whatever the producer wrote: trust it only for records that a
/// trusted producer (a game server) wrote. Where the author is known from
/// elsewhere (a publish with a token), pass that role instead.
pub fn role_of(message: &GameMessage) -> Option<Cow<'_, str>> {
    if message.kind == MessageKind::System {
        return Some(Cow::Borrowed("system"));
    }
    let meta = message.meta.as_ref()?.as_json();
    if !meta.contains("\"role\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct RoleMeta<'a> {
        #[serde(borrow)]
        role: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<RoleMeta<'_>>(meta).ok()?.role
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: &str, meta: Option<&str>) -> GameMessage {
        let mut json = serde_json::json!({
            "v": 1, "message_id": "m", "game_id": "g", "room_id": "r", "user_id": "u",
            "kind": kind, "content": "hello", "sent_at": 1,
        });
        if let Some(meta) = meta {
            json["meta"] = serde_json::from_str(meta).expect("meta is JSON");
        }
        GameMessage::decode(json.to_string().as_bytes()).expect("valid message")
    }

    #[test]
    fn roles_come_from_the_kind_or_meta() {
        assert_eq!(role_of(&message("system", None)).as_deref(), Some("system"));
        let moderator = message("chat", Some(r#"{"role":"moderator","x":1}"#));
        assert_eq!(role_of(&moderator).as_deref(), Some("moderator"));
        let escaped = message("chat", Some(r#"{"role":"mod\u0065rator"}"#));
        assert_eq!(role_of(&escaped).as_deref(), Some("moderator"));
        assert_eq!(role_of(&message("chat", None)), None);
        assert_eq!(role_of(&message("chat", Some(r#"{"role":7}"#))), None);
        assert_eq!(role_of(&message("chat", Some(r#"{"locale":"en"}"#))), None);
    }

    #[test]
    fn exemptions_cover_users_rooms_and_roles() {
        let exempt = Exempt::from(&Exemptions {
            users: vec!["bot".into()],
            rooms: vec!["lobby".into()],
            roles: vec!["moderator".into()],
        });
        assert!(exempt.covers("bot", "r", None));
        assert!(exempt.covers("u", "lobby", None));
        assert!(exempt.covers("u", "r", Some("moderator")));
        assert!(!exempt.covers("u", "r", Some("viewer")));
        assert!(!exempt.covers("u", "r", None));
    }
}
