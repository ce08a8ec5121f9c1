//! Rules: the file format ([`file`]), validated and compiled into a
//! [`RuleSet`] the detector evaluates. Every mistake is reported with the
//! rule's name, so a bad file never starts (and a bad reload is refused
//! while the old rules stay active).

pub mod file;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use file::{Category, Scope, Severity};
use file::{KindDef, RuleDef, RuleFile};

pub use crate::detectors::state::MAX_WINDOW;
use crate::detectors::{
    CapsRule, ContentRule, CrossRoomRule, FloodRule, LengthRule, LinksRule, RaidRule,
    RateSpikeRule, RepetitionRule, Signals,
};
use crate::text::content::{ContentMatcher, ContentSpec};

/// Why a rule file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or misses a field.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A rule is wrong.
    #[error("rule {rule:?}: {message}")]
    Invalid {
        /// Its name.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

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
    /// What it looks for.
    pub kind: Kind,
}

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
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Compiles rule-file text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<RuleSet, RulesError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| RulesError::Syntax {
            path: path.to_owned(),
            message: e.to_string().replace('\n', " "),
        })?;
        let mut names = HashSet::new();
        let mut rules = Vec::new();
        let mut specs = Vec::new();
        let mut content_rules = Vec::new();
        let defined = file.rules.len();
        for def in file.rules {
            let invalid = |message: String| RulesError::Invalid {
                rule: def.name.clone(),
                message,
            };
            if def.name.trim().is_empty() {
                return Err(invalid("name must not be empty".into()));
            }
            if !names.insert(def.name.clone()) {
                return Err(invalid("name used twice".into()));
            }
            let (mut kind, spec) = compile_kind(&def, base).map_err(invalid)?;
            if !def.enabled {
                continue;
            }
            if let Some(spec) = spec {
                kind = Kind::Content(ContentRule { spec: specs.len() });
                content_rules.push(rules.len());
                specs.push(spec);
            }
            rules.push(Rule {
                scope: def.scope.unwrap_or_else(|| default_scope(&kind)),
                cooldown: def.cooldown.unwrap_or(DEFAULT_COOLDOWN),
                exempt: Exempt {
                    users: def.exempt.users.iter().cloned().collect(),
                    rooms: def.exempt.rooms.iter().cloned().collect(),
                    roles: def.exempt.roles.iter().cloned().collect(),
                },
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

fn default_scope(kind: &Kind) -> Scope {
    match kind {
        Kind::RateSpike(_) | Kind::Raid(_) => Scope::Room,
        Kind::CrossRoom(_) => Scope::Game,
        _ => Scope::User,
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

/// Reads word files (one word per line, `#` comments).
fn read_words(base: &Path, files: &[String]) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    for name in files {
        let path = base.join(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        words.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    Ok(words)
}

fn domains_lowercase(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| d.trim().trim_start_matches("www.").to_lowercase())
        .collect()
}

fn compile_kind(def: &RuleDef, base: &Path) -> Result<(Kind, Option<ContentSpec>), String> {
    if let Some(cooldown) = def.cooldown {
        if cooldown < Duration::from_secs(1) || cooldown > Duration::from_secs(86_400) {
            return Err("cooldown must be between 1s and 24h".into());
        }
    }
    Ok(match &def.kind {
        KindDef::Content {
            keywords,
            keyword_files,
            patterns,
            allow,
            allow_files,
        } => {
            let mut words = keywords.clone();
            words.extend(read_words(base, keyword_files)?);
            let mut allowed = allow.clone();
            allowed.extend(read_words(base, allow_files)?);
            if words.is_empty() && patterns.is_empty() {
                return Err("a content rule needs keywords or patterns".into());
            }
            let spec = ContentSpec {
                name: def.name.clone(),
                keywords: words,
                patterns: patterns.clone(),
                allow: allowed,
            };
            (Kind::Content(ContentRule { spec: 0 }), Some(spec))
        }
        KindDef::Flood { threshold, window } => (
            Kind::Flood(FloodRule {
                threshold: positive(*threshold, "threshold")?,
                window: millis(*window, "window")?,
            }),
            None,
        ),
        KindDef::Repetition {
            threshold,
            window,
            min_chars,
        } => (
            Kind::Repetition(RepetitionRule {
                threshold: positive(*threshold, "threshold")?.max(2),
                window: millis(*window, "window")?,
                min_chars: *min_chars,
            }),
            None,
        ),
        KindDef::CrossRoom {
            min_users,
            min_rooms,
            window,
            min_chars,
            signals,
            min_signals,
            allow_domains,
        } => (
            Kind::CrossRoom(CrossRoomRule {
                min_signals: (*min_signals).max(1),
                allow_domains: domains_lowercase(allow_domains),
                min_users: positive(*min_users, "min_users")?,
                min_rooms: positive(*min_rooms, "min_rooms")?,
                window: millis(*window, "window")?,
                min_chars: *min_chars,
                signals: Signals::new(signals)?,
            }),
            None,
        ),
        KindDef::Caps {
            ratio,
            min_letters,
            threshold,
            window,
        } => {
            if !(0.5..=1.0).contains(ratio) {
                return Err("ratio must be between 0.5 and 1.0".into());
            }
            (
                Kind::Caps(CapsRule {
                    ratio: *ratio,
                    min_letters: (*min_letters).max(1),
                    threshold: positive(*threshold, "threshold")?,
                    window: millis(*window, "window")?,
                }),
                None,
            )
        }
        KindDef::Links {
            allow_domains,
            threshold,
            window,
        } => (
            Kind::Links(LinksRule {
                allow_domains: domains_lowercase(allow_domains),
                threshold: positive(*threshold, "threshold")?,
                window: millis(*window, "window")?,
            }),
            None,
        ),
        KindDef::Length { max_chars } => {
            if *max_chars == 0 {
                return Err("max_chars must be at least 1".into());
            }
            (
                Kind::Length(LengthRule {
                    max_chars: *max_chars,
                }),
                None,
            )
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
            (
                Kind::RateSpike(RateSpikeRule {
                    sigmas: *sigmas,
                    min_messages: positive(*min_messages, "min_messages")?,
                    alpha: *alpha,
                }),
                None,
            )
        }
        KindDef::Raid {
            min_new_users,
            min_same_text,
            window,
        } => (
            Kind::Raid(RaidRule {
                min_new_users: positive(*min_new_users, "min_new_users")?,
                min_same_text: positive(*min_same_text, "min_same_text")?,
                window: millis(*window, "window")?,
            }),
            None,
        ),
    })
}

#[cfg(test)]
mod tests;
