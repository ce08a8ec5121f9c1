//! The rule file: its format ([`file`]), what a rule does besides alerting
//! ([`policy`]), who it ignores ([`Exempt`]), and the checks every worker
//! applies to it, so that one file is valid or invalid for all of them.
//!
//! [`load`] (or [`parse`]) reads a file and checks every rule, enabled or
//! not, in file order, naming the rule in the first mistake: a name that is
//! empty or used twice, a cooldown outside 1s–24h, `action = "block"` on a
//! rule that is not `kind = "content"`, an `on_alert` policy that cannot be
//! carried out, and a content rule's words, word files and patterns. A
//! content rule comes out compiled into its [`ContentSpec`]. Parameters of
//! the other kinds are the detector's to check.

mod exempt;
pub mod file;
pub mod policy;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use exempt::{role_of, Exempt};
pub use file::{Category, Exemptions, KindDef, RuleDef, RuleFile, Scope, Severity};
pub use policy::{AutoAction, AutoActionKind, OnAlertDef, RuleAction};

use crate::text::content::{ContentError, ContentSpec};

/// Why a rule file was refused (none of these can be retried without editing the file).
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

/// One rule that passed the shared checks, with the parts every worker
/// compiles the same way.
#[derive(Debug, Clone)]
pub struct CheckedRule {
    /// The rule as written.
    pub def: RuleDef,
    /// Its incident key (as written, else the kind's default).
    pub scope: Scope,
    /// Who it ignores, as sets.
    pub exempt: Exempt,
    /// What follows each of its alerts, if anything.
    pub on_alert: Option<AutoAction>,
    /// A content rule's keywords (word files read), patterns and allowed words.
    pub content: Option<ContentSpec>,
}

/// The folder a rule file's word lists are named relative to.
pub fn base_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// Reads and checks the rule file at `path`; word files are relative to it.
pub fn load(path: &Path) -> Result<Vec<CheckedRule>, RulesError> {
    RuleFile::load(path)?.check(base_of(path))
}

/// Parses and checks rule-file text (`path` names it in errors; word files
/// are relative to `base`).
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Vec<CheckedRule>, RulesError> {
    RuleFile::parse(text, path)?.check(base)
}

impl RuleFile {
    /// Reads and parses the file at `path` (TOML only; nothing checked yet).
    pub fn load(path: &Path) -> Result<RuleFile, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses rule-file text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<RuleFile, RulesError> {
        toml::from_str(text).map_err(|e| RulesError::Syntax {
            path: path.to_owned(),
            message: e.to_string().replace('\n', " "),
        })
    }

    /// Checks every rule (enabled or not) in order and compiles the shared
    /// parts; word files are read relative to `base`.
    pub fn check(self, base: &Path) -> Result<Vec<CheckedRule>, RulesError> {
        let mut names = HashSet::new();
        let mut checked = Vec::with_capacity(self.rules.len());
        for def in self.rules {
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
            let (scope, on_alert, content) = check_rule(&def, base).map_err(invalid)?;
            checked.push(CheckedRule {
                scope,
                exempt: Exempt::from(&def.exempt),
                on_alert,
                content,
                def,
            });
        }
        Ok(checked)
    }
}

/// The longest cooldown a rule may have.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(86_400);

type Shared = (Scope, Option<AutoAction>, Option<ContentSpec>);

/// The shared checks of one rule.
fn check_rule(def: &RuleDef, base: &Path) -> Result<Shared, String> {
    if let Some(cooldown) = def.cooldown {
        if cooldown < Duration::from_secs(1) || cooldown > MAX_COOLDOWN {
            return Err("cooldown must be between 1s and 24h".into());
        }
    }
    let content = content_spec(def, base)?;
    if def.action == RuleAction::Block && content.is_none() {
        return Err(format!(
            "action = \"block\" is only for kind = \"content\" rules (this one is kind = {:?}); a {} rule can only alert",
            def.kind.name(),
            def.kind.name()
        ));
    }
    let scope = def.scope();
    let on_alert = def
        .on_alert
        .as_ref()
        .map(|policy| policy.compile(scope == Scope::User))
        .transpose()?;
    Ok((scope, on_alert, content))
}

/// A content rule compiled into what the matcher takes (keywords and
/// allowed words with their word files read, patterns), validated; `None`
/// for the other kinds.
pub fn content_spec(def: &RuleDef, base: &Path) -> Result<Option<ContentSpec>, String> {
    let KindDef::Content {
        keywords,
        keyword_files,
        patterns,
        allow,
        allow_files,
    } = &def.kind
    else {
        return Ok(None);
    };
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
    spec.validate().map_err(|e| match e {
        // The rule is named by `RulesError::Invalid` already.
        ContentError::InvalidPattern {
            pattern, message, ..
        } => format!("invalid pattern {pattern:?}: {message}"),
        ContentError::EmptyWord { what, word, .. } => {
            format!("{what} {word:?} is empty once normalized")
        }
        ContentError::TooLarge(message) => format!("too large to compile: {message}"),
    })?;
    Ok(Some(spec))
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

#[cfg(test)]
mod tests;
