use super::*;
use proptest::prelude::*;

fn folded(s: &str) -> String {
    normalize(s).folded
}

#[test]
fn ascii_case_and_spaces() {
    assert_eq!(folded("  Nice   SHOT\t\n mate "), "nice shot mate");
    let n = normalize("GG wp");
    assert_eq!((n.letters, n.upper), (4, 2));
}

#[test]
fn leetspeak_inside_words_only() {
    assert_eq!(folded("1d10t"), "idiot");
    assert_eq!(folded("h3ll0 w0rld"), "hello world");
    assert_eq!(folded("a$$ sh!t b@d"), "ass shit bad");
    // Numbers, mentions, trailing punctuation keep their meaning.
    assert_eq!(folded("won 10 to 7"), "won 10 to 7");
    assert_eq!(folded("@bob idiot!!"), "@bob idiot!!");
    assert_eq!(folded("$100 !help"), "$100 !help");
}

#[test]
fn stretched_letters_cut_to_two() {
    assert_eq!(folded("fuuuuuck nooooo"), "fuuck noo");
    assert_eq!(folded("h000t"), "hoot");
    assert_eq!(folded("zzz 1000"), "zz 1000");
}

#[test]
fn unicode_tricks() {
    // Fullwidth, math bold, circled.
    assert_eq!(folded("ＩＤＩＯＴ"), "idiot");
    assert_eq!(folded("𝐢𝐝𝐢𝐨𝐭"), "idiot");
    assert_eq!(folded("ⓘⓓⓘⓞⓣ"), "idiot");
    // Accents and Zalgo.
    assert_eq!(folded("ídìöt"), "idiot");
    assert_eq!(folded("i\u{0301}\u{0316}\u{0353}diot"), "idiot");
    // Cyrillic and Greek look-alikes.
    assert_eq!(folded("іdіоt"), "idiot");
    assert_eq!(folded("ΙDΙΟΤ"), "idiot");
    // Zero-width and bidi characters inside a word.
    assert_eq!(folded("id\u{200D}i\u{200B}o\u{202E}t"), "idiot");
    // Small capitals.
    assert_eq!(folded("ɪᴅɪᴏᴛ"), "idiot");
    // Unicode spaces.
    assert_eq!(folded("a\u{00A0}\u{3000}b"), "a b");
}

#[test]
fn other_scripts_survive() {
    let n = normalize("Привет 你好 مرحبا");
    assert!(n.folded.contains("你好"));
    assert!(n.folded.contains("مرحبا"));
    assert_eq!(n.folded.split(' ').count(), 3);
}

#[test]
fn squeezed_removes_spacing() {
    assert_eq!(normalize("i d i o t").squeezed, "idiot");
    assert_eq!(normalize("i.d.i.o.t").squeezed, "idiot");
    assert_eq!(normalize("iiiidiot").squeezed, "idiot");
    assert_eq!(normalize("ii dd ii oo tt").squeezed, "idiot");
}

#[test]
fn counts_come_from_the_original() {
    let n = normalize("ÉCOUTE 1337");
    assert_eq!((n.letters, n.upper), (6, 6));
    let n = normalize("");
    assert_eq!(n, Normalized::default());
}

#[test]
fn reuses_buffers() {
    let mut n = Normalized::default();
    normalize_into("FIRST message here", &mut n);
    normalize_into("2nd", &mut n);
    assert_eq!(n, normalize("2nd"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_and_is_idempotent(s in any::<String>()) {
        let n = normalize(&s);
        let again = normalize(&n.folded);
        prop_assert_eq!(&again.folded, &n.folded);
        prop_assert_eq!(&again.squeezed, &n.squeezed);
        // NFKD expands one character to at most 18.
        prop_assert!(n.folded.chars().count() <= 18 * s.chars().count());
        prop_assert!(n.squeezed.len() <= n.folded.len());
        prop_assert!(n.upper <= n.letters);
    }

    #[test]
    fn ascii_fast_path_agrees(s in "[ -~\t\n\x00\x7f]{0,60}") {
        let mut slow = Normalized::default();
        normalize_chars(&s, &mut slow);
        prop_assert_eq!(normalize(&s), slow);
    }

    #[test]
    fn plain_text_agrees(s in "[a-zA-Z ,.?']{0,60}") {
        let mut slow = Normalized::default();
        normalize_chars(&s, &mut slow);
        prop_assert_eq!(normalize(&s), slow);
    }

    #[test]
    fn chat_like_text_is_idempotent(s in "[a-zA-Z0-9@$! .,'İıЁёσΣ\u{200d}\u{301}]{0,40}") {
        let n = normalize(&s);
        prop_assert_eq!(normalize(&n.folded).folded, n.folded);
    }
}
