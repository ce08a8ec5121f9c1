use std::path::Path;

use super::*;
use crate::text::normalize::normalize;

const RULES: &str = r#"
[[rule]]
name = "insults"
kind = "content"
category = "toxicity"
severity = "warning"
keywords = ["idiot", "loser"]

[[rule]]
name = "self-harm-baiting"
kind = "content"
category = "toxicity"
severity = "critical"
action = "block"
keywords = ["kys", "kill yourself", "go die"]
patterns = ['\bk+\s*y+\s*s+\b']
exempt = { users = ["quoted-by-bot"], rooms = ["mod-room"], roles = ["moderator", "system"] }

[[rule]]
name = "slurs"
kind = "content"
category = "toxicity"
severity = "critical"
action = "block"
keywords = ["slurword", "idiot"]
allow = ["slurword sword"]

[[rule]]
name = "off"
kind = "content"
category = "toxicity"
severity = "critical"
action = "block"
enabled = false
keywords = ["never"]
"#;

fn blocklist() -> Blocklist {
    Blocklist::parse(RULES, Path::new("rules.toml"), Path::new(".")).expect("valid rules")
}

fn player(user: &str) -> Author<'_> {
    Author {
        user,
        room: "r",
        role: Some("viewer"),
    }
}

fn blocked_by(list: &Blocklist, text: &str) -> Option<String> {
    let mut scratch = CheckScratch::default();
    list.check(text, player("u"), &mut scratch)
        .map(|b| b.rule.to_owned())
}

#[test]
fn only_enabled_content_rules_with_block_are_compiled() {
    let list = blocklist();
    assert_eq!(
        list.rule_names().collect::<Vec<_>>(),
        ["self-harm-baiting", "slurs"]
    );
    assert_eq!(list.len(), 2);
    assert_eq!(blocked_by(&list, "never"), None);
    assert_eq!(blocked_by(&list, "you loser"), None);
}

#[test]
fn evasions_are_blocked_as_the_content_matcher_matches_them() {
    let list = blocklist();
    // The same specs through the matcher anomaly-detector builds.
    let checked = rules::parse(RULES, Path::new("rules.toml"), Path::new(".")).expect("valid");
    let specs: Vec<ContentSpec> = checked.iter().filter_map(|r| r.content.clone()).collect();
    let matcher = ContentMatcher::new(&specs).expect("compiles");
    let texts = [
        "kys",
        "KYS",
        "k y s",
        "kyyyys",
        "k.y.s",
        "kill yourself",
        "k1ll y0urself",
        "kill-yourself!!",
        "k i l l y o u r s e l f",
        "KILL YOURSELF",
        "ｋｉｌｌ ｙｏｕｒｓｅｌｆ",
        "kіll yоurself",
        "go die",
        "g0 d1e",
        "you idiot",
        "1d10t",
        "i d i o t",
        "slurword",
        "s l u r w o r d",
        "a slurword sword",
        "kill your self-heal",
        "skys the limit",
        "keys",
        "gg wp",
        "",
    ];
    for text in texts {
        let mut hits = Vec::new();
        matcher.matches(&normalize(text), &mut hits);
        let first_block = hits
            .iter()
            .map(|&i| specs[i].name.as_str())
            .find(|name| ["self-harm-baiting", "slurs"].contains(name));
        assert_eq!(blocked_by(&list, text).as_deref(), first_block, "{text:?}");
    }
    assert_eq!(
        blocked_by(&list, "k y s").as_deref(),
        Some("self-harm-baiting")
    );
    assert_eq!(blocked_by(&list, "i d i o t").as_deref(), Some("slurs"));
    assert_eq!(blocked_by(&list, "gg wp"), None);
}

#[test]
fn the_first_rule_in_file_order_is_named() {
    let list = blocklist();
    let mut scratch = CheckScratch::default();
    let blocked = list.check("idiot, kys", player("u"), &mut scratch);
    assert_eq!(
        blocked,
        Some(Blocked {
            rule: "self-harm-baiting",
            category: Category::Toxicity,
            severity: Severity::Critical,
        })
    );
}

