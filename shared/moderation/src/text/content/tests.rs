use super::*;

fn spec(name: &str, keywords: &[&str], patterns: &[&str], allow: &[&str]) -> ContentSpec {
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    ContentSpec {
        name: name.into(),
        keywords: own(keywords),
        patterns: own(patterns),
        allow: own(allow),
    }
}

fn hits(matcher: &ContentMatcher, text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    matcher.matches(&normalize(text), &mut out);
    out
}

fn insults() -> ContentMatcher {
    let specs = [spec(
        "insults",
        &[
            "idiot",
            "ass",
            "cunt",
            "rape",
            "shit",
            "kill yourself",
            "nob",
            "butt",
        ],
        &[],
        &["noob", "scunthorpe"],
    )];
    ContentMatcher::new(&specs).expect("valid rules")
}

#[test]
fn evasions_still_hit() {
    let m = insults();
    for text in [
        "you idiot",
        "IDIOT",
        "you 1d10t",
        "i d i o t",
        "i.d.i.o.t",
        "i-d-i-o-t!",
        "iiidiot",
        "idiiiot",
        "іdіоt",
        "ΙDΙΟΤ",
        "ＩＤＩＯＴ",
        "id\u{200D}iot",
        "i\u{200B}d\u{200B}i\u{200B}o\u{200B}t",
        "ídíót",
        "sh it",
        "s h i t",
        "fu ck you, sh1t",
        "a$$",
        "aaaass",
        "kill yourself",
        "kill-yourself",
        "kill   yourself!!",
        "i d i o t s",
        "is s h i t",
        "s h i t to",
        "y o u i d i o t",
        "k i l l y o u r s e l f",
        "buuutt",
    ] {
        assert_eq!(hits(&m, text), vec![0], "{text:?}");
    }
}

#[test]
fn benign_game_chat_does_not_hit() {
    let m = insults();
    for text in [
        "nice shot",
        "pass the ball",
        "classic map",
        "Scunthorpe United",
        "s c u n t h o r p e",
        "assassin build",
        "grape soda",
        "the therapist",
        "push it",
        "he's hit",
        "that's hit reg",
        "but why",
        "as soon as",
        "a s",
        "kill your self",
        "bass drop",
        "noob",
        "nooooob team",
        "good game",
        "shell shock",
        "shitake mushrooms",
        "cocktail",
        "kill streak",
        "i killed your self-heal",
        "",
        "!!!",
    ] {
        assert_eq!(hits(&m, text), Vec::<usize>::new(), "{text:?}");
    }
}

#[test]
fn allow_lists_are_per_rule_and_cover_phrases() {
    let specs = [
        spec("kills", &["kill"], &[], &["kill streak"]),
        spec("kills-strict", &["kill"], &[], &[]),
    ];
    let m = ContentMatcher::new(&specs).expect("valid rules");
    assert_eq!(hits(&m, "nice kill streak"), vec![1]);
    assert_eq!(hits(&m, "i will kill you"), vec![0, 1]);
    assert_eq!(hits(&m, "kill streak, then kill you"), vec![0, 1]);
}

#[test]
fn several_rules_report_each_once_in_order() {
    let specs = [
        spec("a", &["idiot", "moron"], &[], &[]),
        spec("b", &["moron"], &[], &[]),
        spec("c", &["never"], &[], &[]),
    ];
    let m = ContentMatcher::new(&specs).expect("valid rules");
    let mut out = vec![7];
    m.matches(&normalize("moron idiot m o r o n"), &mut out);
    assert_eq!(out, vec![7, 0, 1]);
    assert_eq!(
        m.matched_terms(&normalize("you moron")),
        vec![(0, "moron".to_string()), (1, "moron".to_string())]
    );
}

#[test]
fn patterns_run_on_folded_text() {
    let specs = [
        spec("links", &[], &[r"discord\.gg/\w+", r"free\s+v-?bucks"], &[]),
        spec("phone", &[], &[r"\b\d{3}-\d{4}\b"], &[]),
    ];
    let m = ContentMatcher::new(&specs).expect("valid rules");
    assert_eq!(hits(&m, "join DISCORD.GG/abc"), vec![0]);
    assert_eq!(hits(&m, "FREE   V-BUCKS here"), vec![0]);
    assert_eq!(hits(&m, "call 555-1234"), vec![1]);
    assert_eq!(hits(&m, "gg wp"), Vec::<usize>::new());
    assert_eq!(
        m.matched_terms(&normalize("free vbucks")),
        vec![(0, r"free\s+v-?bucks".to_string())]
    );
}

