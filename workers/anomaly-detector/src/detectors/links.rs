//! `links`: a user posting links outside `allow_domains` `threshold` times
//! within `window`; and finding link domains in chat text: `https://…`,
//! `www.…` and bare `name.tld` with a known top-level domain (so "gg.wp" or
//! "lol...ok" are not links).

use std::sync::LazyLock;

use regex::Regex;

use super::state::Recent;
use super::{Detector, Hit, Observation, Scoped};

/// Links to domains outside the allow list, again and again.
#[derive(Debug, Clone)]
pub struct LinksRule {
    /// Allowed domains (lowercase).
    pub allow_domains: Vec<String>,
    /// Messages.
    pub threshold: u32,
    /// Window (ms).
    pub window: i64,
}

impl Detector for LinksRule {
    fn observe(&self, rule: usize, seen: &Observation<'_>, state: &mut Scoped<'_>) -> Option<Hit> {
        if !seen.is_chat {
            return None;
        }
        let foreign: Vec<&String> = seen
            .domains
            .iter()
            .filter(|d| !allowed(d, &self.allow_domains))
            .collect();
        if foreign.is_empty() {
            return None;
        }
        state.user.mark_foreign_link(seen.id);
        let linked = |r: &Recent| r.foreign_link;
        let found = state
            .user
            .matching(seen.at - self.window, self.threshold, linked)?;
        let message = seen.message;
        Some(Hit::counted(rule, self.threshold, found, |_| {
            format!(
                "{} posted links to {} in {}",
                message.user_id, foreign[0], message.room_id
            )
        }))
    }
}

/// Top-level domains taken as links without a scheme.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "gg", "ru", "xyz", "shop", "top", "click", "info", "ly", "co", "me",
    "tv", "app", "dev", "uk", "de", "fr", "es", "it", "nl", "pl", "br", "cn", "jp", "kr", "biz",
    "site", "online", "store", "live", "link", "win", "vip", "pro", "cc", "su", "to", "ws", "be",
    "eu", "us", "ca", "au", "in", "tk", "ml", "ga", "cf", "gq", "pw", "icu", "fun", "buzz",
];

static URL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:\b(?:https?://)([a-z0-9][a-z0-9.-]*[a-z0-9])|\bwww\.([a-z0-9][a-z0-9.-]*[a-z0-9])|\b((?:[a-z0-9][a-z0-9-]*\.)+([a-z]{2,12}))(?:/[^\s]*)?)",
    )
    .ok()
});

/// The domains linked in `text`, lowercase, without `www.`.
pub fn domains(text: &str) -> Vec<String> {
    let Some(url) = URL.as_ref() else {
        return Vec::new();
    };
    if !text.contains('.') {
        return Vec::new();
    }
    let mut out = Vec::new();
    for caps in url.captures_iter(text) {
        let domain = if let Some(d) = caps.get(1).or_else(|| caps.get(2)) {
            d.as_str()
        } else if let (Some(d), Some(tld)) = (caps.get(3), caps.get(4)) {
            if !TLDS.contains(&tld.as_str().to_lowercase().as_str()) {
                continue;
            }
            d.as_str()
        } else {
            continue;
        };
        out.push(domain.to_lowercase().trim_start_matches("www.").to_owned());
    }
    out
}

/// Whether `domain` is `allowed` or one of its subdomains.
pub fn allowed(domain: &str, allow: &[String]) -> bool {
    allow.iter().any(|a| {
        domain == a
            || (domain.len() > a.len()
                && domain.ends_with(a.as_str())
                && domain.as_bytes()[domain.len() - a.len() - 1] == b'.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::testing::{message, Run, T0};

    #[test]
    fn finds_links_with_and_without_scheme() {
        assert_eq!(
            domains("see https://Cheap-Gold.shop/p/1 now"),
            ["cheap-gold.shop"]
        );
        assert_eq!(
            domains("free stuff here www.skinz4free.ru"),
            ["skinz4free.ru"]
        );
        assert_eq!(
            domains("go to gem-generator.top and enter code"),
            ["gem-generator.top"]
        );
        assert_eq!(domains("bit.ly/3xFr33"), ["bit.ly"]);
        assert!(domains("gg.wp all, lol...ok, 3.5 kd, e.g. this").is_empty());
        assert!(domains("nice shot").is_empty());
    }

    #[test]
    fn subdomains_of_allowed_domains_are_allowed() {
        let allow = vec!["youtube.com".to_owned(), "twitch.tv".to_owned()];
        assert!(allowed("youtube.com", &allow));
        assert!(allowed("m.youtube.com", &allow));
        assert!(!allowed("notyoutube.com", &allow));
        assert!(!allowed("cheap-gold.shop", &allow));
    }

    #[test]
    fn links_outside_the_allow_list() {
        let mut run = Run::new(
            r#"[[rule]]
    name = "links"
    kind = "links"
    category = "links"
    severity = "warning"
    threshold = 2
    allow_domains = ["youtube.com"]"#,
        );
        assert!(run
            .send(&message(
                "u",
                "r",
                "watch https://www.youtube.com/watch?v=1",
                T0
            ))
            .is_empty());
        assert!(run
            .send(&message("u", "r", "https://m.youtube.com/x", T0 + 1))
            .is_empty());
        assert!(run
            .send(&message("u", "r", "free stuff www.skinz4free.ru", T0 + 2))
            .is_empty());
        assert_eq!(
            run.send(&message("u", "r", "go to cheap-gold.shop now", T0 + 3)),
            ["links"]
        );
    }
}
