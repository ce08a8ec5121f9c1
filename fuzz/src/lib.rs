//! Helpers shared by the fuzz targets in `fuzz_targets/`.

pub mod script;

use std::path::Path;
use std::sync::OnceLock;

use anomaly_detector::rules::RuleSet;
use parley_moderation::Blocklist;

/// The default rule file, as deployed.
pub const DEFAULT_RULES: &str = include_str!("../../deploy/anomaly-detector/rules.toml");

/// The folder `DEFAULT_RULES` names its word lists relative to.
const RULES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/anomaly-detector");

/// The default rules with their word lists, compiled once per process.
pub fn default_rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        let path = Path::new(RULES_DIR).join("rules.toml");
        match RuleSet::parse(DEFAULT_RULES, &path, Path::new(RULES_DIR)) {
            Ok(rules) => rules,
            // A harness set-up error, not a finding: stop loudly.
            Err(e) => panic!("the default rules do not load: {e}"),
        }
    })
}

/// The default rules' block rules, compiled once per process.
pub fn default_blocklist() -> &'static Blocklist {
    static BLOCKLIST: OnceLock<Blocklist> = OnceLock::new();
    BLOCKLIST.get_or_init(|| {
        let path = Path::new(RULES_DIR).join("rules.toml");
        match Blocklist::parse(DEFAULT_RULES, &path, Path::new(RULES_DIR)) {
            Ok(blocklist) => blocklist,
            // A harness set-up error, not a finding: stop loudly.
            Err(e) => panic!("the default block rules do not load: {e}"),
        }
    })
}

/// Whether `text` is one JSON value (what every frame and header we build must be).
pub fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}
