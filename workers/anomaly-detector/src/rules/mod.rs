//! Rules: the file format and the checks every worker shares come from
//! `parley_moderation::rules` (names, cooldowns, `action`, `on_alert`,
//! exemptions, content rules compiled into `ContentSpec`s); here the
//! checked rules are compiled into a [`RuleSet`] the detector evaluates,
//! with the parameters of each behavioural kind validated. Every mistake
//! is reported with the rule's name, so a bad file never starts (and a bad
//! reload is refused while the old rules stay active).

use std::path::Path;
use std::time::Duration;

use parley_moderation::rules::{self as shared_rules, CheckedRule, KindDef, RuleDef};
use parley_moderation::text::content::ContentMatcher;

pub use parley_moderation::rules::{AutoAction, Category, Exempt, RulesError, Scope, Severity};

pub use crate::detectors::state::MAX_WINDOW;
use crate::detectors::{
    CapsRule, ContentRule, CrossRoomRule, FloodRule, LengthRule, LinksRule, RaidRule,
    RateSpikeRule, RepetitionRule, Signals,
};

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name (the alert's `rule`).
    pub name: String,
    /// Alert category.
    pub category: Category,
    /// Alert severity.
    pub severity: Severity,
    /// Incident key.
    pub scope: Scope,
    /// Quiet time that ends an incident.
    pub cooldown: Duration,
    /// Who the rule ignores.
    pub exempt: Exempt,
    /// What follows each alert (`on_alert`): parsed and validated, not
    /// carried out yet.
    pub on_alert: Option<AutoAction>,
    /// What it looks for.
    pub kind: Kind,
}

/// Compiled rule kinds (windows in milliseconds): each a detector type
/// of its own ([`crate::detectors`]).
#[derive(Debug, Clone)]
pub enum Kind {
    /// See [`KindDef::Content`].
    Content(ContentRule),
    /// See [`KindDef::Flood`].
    Flood(FloodRule),
    /// See [`KindDef::Repetition`].
    Repetition(RepetitionRule),
    /// See [`KindDef::CrossRoom`].
    CrossRoom(CrossRoomRule),
    /// See [`KindDef::Caps`].
    Caps(CapsRule),
    /// See [`KindDef::Links`].
    Links(LinksRule),
    /// See [`KindDef::Length`].
    Length(LengthRule),
    /// See [`KindDef::RateSpike`].
    RateSpike(RateSpikeRule),
    /// See [`KindDef::Raid`].
    Raid(RaidRule),
}

/// The enabled rules and their content matcher.
#[derive(Debug)]
pub struct RuleSet {
    /// Enabled rules.
    pub rules: Vec<Rule>,
    /// Every content rule's keywords and patterns.
    pub content: ContentMatcher,
    /// Matcher spec index → rule index.
    pub content_rules: Vec<usize>,
    /// Indices of the rules that are not content rules.
    pub other_rules: Vec<usize>,
    /// Longest window of the rules that read a user's recent messages
    /// (ms): how long those messages are kept.
    pub user_window: i64,
    /// Rules in the file, enabled or not.
    pub defined: usize,
}

/// Default quiet time that resolves an incident.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);

impl RuleSet {
    /// Reads and compiles a rule file; keyword files are relative to it.
    pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
        Self::compile(shared_rules::load(path)?)
    }

    /// Compiles rule-file text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<RuleSet, RulesError> {
        Self::compile(shared_rules::parse(text, path, base)?)
    }

    /// Compiles rules that passed the shared checks.
    pub fn compile(checked: Vec<CheckedRule>) -> Result<RuleSet, RulesError> {
        let mut rules = Vec::new();
        let mut specs = Vec::new();
        let mut content_rules = Vec::new();
        let defined = checked.len();
        for rule in checked {
            let def = rule.def;
            let mut kind = compile_kind(&def).map_err(|message| RulesError::Invalid {
                rule: def.name.clone(),
                message,
            })?;
            if !def.enabled {
                continue;
            }
            if let Some(spec) = rule.content {
                kind = Kind::Content(ContentRule { spec: specs.len() });
                content_rules.push(rules.len());
                specs.push(spec);
            }
            rules.push(Rule {
                scope: rule.scope,
                cooldown: def.cooldown.unwrap_or(DEFAULT_COOLDOWN),
                exempt: rule.exempt,
                on_alert: rule.on_alert,
                name: def.name,
                category: def.category,
                severity: def.severity,
                kind,
            });
        }
        let content = ContentMatcher::new(&specs).map_err(|e| RulesError::Invalid {
            rule: "content".into(),
            message: e.to_string(),
        })?;
        let other_rules = (0..rules.len())
            .filter(|i| !matches!(rules[*i].kind, Kind::Content(_)))
            .collect();
        let user_window = rules
            .iter()
            .filter_map(|r| r.kind.user_window())
            .max()
            .unwrap_or(0);
        Ok(RuleSet {
            rules,
            content,
            content_rules,
            other_rules,
            user_window,
            defined,
        })
    }
}