#[test]
fn exempt_users_rooms_and_roles_pass() {
    let list = blocklist();
    let mut scratch = CheckScratch::default();
    let moderator = Author {
        role: Some("moderator"),
        ..player("m")
    };
    assert_eq!(list.check("kys", moderator, &mut scratch), None);
    assert_eq!(
        list.check("kys", player("quoted-by-bot"), &mut scratch),
        None
    );
    let in_mod_room = Author {
        room: "mod-room",
        ..player("u")
    };
    assert_eq!(list.check("kys", in_mod_room, &mut scratch), None);
    // Exempt from one rule only: the next rule that matches still blocks.
    let blocked = list.check("kys idiot", moderator, &mut scratch);
    assert_eq!(blocked.map(|b| b.rule), Some("slurs"));
    let no_role = Author {
        role: None,
        ..player("u")
    };
    assert!(list.check("kys", no_role, &mut scratch).is_some());
}

fn message(kind: &str, content: &str, meta: Option<serde_json::Value>) -> GameMessage {
    let mut json = serde_json::json!({
        "v": 1, "message_id": "m", "game_id": "g", "room_id": "r", "user_id": "u",
        "kind": kind, "content": content, "sent_at": 1,
    });
    if let Some(meta) = meta {
        json["meta"] = meta;
    }
    GameMessage::decode(json.to_string().as_bytes()).expect("valid message")
}

#[test]
fn whole_messages_are_judged_as_the_detector_judges_them() {
    let list = blocklist();
    let mut scratch = CheckScratch::default();
    let chat = message("chat", "k y s", None);
    assert_eq!(
        list.check_message(&chat, &mut scratch).map(|b| b.rule),
        Some("self-harm-baiting")
    );
    let system = message("system", "kys", None);
    assert_eq!(list.check_message(&system, &mut scratch), None);
    let moderator = message(
        "chat",
        "kys",
        Some(serde_json::json!({"role": "moderator"})),
    );
    assert_eq!(list.check_message(&moderator, &mut scratch), None);
    let viewer = message("chat", "kys", Some(serde_json::json!({"role": "viewer"})));
    assert!(list.check_message(&viewer, &mut scratch).is_some());
    let leave = message("leave", "kys", None);
    assert_eq!(list.check_message(&leave, &mut scratch), None);
}

#[test]
fn a_scratch_carries_nothing_from_one_check_to_the_next() {
    let list = blocklist();
    let mut scratch = CheckScratch::default();
    let long = "a much longer line that is fine to send ".repeat(20);
    for text in ["kys", long.as_str(), "go die", "gg", "ＫＹＳ", "nice shot"] {
        let fresh = blocked_by(&list, text);
        let reused = list
            .check(text, player("u"), &mut scratch)
            .map(|b| b.rule.to_owned());
        assert_eq!(reused, fresh, "{text:?}");
    }
}

#[test]
fn no_block_rules_pass_everything() {
    let text = "[[rule]]\nname = \"insults\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"warning\"\nkeywords = [\"kys\"]";
    let list = Blocklist::parse(text, Path::new("rules.toml"), Path::new(".")).expect("valid");
    assert!(list.is_empty());
    assert_eq!(blocked_by(&list, "kys"), None);
}

#[test]
fn a_bad_file_is_refused_as_every_worker_refuses_it() {
    let text = "[[rule]]\nname = \"flood\"\nkind = \"flood\"\ncategory = \"flood\"\nseverity = \"warning\"\naction = \"block\"\nthreshold = 5\nwindow = \"10s\"";
    let err = Blocklist::parse(text, Path::new("rules.toml"), Path::new("."))
        .expect_err("block on a flood rule")
        .to_string();
    assert!(err.contains("\"flood\"") && err.contains("block"), "{err}");
}

#[test]
fn the_shipped_block_rules_load_and_leave_game_chat_alone() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/anomaly-detector/rules.toml");
    let list = Blocklist::load(&path).expect("shipped rules");
    assert!(
        (3..=5).contains(&list.len()),
        "{:?}",
        list.rule_names().collect::<Vec<_>>()
    );
    for text in [
        "kys",
        "k y s",
        "kill yourself",
        "go kill yourself",
        "hope you die",
    ] {
        assert!(blocked_by(&list, text).is_some(), "{text:?}");
    }
    for text in [
        "gg wp",
        "nice kill streak",
        "I killed him",
        "kill the boss",
        "die already boss",
        "you idiot",
        "ur trash",
        "noob team lol",
        "what the hell",
        "skys the limit",
        "that dies in one hit",
    ] {
        assert_eq!(blocked_by(&list, text), None, "{text:?}");
    }
}
