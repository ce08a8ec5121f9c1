//! Finding link domains in chat text: `https://…`, `www.…` and bare
//! `name.tld` with a known top-level domain (so "gg.wp" or "lol...ok" are
//! not links).

use std::sync::LazyLock;

use regex::Regex;

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
}