impl Kind {
    /// The window over a user's recent messages, for the kinds that read them.
    pub fn user_window(&self) -> Option<i64> {
        match self {
            Kind::Flood(FloodRule { window, .. })
            | Kind::Repetition(RepetitionRule { window, .. })
            | Kind::Caps(CapsRule { window, .. })
            | Kind::Links(LinksRule { window, .. }) => Some(*window),
            _ => None,
        }
    }
}

fn millis(window: Duration, what: &str) -> Result<i64, String> {
    if window.is_zero() || window > MAX_WINDOW {
        return Err(format!("{what} must be between 1ms and 1h"));
    }
    Ok(window.as_millis() as i64)
}

fn positive(value: u32, what: &str) -> Result<u32, String> {
    if value == 0 {
        return Err(format!("{what} must be at least 1"));
    }
    Ok(value)
}

fn domains_lowercase(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| d.trim().trim_start_matches("www.").to_lowercase())
        .collect()
}

/// The kind's parameters, validated; a content rule's spec is compiled
/// by the shared checks, so here it is only a placeholder.
fn compile_kind(def: &RuleDef) -> Result<Kind, String> {
    Ok(match &def.kind {
        KindDef::Content { .. } => Kind::Content(ContentRule { spec: 0 }),
        KindDef::Flood { threshold, window } => Kind::Flood(FloodRule {
            threshold: positive(*threshold, "threshold")?,
            window: millis(*window, "window")?,
        }),
        KindDef::Repetition {
            threshold,
            window,
            min_chars,
        } => Kind::Repetition(RepetitionRule {
            threshold: positive(*threshold, "threshold")?.max(2),
            window: millis(*window, "window")?,
            min_chars: *min_chars,
        }),
        KindDef::CrossRoom {
            min_users,
            min_rooms,
            window,
            min_chars,
            signals,
            min_signals,
            allow_domains,
        } => Kind::CrossRoom(CrossRoomRule {
            min_signals: (*min_signals).max(1),
            allow_domains: domains_lowercase(allow_domains),
            min_users: positive(*min_users, "min_users")?,
            min_rooms: positive(*min_rooms, "min_rooms")?,
            window: millis(*window, "window")?,
            min_chars: *min_chars,
            signals: Signals::new(signals)?,
        }),
        KindDef::Caps {
            ratio,
            min_letters,
            threshold,
            window,
        } => {
            if !(0.5..=1.0).contains(ratio) {
                return Err("ratio must be between 0.5 and 1.0".into());
            }
            Kind::Caps(CapsRule {
                ratio: *ratio,
                min_letters: (*min_letters).max(1),
                threshold: positive(*threshold, "threshold")?,
                window: millis(*window, "window")?,
            })
        }
        KindDef::Links {
            allow_domains,
            threshold,
            window,
        } => Kind::Links(LinksRule {
            allow_domains: domains_lowercase(allow_domains),
            threshold: positive(*threshold, "threshold")?,
            window: millis(*window, "window")?,
        }),
        KindDef::Length { max_chars } => {
            if *max_chars == 0 {
                return Err("max_chars must be at least 1".into());
            }
            Kind::Length(LengthRule {
                max_chars: *max_chars,
            })
        }
        KindDef::RateSpike {
            sigmas,
            min_messages,
            alpha,
        } => {
            let valid = sigmas.is_finite() && *sigmas > 0.0 && 0.0 < *alpha && *alpha < 1.0;
            if !valid {
                return Err("sigmas must be above 0 and alpha between 0 and 1".into());
            }
            Kind::RateSpike(RateSpikeRule {
                sigmas: *sigmas,
                min_messages: positive(*min_messages, "min_messages")?,
                alpha: *alpha,
            })
        }
        KindDef::Raid {
            min_new_users,
            min_same_text,
            window,
        } => Kind::Raid(RaidRule {
            min_new_users: positive(*min_new_users, "min_new_users")?,
            min_same_text: positive(*min_same_text, "min_same_text")?,
            window: millis(*window, "window")?,
        }),
    })
}

#[cfg(test)]
mod tests;
