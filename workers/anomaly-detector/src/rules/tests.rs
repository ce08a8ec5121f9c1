use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<RuleSet, RulesError> {
    RuleSet::parse(text, Path::new("rules.toml"), Path::new("."))
}

#[test]
fn the_shipped_rules_load() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/anomaly-detector/rules.toml");
    let rules = RuleSet::load(&path).expect("default rules");
    assert!(rules.rules.len() >= 8);
    assert!(rules.rules.iter().any(|r| r.category == Category::Toxicity));
}

#[test]
fn mistakes_name_the_rule() {
    let cases = [
        ("[[rule]]\nname = \"a\"\nkind = \"flood\"\ncategory = \"flood\"\nseverity = \"warning\"\nthreshold = 0\nwindow = \"10s\"", "threshold"),
        ("[[rule]]\nname = \"b\"\nkind = \"flood\"\ncategory = \"flood\"\nseverity = \"warning\"\nthreshold = 3\nwindow = \"2h\"", "window"),
        ("[[rule]]\nname = \"c\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"warning\"", "keywords or patterns"),
        ("[[rule]]\nname = \"d\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"warning\"\nkeyword_files = [\"missing.txt\"]", "missing.txt"),
        ("[[rule]]\nname = \"e\"\nkind = \"caps\"\ncategory = \"caps\"\nseverity = \"info\"\nratio = 0.2\nmin_letters = 5", "ratio"),
    ];
    for (text, needle) in cases {
        let err = parse(text).expect_err(needle).to_string();
        assert!(err.contains(needle) && err.contains("rule"), "{err}");
    }
    let twice = "[[rule]]\nname = \"x\"\nkind = \"length\"\ncategory = \"other\"\nseverity = \"info\"\nmax_chars = 9\n\n[[rule]]\nname = \"x\"\nkind = \"length\"\ncategory = \"other\"\nseverity = \"info\"\nmax_chars = 9";
    assert!(parse(twice).expect_err("dup").to_string().contains("twice"));
    let unknown =
        "[[rule]]\nname = \"x\"\nkind = \"telepathy\"\ncategory = \"other\"\nseverity = \"info\"";
    assert!(parse(unknown).is_err());
    let bad_regex = "[[rule]]\nname = \"r\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"info\"\npatterns = [\"(unclosed\"]";
    assert!(parse(bad_regex)
        .expect_err("regex")
        .to_string()
        .contains('r'));
}

#[test]
fn disabled_rules_are_validated_but_not_run() {
    let text = "[[rule]]\nname = \"off\"\nenabled = false\nkind = \"length\"\ncategory = \"other\"\nseverity = \"info\"\nmax_chars = 9";
    let rules = parse(text).expect("valid");
    assert_eq!((rules.defined, rules.rules.len()), (1, 0));
}

#[test]
fn user_messages_are_kept_for_the_longest_user_rule_window() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/anomaly-detector/rules.toml");
    let rules = RuleSet::load(&path).expect("default rules");
    // Links: 2 in 5 min is the longest of flood, repetition, caps and links.
    assert_eq!(rules.user_window, 300_000);
    let room_only = "[[rule]]\nname = \"long\"\nkind = \"length\"\ncategory = \"other\"\nseverity = \"info\"\nmax_chars = 9";
    assert_eq!(parse(room_only).expect("valid").user_window, 0);
}
