//! The rule file as written (TOML): one `[[rule]]` table per rule, with the
//! fields every rule has and the parameters of its `kind`.

use std::time::Duration;

use serde::Deserialize;

use super::policy::{OnAlertDef, RuleAction};

/// Alert v1 categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Insults, profanity, hate.
    Toxicity,
    /// Copy-paste advertising across users and rooms.
    Spam,
    /// One user posting too fast.
    Flood,
    /// A burst of new users with the same text.
    Raid,
    /// One user repeating the same line.
    Repetition,
    /// Links to domains not on the allow-list.
    Links,
    /// Shouting in capitals.
    Caps,
    /// Anything else (rate spikes, over-long messages).
    Other,
}

impl Category {
    /// The Alert v1 string.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Toxicity => "toxicity",
            Category::Spam => "spam",
            Category::Flood => "flood",
            Category::Raid => "raid",
            Category::Repetition => "repetition",
            Category::Links => "links",
            Category::Caps => "caps",
            Category::Other => "other",
        }
    }
}

/// Alert v1 severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Info,
    /// Act soon.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// The Alert v1 string.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What one incident is about: the key its evidence folds under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One user (in one game).
    User,
    /// One room.
    Room,
    /// One game.
    Game,
    /// The whole process.
    Global,
}

/// Users, rooms and roles a rule ignores.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemptions {
    /// User ids.
    #[serde(default)]
    pub users: Vec<String>,
    /// Room ids.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Roles (from the message's `meta.role`, e.g. `moderator`), and the
    /// pseudo-role `system` for `kind: system` messages.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rules, in order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleDef>,
}

/// One rule as written.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleDef {
    /// Unique name (the alert's `rule`).
    pub name: String,
    /// Alert category.
    pub category: Category,
    /// Alert severity.
    pub severity: Severity,
    /// Off rules are validated but not evaluated.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Incident key (default depends on the kind).
    pub scope: Option<Scope>,
    /// An incident quiet this long is resolved; a new one may then alert.
    #[serde(default, with = "humantime_serde")]
    pub cooldown: Option<Duration>,
    /// Who the rule ignores.
    #[serde(default)]
    pub exempt: Exemptions,
    /// `alert` (the default), or `block`: a content rule that also stops a
    /// matching message before it is published.
    #[serde(default)]
    pub action: RuleAction,
    /// What to do to the author or the evidence once the rule alerts.
    #[serde(default)]
    pub on_alert: Option<OnAlertDef>,
    /// Kind and parameters.
    #[serde(flatten)]
    pub kind: KindDef,
}

fn yes() -> bool {
    true
}

impl RuleDef {
    /// The incident key: `scope` as written, else the kind's default.
    pub fn scope(&self) -> Scope {
        self.scope.unwrap_or_else(|| self.kind.default_scope())
    }
}

/// Rule kinds and their parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KindDef {
    /// Keywords and regexes on normalized text.
    Content {
        /// Words (matched whole, and through spacing/leet evasion).
        #[serde(default)]
        keywords: Vec<String>,
        /// Files of words, one per line, relative to the rule file.
        #[serde(default)]
        keyword_files: Vec<String>,
        /// Rust regexes on the normalized text.
        #[serde(default)]
        patterns: Vec<String>,
        /// Words that must not be taken for a keyword (Scunthorpe).
        #[serde(default)]
        allow: Vec<String>,
        /// Files of allowed words.
        #[serde(default)]
        allow_files: Vec<String>,
    },
    /// One user posting `threshold` messages within `window`.
    Flood {
        /// Messages.
        threshold: u32,
        /// Window.
        #[serde(with = "humantime_serde")]
        window: Duration,
    },
    /// One user posting the same normalized text `threshold` times within `window`.
    Repetition {
        /// Repeats.
        threshold: u32,
        /// Window.
        #[serde(with = "humantime_serde")]
        window: Duration,
        /// Shorter texts are ignored ("gg").
        #[serde(default = "default_min_chars")]
        min_chars: usize,
    },
    /// The same text from several users across rooms (copy-paste spam).
    CrossRoom {
        /// Distinct users.
        min_users: u32,
        /// Distinct rooms.
        min_rooms: u32,
        /// Window.
        #[serde(with = "humantime_serde")]
        window: Duration,
        /// Shorter texts are ignored.
        #[serde(default = "default_min_chars")]
        min_chars: usize,
        /// Only texts that advertise count (ordinary chat repeats too:
        /// "gg wp" across rooms is not spam): a link to a domain not in
        /// `allow_domains`, or at least `min_signals` of these words.
        #[serde(default)]
        signals: Vec<String>,
        /// Signal words needed without a link.
        #[serde(default = "two")]
        min_signals: usize,
        /// Domains whose links do not count as advertising.
        #[serde(default)]
        allow_domains: Vec<String>,
    },
    /// Messages mostly in capitals.
    Caps {
        /// Uppercase share of letters.
        ratio: f64,
        /// Shorter messages are ignored.
        min_letters: usize,
        /// Shouted messages by one user within `window`.
        #[serde(default = "one")]
        threshold: u32,
        /// Window.
        #[serde(default = "default_window", with = "humantime_serde")]
        window: Duration,
    },
    /// Links to domains not on the allow-list.
    Links {
        /// Domains (and their subdomains) that are fine.
        #[serde(default)]
        allow_domains: Vec<String>,
        /// Messages with a foreign link by one user within `window`.
        #[serde(default = "one")]
        threshold: u32,
        /// Window.
        #[serde(default = "default_window", with = "humantime_serde")]
        window: Duration,
    },
    /// Messages longer than `max_chars`.
    Length {
        /// Characters.
        max_chars: usize,
    },
    /// A room suddenly much busier than usual (EWMA mean and variance of
    /// messages per 10 s).
    RateSpike {
        /// Standard deviations above the mean.
        sigmas: f64,
        /// Messages per 10 s below which nothing fires.
        min_messages: u32,
        /// EWMA weight of the newest bucket.
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
    /// Many first-seen users joining a room and posting the same text.
    Raid {
        /// First-seen users who joined within `window`.
        min_new_users: u32,
        /// Of them, posting the same normalized text.
        min_same_text: u32,
        /// Window.
        #[serde(with = "humantime_serde")]
        window: Duration,
    },
}

impl KindDef {
    /// The scope of a rule of this kind that names none: the room for
    /// rate spikes and raids, the game for cross-room copies, else the user.
    pub fn default_scope(&self) -> Scope {
        match self {
            KindDef::RateSpike { .. } | KindDef::Raid { .. } => Scope::Room,
            KindDef::CrossRoom { .. } => Scope::Game,
            _ => Scope::User,
        }
    }

    /// The kind's name as written in the file (`kind = "…"`).
    pub fn name(&self) -> &'static str {
        match self {
            KindDef::Content { .. } => "content",
            KindDef::Flood { .. } => "flood",
            KindDef::Repetition { .. } => "repetition",
            KindDef::CrossRoom { .. } => "cross_room",
            KindDef::Caps { .. } => "caps",
            KindDef::Links { .. } => "links",
            KindDef::Length { .. } => "length",
            KindDef::RateSpike { .. } => "rate_spike",
            KindDef::Raid { .. } => "raid",
        }
    }
}

fn default_min_chars() -> usize {
    4
}

fn one() -> u32 {
    1
}

fn two() -> usize {
    2
}

fn default_window() -> Duration {
    Duration::from_secs(60)
}

fn default_alpha() -> f64 {
    0.1
}