#[test]
fn invalid_pattern_names_rule_and_pattern() {
    let specs = [
        spec("fine", &["x"], &["ok"], &[]),
        spec("broken", &[], &["(unclosed"], &[]),
    ];
    let err = ContentMatcher::new(&specs)
        .expect_err("must fail")
        .to_string();
    assert!(err.contains("\"broken\""), "{err}");
    assert!(err.contains("(unclosed"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn empty_keyword_is_an_error() {
    let err = ContentMatcher::new(&[spec("blank", &[" \u{200B} "], &[], &[])])
        .expect_err("must fail")
        .to_string();
    assert!(
        err.contains("\"blank\"") && err.contains("keyword"),
        "{err}"
    );
}

#[test]
fn no_rules_match_nothing() {
    let m = ContentMatcher::new(&[]).expect("empty is fine");
    assert!(m.is_empty());
    assert_eq!(hits(&m, "anything at all"), Vec::<usize>::new());
}

#[test]
fn keywords_are_normalized_too() {
    let m = ContentMatcher::new(&[spec("k", &["Sh1T", "ＢＡＤ"], &[], &[])]).expect("valid rules");
    assert_eq!(hits(&m, "shit"), vec![0]);
    assert_eq!(hits(&m, "bad"), vec![0]);
    let m = ContentMatcher::new(&[spec("one", &["x"], &[], &[])]).expect("valid rules");
    assert_eq!(hits(&m, "press X to win"), vec![0]);
    assert_eq!(hits(&m, "xbox"), Vec::<usize>::new());
}

/// The shipped word lists, as the default rule file uses them.
fn shipped() -> ContentMatcher {
    let words = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/anomaly-detector/wordlists/"
    );
    let read = |name: &str| std::fs::read_to_string(format!("{dir}{name}")).unwrap_or_default();
    let allow = words(&read("allow.txt"));
    let specs = [
        ContentSpec {
            name: "profanity".into(),
            keywords: words(&read("profanity.txt")),
            allow: allow.clone(),
            ..ContentSpec::default()
        },
        ContentSpec {
            name: "insults".into(),
            keywords: words(&read("insults.txt")),
            allow,
            ..ContentSpec::default()
        },
    ];
    assert!(
        specs.iter().all(|s| s.keywords.len() > 50),
        "word lists missing"
    );
    ContentMatcher::new(&specs).expect("shipped lists compile")
}

#[test]
fn shipped_lists_leave_game_chat_alone() {
    let m = shipped();
    for text in [
        "gg wp",
        "nice shot!",
        "pass the ball",
        "classic map",
        "Scunthorpe United won",
        "assassin build is op",
        "grape soda",
        "my therapist says hi",
        "push it to B",
        "he's hit, 20 hp",
        "but why",
        "as soon as we cap",
        "bass boosted",
        "noob team lol",
        "good game everyone",
        "shell shock",
        "shitake mushrooms",
        "cocktail party",
        "nice kill streak",
        "I killed him",
        "the sniper is on the roof",
        "need a medic",
        "pawn to e4",
        "cockpit view",
        "analysis of the meta",
        "titan build",
        "spacebar to jump",
        "rapper skin is sick",
        "assess the situation",
        "bastard sword crit build",
        "who plays from japan",
        "hello from pakistan",
        "so do my teammates",
        "cum laude grad",
        "the butter knife skin",
        "his button mashing",
        "night mode on",
        "spoon meta",
        "saturday tournament",
        "1v1 me",
        "top 10 plays",
        "brb 5 min",
        "lol that was close",
        "shut up and play",
        "damn that was close",
        "omg wtf lag",
        "what the hell",
        "you're bad",
        "u r so good",
        "ez clap",
        "f in chat",
        "f u n",
        "s o l o",
        "a s a p",
        "m i d",
    ] {
        assert_eq!(m.matched_terms(&normalize(text)), vec![], "{text:?}");
    }
}

#[test]
fn shipped_lists_catch_abuse() {
    let m = shipped();
    for (text, rule) in [
        ("you f*cking idiot", 1),
        ("fuuuuck this", 0),
        ("f u c k you", 0),
        ("sh1t team", 0),
        ("ur trash", 1),
        ("kys", 1),
        ("1d10t", 1),
        ("іdіоt", 1),
        ("loooser", 1),
        ("b!tch", 0),
        ("a$$hole", 0),
        ("p.u.s.s.y", 0),
    ] {
        let mut out = Vec::new();
        m.matches(&normalize(text), &mut out);
        assert!(out.contains(&rule), "{text:?}: {out:?}");
    }
}

#[test]
fn word_tables_agree() {
    for text in [
        "",
        "a",
        "aa bb  cc",
        "i d i o t",
        "as s sh it",
        "x.yy-zz!!q 12 33",
    ] {
        let folded = normalize(text).folded;
        let ascii = word_table_ascii(folded.as_bytes());
        // Force the general path with a trailing non-ASCII word.
        let wide = word_table(&format!("{folded} é"));
        assert_eq!(
            format!("{ascii:?}"),
            format!("{:?}", &wide[..ascii.len()]),
            "{text:?}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "(?s).{0,80}", spaced in "([a-z]{1,3}[ .\\-]){0,12}") {
        let m = insults();
        for t in [text, spaced] {
            let mut out = Vec::new();
            m.matches(&normalize(&t), &mut out);
            proptest::prop_assert!(out.len() <= 1);
        }
    }
}

#[test]
fn short_keywords_stretch_in_place() {
    let mut forms = stretched_forms("ass");
    forms.sort();
    assert_eq!(forms, ["aass", "ass"]);
    assert_eq!(stretched_forms("kys").len(), 8);
    assert_eq!(stretched_forms("s-o"), ["s-o", "ss-o", "s-oo", "ss-oo"]);
}

#[test]
fn runs_cover_needs_every_run() {
    let runs = runs_of("idiot".chars());
    assert!(runs_cover("iidiiot".chars(), &runs));
    assert!(!runs_cover("idio".chars(), &runs));
    assert!(!runs_cover("idiots".chars(), &runs));
    assert!(!runs_cover("but".chars(), &runs_of("butt".chars())));
}
