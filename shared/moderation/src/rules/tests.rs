use std::path::Path;
use std::time::Duration;

use super::*;

fn check(text: &str) -> Result<Vec<CheckedRule>, RulesError> {
    parse(text, Path::new("rules.toml"), Path::new("."))
}

fn one(text: &str) -> CheckedRule {
    let mut rules = check(text).expect("valid");
    assert_eq!(rules.len(), 1);
    rules.remove(0)
}

const CONTENT: &str =
    "[[rule]]\nname = \"c\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"warning\"\nkeywords = [\"idiot\"]\n";
const FLOOD: &str =
    "[[rule]]\nname = \"f\"\nkind = \"flood\"\ncategory = \"flood\"\nseverity = \"warning\"\nthreshold = 5\nwindow = \"10s\"\n";
const RAID: &str = "[[rule]]\nname = \"r\"\nkind = \"raid\"\ncategory = \"raid\"\nseverity = \"critical\"\nmin_new_users = 3\nmin_same_text = 2\nwindow = \"1m\"\n";

#[test]
fn the_shipped_rules_pass_the_shared_checks() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/anomaly-detector/rules.toml");
    let rules = load(&path).expect("shipped rules");
    assert!(rules.len() >= 8);
    let profanity = rules
        .iter()
        .find(|r| r.def.name == "profanity")
        .expect("profanity");
    let spec = profanity.content.as_ref().expect("a content rule");
    assert!(
        spec.keywords.len() > 50 && spec.allow.len() > 50,
        "word files read"
    );
    assert!(rules
        .iter()
        .all(|r| r.def.action == RuleAction::Alert || r.content.is_some()));
}

#[test]
fn action_defaults_to_alert_and_block_is_for_content_rules() {
    assert_eq!(one(CONTENT).def.action, RuleAction::Alert);
    let block = one(&format!("{CONTENT}action = \"block\""));
    assert_eq!(block.def.action, RuleAction::Block);
    let err = check(&format!("{FLOOD}action = \"block\""))
        .expect_err("block on flood")
        .to_string();
    assert!(
        err.contains("rule \"f\"") && err.contains("action = \"block\"") && err.contains("flood"),
        "{err}"
    );
    let err = check(&format!("{CONTENT}action = \"hold\""))
        .expect_err("unknown action")
        .to_string();
    assert!(err.contains("hold"), "{err}");
}

#[test]
fn on_alert_policies_are_typed() {
    let mute = one(&format!(
        "{CONTENT}on_alert = {{ action = \"mute\", for = \"10m\" }}"
    ));
    assert_eq!(
        mute.on_alert,
        Some(AutoAction::Mute {
            duration: Some(Duration::from_secs(600))
        })
    );
    let ban = one(&format!("{FLOOD}on_alert = {{ action = \"ban\" }}"));
    assert_eq!(ban.on_alert, Some(AutoAction::Ban { duration: None }));
    let delete = one(&format!("{RAID}on_alert = {{ action = \"delete\" }}"));
    assert_eq!(delete.on_alert, Some(AutoAction::Delete));
    assert_eq!(one(CONTENT).on_alert, None);
}

#[test]
fn on_alert_mistakes_name_the_rule() {
    let cases = [
        (
            format!("{CONTENT}on_alert = {{ action = \"delete\", for = \"1m\" }}"),
            "delete takes no `for`",
        ),
        (
            format!("{CONTENT}on_alert = {{ action = \"mute\", for = \"0s\" }}"),
            "between 1s and 366d",
        ),
        (
            format!("{CONTENT}on_alert = {{ action = \"ban\", for = \"400d\" }}"),
            "between 1s and 366d",
        ),
        // Room-wide alerts name no user to mute.
        (
            format!("{RAID}on_alert = {{ action = \"mute\", for = \"1m\" }}"),
            "scope = \"user\"",
        ),
        (
            format!("{CONTENT}scope = \"room\"\non_alert = {{ action = \"ban\" }}"),
            "scope = \"user\"",
        ),
    ];
    for (text, needle) in cases {
        let err = check(&text).expect_err(needle).to_string();
        assert!(err.contains("rule \"") && err.contains(needle), "{err}");
    }
    for text in [
        format!("{CONTENT}on_alert = {{ action = \"kick\" }}"),
        format!("{CONTENT}on_alert = {{ action = \"mute\", four = \"1m\" }}"),
        format!("{CONTENT}on_alert = {{ action = \"mute\", for = \"soon\" }}"),
    ] {
        assert!(
            matches!(check(&text), Err(RulesError::Syntax { .. })),
            "{text}"
        );
    }
}

#[test]
fn scope_defaults_per_kind() {
    assert_eq!(one(CONTENT).scope, Scope::User);
    assert_eq!(one(FLOOD).scope, Scope::User);
    assert_eq!(one(RAID).scope, Scope::Room);
    assert_eq!(
        one(&format!("{FLOOD}scope = \"global\"")).scope,
        Scope::Global
    );
}

#[test]
fn shared_mistakes_name_the_rule() {
    let cases = [
        (format!("{CONTENT}cooldown = \"25h\""), "cooldown"),
        (
            CONTENT.replace("name = \"c\"", "name = \" \""),
            "name must not be empty",
        ),
        (format!("{CONTENT}\n{CONTENT}"), "twice"),
        (
            CONTENT.replace("keywords = [\"idiot\"]", "patterns = [\"(unclosed\"]"),
            "invalid pattern \"(unclosed\"",
        ),
        (CONTENT.replace("\"idiot\"", "\"\u{200B}\""), "keyword"),
        (CONTENT.replace("keywords", "keyword_files"), "cannot read"),
    ];
    for (text, needle) in cases {
        let err = check(&text).expect_err(needle).to_string();
        assert!(err.contains(needle) && err.contains("rule"), "{err}");
    }
}

#[test]
fn disabled_rules_are_checked_too() {
    let off = CONTENT.replace(
        "keywords = [\"idiot\"]",
        "enabled = false\npatterns = [\"(unclosed\"]",
    );
    assert!(check(&off).is_err());
    let off = format!("{FLOOD}enabled = false\naction = \"block\"");
    assert!(check(&off).is_err());
}

#[test]
fn word_files_are_read_relative_to_the_base() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/anomaly-detector");
    let text = CONTENT.replace(
        "keywords = [\"idiot\"]",
        "keyword_files = [\"wordlists/insults.txt\"]",
    );
    let rules = parse(&text, Path::new("rules.toml"), &base).expect("valid");
    let spec = rules[0].content.as_ref().expect("content");
    assert!(spec.keywords.iter().any(|k| k == "idiot"));
    assert!(spec.keywords.iter().all(|k| !k.starts_with('#')));
    assert_eq!(
        base_of(Path::new("/etc/parley/rules.toml")),
        Path::new("/etc/parley")
    );
}
