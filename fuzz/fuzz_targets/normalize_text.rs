//! Arbitrary text through the anomaly-detector's normalization and the
//! default rules' content matcher (keywords, evasions, allow-lists, patterns).
//!
//! Checks what the code claims: no panic; normalizing is idempotent on
//! `folded` and `squeezed`; NFKD grows text at most 18-fold; `squeezed` is
//! no longer than `folded`; reused buffers give the same result; the ASCII
//! fast path agrees with the general one; `matches` reports each rule once,
//! ascending, and the same rules as `matched_terms`; the default rules'
//! `Blocklist` refuses the text with the first block rule the matcher found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_moderation::blocklist::{Author, CheckScratch};
use parley_moderation::text::normalize::{normalize, normalize_into, Normalized};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let n = normalize(&text);

    let again = normalize(&n.folded);
    assert_eq!(again.folded, n.folded, "folded is not idempotent");
    assert_eq!(again.squeezed, n.squeezed, "squeezed is not idempotent");
    assert!(n.folded.chars().count() <= 18 * text.chars().count());
    assert!(n.squeezed.len() <= n.folded.len());
    assert!(n.letters <= text.chars().count());
    assert!(n.upper <= n.letters, "more capitals than letters");

    // Buffers left by another message must not leak into this one.
    let mut reused = normalize("SOME Earlier  messaaaage, 1337 ʜᴇʟʟᴏ");
    normalize_into(&text, &mut reused);
    assert_eq!(reused, n, "normalize_into with used buffers differs");

    if text.is_ascii() {
        // A zero-width space is dropped, but sends the text down the general path.
        let general: Normalized = normalize(&format!("\u{200B}{text}"));
        assert_eq!(general, n, "ASCII fast path and general path disagree");
    }

    let content = &parley_fuzz::default_rules().content;
    let mut rules = Vec::new();
    content.matches(&n, &mut rules);
    assert!(
        rules.windows(2).all(|w| w[0] < w[1]),
        "not ascending once: {rules:?}"
    );
    let mut from_terms: Vec<usize> = content
        .matched_terms(&n)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    from_terms.dedup();
    assert_eq!(rules, from_terms, "matches and matched_terms disagree");

    let rule_set = parley_fuzz::default_rules();
    let blocklist = parley_fuzz::default_blocklist();
    let expected = rules
        .iter()
        .filter_map(|&spec| rule_set.content_rules.get(spec))
        .map(|&index| rule_set.rules[index].name.as_str())
        .find(|name| blocklist.rule_names().any(|b| b == *name));
    let author = Author {
        user: "fuzz-user",
        room: "fuzz-room",
        role: None,
    };
    let blocked = blocklist.check(&text, author, &mut CheckScratch::default());
    assert_eq!(
        blocked.map(|b| b.rule),
        expected,
        "the blocklist and the detector's matcher disagree"
    );
});
