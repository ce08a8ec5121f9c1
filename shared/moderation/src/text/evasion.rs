//! Spacing and punctuation evasion: whether a keyword found in the squeezed
//! text ("idiot" in "i d i o t") is really the words of the folded text
//! written apart, and not a keyword hiding across ordinary words ("push it").

use super::charclass::is_alphanumeric;

/// Letter runs: ("idiot" → i1 d1 i1 o1 t1), the shape a disguised word must cover.
pub(crate) type Runs = [(char, u16)];

/// The runs of letters of `chars`.
pub(crate) fn runs_of(chars: impl Iterator<Item = char>) -> Box<[(char, u16)]> {
    let mut runs: Vec<(char, u16)> = Vec::new();
    for c in chars {
        match runs.last_mut() {
            Some((prev, n)) if *prev == c => *n = n.saturating_add(1),
            _ => runs.push((c, 1)),
        }
    }
    runs.into_boxed_slice()
}

/// Checks a squeezed hit `[start, end)` against the words of `folded` it
/// covers; returns their byte span when they are a disguised `keyword`.
pub(crate) fn evasion(
    words: &[Word],
    folded: &str,
    (start, end): (usize, usize),
    (runs, spaced_runs, alnum): (&Runs, &Runs, usize),
) -> Option<(usize, usize)> {
    let covered = covered_words(words, start, end)?;
    let text = &folded[covered.start..covered.end];
    let accepted = if covered.count == 1 {
        runs_cover(text.chars().filter(|&c| is_alphanumeric(c)), runs)
    } else {
        // A phrase keyword with other separators ("kill-your self")…
        runs_cover(
            text.chars()
                .map(|c| if is_alphanumeric(c) { c } else { ' ' }),
            spaced_runs,
        )
        // …or letter-sized fragments ("i d i o t", "fu ck"), not ordinary short
        // words ("so do my") nor the middle of a spelled-out word ("s c u n t h o r p e").
        || alnum >= 4
            && covered.longest <= 2
            && (covered.count == 2 || covered.single * 2 >= covered.count)
            && !(covered.before.is_some_and(|n| n <= 2) && covered.after.is_some_and(|n| n <= 2))
            && runs_cover(text.chars().filter(|&c| is_alphanumeric(c)), runs)
    };
    accepted.then_some((covered.start, covered.end))
}

/// The words of `folded` that make up a stretch of `squeezed`, and their neighbours.
#[derive(Debug, Default)]
pub(crate) struct CoveredWords {
    start: usize,
    end: usize,
    count: usize,
    longest: usize,
    single: usize,
    /// Length (chars) of the word just before / just after, if any.
    before: Option<usize>,
    after: Option<usize>,
}

/// One word (run of letters and digits) of `folded`: byte span, length in
/// chars, and the first and last squeezed byte its chars land on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word {
    start: usize,
    end: usize,
    len: usize,
    first_at: usize,
    last_at: usize,
}

/// The words holding squeezed bytes `[start, end)`.
pub(crate) fn covered_words(words: &[Word], start: usize, end: usize) -> Option<CoveredWords> {
    let mut first = words.partition_point(|w| w.last_at < start);
    let count = words[first..]
        .iter()
        .take_while(|w| w.first_at < end)
        .count();
    let mut last = first + count.checked_sub(1)?;
    // A word that only touches the stretch through a letter merged with the
    // next (or previous) word's is not part of it: "is s h i t" → "s h i t".
    if first < last && words[first].first_at < start && words[first + 1].first_at == start {
        first += 1;
    }
    if first < last && words[last].last_at >= end && words[last - 1].last_at == end - 1 {
        last -= 1;
    }
    let count = last - first + 1;
    let span = &words[first..=last];
    Some(CoveredWords {
        start: words[first].start,
        end: words[last].end,
        count,
        longest: span.iter().map(|w| w.len).max().unwrap_or(0),
        single: span.iter().filter(|w| w.len == 1).count(),
        before: first.checked_sub(1).map(|i| words[i].len),
        after: words.get(last + 1).map(|w| w.len),
    })
}

/// Replays the squeeze over `folded`: its words and where they land in `squeezed`.
pub(crate) fn word_table(folded: &str) -> Vec<Word> {
    if folded.is_ascii() {
        return word_table_ascii(folded.as_bytes());
    }
    let mut words: Vec<Word> = Vec::new();
    let mut squeezed_at = 0;
    let mut prev = '\0';
    let mut in_word = false;
    for (i, c) in folded.char_indices() {
        if !c.is_alphanumeric() {
            in_word = false;
            continue;
        }
        // A repeated letter lands on the previous one, as in `squeeze`.
        let at = if c == prev && c.is_alphabetic() {
            squeezed_at - c.len_utf8()
        } else {
            squeezed_at += c.len_utf8();
            squeezed_at - c.len_utf8()
        };
        prev = c;
        match words.last_mut() {
            Some(w) if in_word => {
                w.end = i + c.len_utf8();
                w.len += 1;
                w.last_at = at;
            }
            _ => words.push(Word {
                start: i,
                end: i + c.len_utf8(),
                len: 1,
                first_at: at,
                last_at: at,
            }),
        }
        in_word = true;
    }
    words
}

/// [`word_table`] for ASCII text, byte by byte.
pub(crate) fn word_table_ascii(folded: &[u8]) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::with_capacity(folded.len() / 4 + 1);
    let mut squeezed_at = 0;
    let mut prev = 0u8;
    let mut in_word = false;
    for (i, &c) in folded.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            in_word = false;
            continue;
        }
        let repeat = c == prev && c.is_ascii_alphabetic();
        squeezed_at += usize::from(!repeat);
        let at = squeezed_at - 1;
        prev = c;
        if in_word {
            if let Some(w) = words.last_mut() {
                w.end = i + 1;
                w.len += 1;
                w.last_at = at;
            }
        } else {
            words.push(Word {
                start: i,
                end: i + 1,
                len: 1,
                first_at: at,
                last_at: at,
            });
        }
        in_word = true;
    }
    words
}

/// Whether `chars` spell `runs` with each run at least as long ("idiiot" covers "idiot", "but" not "butt").
pub(crate) fn runs_cover(chars: impl Iterator<Item = char>, runs: &[(char, u16)]) -> bool {
    let mut next = 0;
    let mut current: Option<(char, u16)> = None;
    let mut close = |run: (char, u16)| -> bool {
        let ok = runs
            .get(next)
            .is_some_and(|&(c, n)| c == run.0 && run.1 >= n);
        next += 1;
        ok
    };
    for c in chars {
        match &mut current {
            Some((prev, n)) if *prev == c => *n = n.saturating_add(1),
            _ => {
                if let Some(run) = current {
                    if !close(run) {
                        return false;
                    }
                }
                current = Some((c, 1));
            }
        }
    }
    match current {
        Some(run) => close(run) && next == runs.len(),
        None => runs.is_empty(),
    }
}
