//! The content matcher: which content rules a normalized message breaks.
//!
//! Per message, whatever the number of rules:
//! - **exact**: one Aho-Corasick automaton over every rule's normalized
//!   keywords, run on `folded`; a hit counts when it stands as whole words.
//!   Keywords under four letters are also listed with each single letter
//!   doubled ("aass" for "ass"), which is all the stretching `folded` keeps.
//! - **evasion** (keywords of four letters or more): a second automaton over
//!   their squeezed forms, run on `squeezed`. A candidate is checked against
//!   the words of `folded` it covers: it counts when those words *are* the
//!   keyword with letters stretched ("iidiot", "idiiot" for "idiot"), the
//!   keyword spread over letter-sized fragments ("i d i o t", "i.d.i.o.t",
//!   "fu ck"), or a phrase keyword with other separators ("kill-yourself").
//!   A keyword inside a longer word never counts ("pass", "class",
//!   "Scunthorpe"), nor across ordinary words ("push it", "he's hit", "so do my").
//! - **patterns**: one `RegexSet` over every rule's regexes, run on `folded`.
//!
//! A keyword hit lying inside an occurrence of one of its rule's allow-listed
//! words or phrases is ignored (e.g. allow "noob" next to keyword "nob", or
//! "kill streak" next to keyword "kill"). Patterns are not allow-listed:
//! the regex itself says what it wants.

use std::collections::HashMap;
use std::fmt;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

use super::normalize::{normalize, Normalized};

/// One content rule as the matcher sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentSpec {
    /// Rule name (for error messages).
    pub name: String,
    /// Words or phrases, matched whole and through evasions.
    pub keywords: Vec<String>,
    /// Rust regexes, matched on the normalized (`folded`) text.
    pub patterns: Vec<String>,
    /// Words or phrases in which a keyword hit does not count.
    pub allow: Vec<String>,
}

/// Why a set of content rules cannot be compiled (none of these can be retried).
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// A regex does not compile.
    #[error("content rule {rule:?}: invalid pattern {pattern:?}: {message}")]
    InvalidPattern {
        /// Rule name.
        rule: String,
        /// The pattern as written.
        pattern: String,
        /// The regex parser's explanation.
        message: String,
    },
    /// A keyword or allowed word is nothing once normalized (only spaces or invisible characters).
    #[error("content rule {rule:?}: {what} {word:?} is empty once normalized")]
    EmptyWord {
        /// Rule name.
        rule: String,
        /// `keyword` or `allowed word`.
        what: &'static str,
        /// The word as written.
        word: String,
    },
    /// The rules together are too big to compile.
    #[error("content rules too large to compile: {0}")]
    TooLarge(String),
}

/// A keyword after normalization, with the rules that list it.
#[derive(Debug)]
struct Keyword {
    /// Normalized form (also what [`ContentMatcher::matched_terms`] reports).
    folded: String,
    /// Whether the first / last character needs a word boundary.
    bounded: (bool, bool),
    /// Letter runs of the letters and digits only.
    runs: Box<[(char, u16)]>,
    /// Letter runs with each separator run as one space.
    spaced_runs: Box<[(char, u16)]>,
    /// Letters and digits in it.
    alnum: usize,
    /// Rules listing it, ascending.
    rules: Box<[u32]>,
}

/// Every content rule compiled together; cheap to share between threads.
pub struct ContentMatcher {
    rules: usize,
    keywords: Vec<Keyword>,
    /// Pattern id = index in `exact_keys`.
    exact: Option<AhoCorasick>,
    exact_keys: Vec<Box<[u32]>>,
    /// Pattern id = index in `squeezed_keys`.
    squeezed: Option<AhoCorasick>,
    squeezed_keys: Vec<Box<[u32]>>,
    /// Pattern id = index in `allow_rules`.
    allow: Option<AhoCorasick>,
    allow_rules: Vec<Box<[u32]>>,
    patterns: Option<RegexSet>,
    /// Set index → (rule, the pattern texts).
    pattern_rules: Vec<(usize, Vec<String>)>,
}

impl fmt::Debug for ContentMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentMatcher")
            .field("rules", &self.rules)
            .field("keywords", &self.keywords.len())
            .field("allowed", &self.allow_rules.len())
            .field("pattern_rules", &self.pattern_rules.len())
            .finish()
    }
}

/// Where hits go: rule indices (deduplicated) or (rule, term) pairs.
trait Sink {
    /// Whether the matched pattern text is wanted (not just the rule).
    fn wants_terms(&self) -> bool;
    fn wants(&self, rule: usize) -> bool;
    fn hit(&mut self, rule: usize, term: &str);
}

struct RuleSink<'a> {
    out: &'a mut Vec<usize>,
    base: usize,
}

impl Sink for RuleSink<'_> {
    fn wants_terms(&self) -> bool {
        false
    }
    fn wants(&self, rule: usize) -> bool {
        !self.out[self.base..].contains(&rule)
    }
    fn hit(&mut self, rule: usize, _term: &str) {
        if self.wants(rule) {
            self.out.push(rule);
        }
    }
}

struct TermSink(Vec<(usize, String)>);

impl Sink for TermSink {
    fn wants_terms(&self) -> bool {
        true
    }
    fn wants(&self, _rule: usize) -> bool {
        true
    }
    fn hit(&mut self, rule: usize, term: &str) {
        if !self.0.iter().any(|(r, t)| *r == rule && t == term) {
            self.0.push((rule, term.to_owned()));
        }
    }
}

impl ContentMatcher {
    /// Compiles `specs`; the indices [`matches`](Self::matches) reports are indices into it.
    pub fn new(specs: &[ContentSpec]) -> Result<ContentMatcher, ContentError> {
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut by_folded: HashMap<String, usize> = HashMap::new();
        let mut allow_index: HashMap<String, usize> = HashMap::new();
        let mut allow_words: Vec<String> = Vec::new();
        let mut allow_rules: Vec<Vec<u32>> = Vec::new();
        let mut pattern_sources = Vec::new();
        let mut pattern_rules = Vec::new();

        for (rule, spec) in specs.iter().enumerate() {
            let id = rule as u32;
            let empty = |what, word: &String| ContentError::EmptyWord {
                rule: spec.name.clone(),
                what,
                word: word.clone(),
            };
            for word in &spec.keywords {
                let folded = normalize(word).folded;
                if folded.is_empty() {
                    return Err(empty("keyword", word));
                }
                let index = *by_folded.entry(folded.clone()).or_insert_with(|| {
                    keywords.push(Keyword::new(folded));
                    keywords.len() - 1
                });
                let rules = &mut keywords[index].rules;
                if rules.last() != Some(&id) {
                    let mut list = rules.to_vec();
                    list.push(id);
                    *rules = list.into_boxed_slice();
                }
            }
            for word in &spec.allow {
                let folded = normalize(word).folded;
                if folded.is_empty() {
                    return Err(empty("allowed word", word));
                }
                let index = *allow_index.entry(folded.clone()).or_insert_with(|| {
                    allow_words.push(folded);
                    allow_rules.push(Vec::new());
                    allow_words.len() - 1
                });
                if allow_rules[index].last() != Some(&id) {
                    allow_rules[index].push(id);
                }
            }
            if !spec.patterns.is_empty() {
                for pattern in &spec.patterns {
                    Regex::new(pattern).map_err(|e| ContentError::InvalidPattern {
                        rule: spec.name.clone(),
                        pattern: pattern.clone(),
                        message: e.to_string().replace('\n', " "),
                    })?;
                }
                let joined: Vec<String> =
                    spec.patterns.iter().map(|p| format!("(?:{p})")).collect();
                pattern_sources.push(joined.join("|"));
                pattern_rules.push((rule, spec.patterns.clone()));
            }
        }

        let automaton = |patterns: &[String]| -> Result<Option<AhoCorasick>, ContentError> {
            if patterns.is_empty() {
                return Ok(None);
            }
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                // Measured fastest here (vs. contiguous/non-contiguous NFA) for
                // hundreds to thousands of words; memory is a few MB at most.
                .kind(Some(AhoCorasickKind::DFA))
                .build(patterns)
                .map(Some)
                .map_err(|e| ContentError::TooLarge(e.to_string()))
        };

        let (exact_forms, exact_keys) = group(keywords.iter().enumerate().flat_map(|(i, k)| {
            let forms = if k.alnum < 4 {
                stretched_forms(&k.folded)
            } else {
                vec![k.folded.clone()]
            };
            forms.into_iter().map(move |form| (form, i as u32))
        }));
        let exact = automaton(&exact_forms)?;

        // Squeezed forms; one may stand for several keywords ("ass hole", "asshole").
        let (squeezed_forms, squeezed_keys) = group(
            keywords
                .iter()
                .enumerate()
                .filter(|(_, k)| k.alnum >= 4)
                .map(|(i, k)| (normalize(&k.folded).squeezed, i as u32))
                // A one-letter form ("aaaa") would be a candidate everywhere.
                .filter(|(form, _)| form.chars().count() >= 2),
        );
        let squeezed = automaton(&squeezed_forms)?;

        let allow = automaton(&allow_words)?;

        let patterns = if pattern_sources.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&pattern_sources)
                    .size_limit(256 << 20)
                    .dfa_size_limit(32 << 20)
                    .build()
                    .map_err(|e| ContentError::TooLarge(e.to_string()))?,
            )
        };

        Ok(ContentMatcher {
            rules: specs.len(),
            keywords,
            exact,
            exact_keys,
            squeezed,
            squeezed_keys,
            allow,
            allow_rules: allow_rules.into_iter().map(Vec::into_boxed_slice).collect(),
            patterns,
            pattern_rules,
        })
    }

    /// Number of rules it was built from.
    pub fn len(&self) -> usize {
        self.rules
    }

    /// Whether it was built from no rules.
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Appends to `out` the index (into the specs) of every rule `text` breaks, each once, ascending.
    pub fn matches(&self, text: &Normalized, out: &mut Vec<usize>) {
        let base = out.len();
        self.scan(text, &mut RuleSink { out, base });
        out[base..].sort_unstable();
    }

    /// Every (rule index, normalized keyword or pattern) that `text` matches: for summaries and debugging.
    pub fn matched_terms(&self, text: &Normalized) -> Vec<(usize, String)> {
        let mut sink = TermSink(Vec::new());
        self.scan(text, &mut sink);
        sink.0.sort();
        sink.0
    }

    fn scan(&self, text: &Normalized, sink: &mut dyn Sink) {
        let folded = text.folded.as_str();
        let mut allowed: Option<Vec<(usize, usize, usize)>> = None;

        if let Some(exact) = &self.exact {
            for m in exact.find_overlapping_iter(folded) {
                for &k in self.exact_keys[m.pattern().as_usize()].iter() {
                    let keyword = &self.keywords[k as usize];
                    if !keyword.rules.iter().any(|&r| sink.wants(r as usize))
                        || !whole_words(folded, m.start(), m.end(), keyword.bounded)
                    {
                        continue;
                    }
                    self.report(keyword, folded, (m.start(), m.end()), &mut allowed, sink);
                }
            }
        }

        if let Some(squeezed) = &self.squeezed {
            // Built on the first candidate only: most messages have none.
            let mut words: Option<Vec<Word>> = None;
            for m in squeezed.find_overlapping_iter(text.squeezed.as_str()) {
                for &k in self.squeezed_keys[m.pattern().as_usize()].iter() {
                    let keyword = &self.keywords[k as usize];
                    if !keyword.rules.iter().any(|&r| sink.wants(r as usize)) {
                        continue;
                    }
                    let words = words.get_or_insert_with(|| word_table(folded));
                    if let Some(span) = evasion(words, folded, m.start(), m.end(), keyword) {
                        self.report(keyword, folded, span, &mut allowed, sink);
                    }
                }
            }
        }

        if let Some(set) = &self.patterns {
            if set.is_match(folded) {
                for i in set.matches(folded).iter() {
                    let (rule, sources) = &self.pattern_rules[i];
                    if sources.len() == 1 || !sink.wants_terms() {
                        sink.hit(*rule, &sources[0]);
                    } else {
                        // Which of the rule's patterns: only worked out on a hit.
                        for source in sources {
                            if Regex::new(source).is_ok_and(|re| re.is_match(folded)) {
                                sink.hit(*rule, source);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reports a keyword hit at `span` of `folded` for each of its rules that does not allow it.
    fn report(
        &self,
        keyword: &Keyword,
        folded: &str,
        span: (usize, usize),
        allowed: &mut Option<Vec<(usize, usize, usize)>>,
        sink: &mut dyn Sink,
    ) {
        for &rule in keyword.rules.iter() {
            if !sink.wants(rule as usize) {
                continue;
            }
            if self.allow.is_some() {
                let occurrences = allowed.get_or_insert_with(|| self.allowed_in(folded));
                let covered = occurrences.iter().any(|&(start, end, a)| {
                    start <= span.0 && span.1 <= end && self.allow_rules[a].contains(&rule)
                });
                if covered {
                    continue;
                }
            }
            sink.hit(rule as usize, &keyword.folded);
        }
    }

    /// Whole-word occurrences of allowed words: (start, end, allow index).
    fn allowed_in(&self, folded: &str) -> Vec<(usize, usize, usize)> {
        let Some(allow) = &self.allow else {
            return Vec::new();
        };
        allow
            .find_overlapping_iter(folded)
            .filter(|m| whole_words(folded, m.start(), m.end(), (true, true)))
            .map(|m| (m.start(), m.end(), m.pattern().as_usize()))
            .collect()
    }
}

impl Keyword {
    fn new(folded: String) -> Keyword {
        let first = folded.chars().next().is_some_and(char::is_alphanumeric);
        let last = folded
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
        let runs = runs_of(folded.chars().filter(|c| c.is_alphanumeric()));
        let spaced_runs = runs_of(
            folded
                .chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' }),
        );
        let alnum = folded.chars().filter(|c| c.is_alphanumeric()).count();
        Keyword {
            folded,
            bounded: (first, last),
            runs,
            spaced_runs,
            alnum,
            rules: Box::new([]),
        }
    }
}

/// Distinct forms with the keywords each stands for, in first-seen order.
fn group(forms: impl Iterator<Item = (String, u32)>) -> (Vec<String>, Vec<Box<[u32]>>) {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut distinct: Vec<String> = Vec::new();
    let mut keys: Vec<Vec<u32>> = Vec::new();
    for (form, key) in forms {
        let i = *index.entry(form.clone()).or_insert_with(|| {
            distinct.push(form);
            keys.push(Vec::new());
            distinct.len() - 1
        });
        if !keys[i].contains(&key) {
            keys[i].push(key);
        }
    }
    (
        distinct,
        keys.into_iter().map(Vec::into_boxed_slice).collect(),
    )
}

/// `folded` with every combination of its single letters doubled: what a
/// stretched short word looks like once `normalize` cut its runs to two.
fn stretched_forms(folded: &str) -> Vec<String> {
    let mut forms = vec![String::new()];
    let mut chars = folded.chars().peekable();
    while let Some(c) = chars.next() {
        let run = if chars.peek() == Some(&c) {
            chars.next();
            2
        } else {
            1
        };
        if run == 1 && c.is_alphabetic() && forms.len() < 64 {
            let mut doubled: Vec<String> = forms.iter().map(|f| format!("{f}{c}{c}")).collect();
            forms.iter_mut().for_each(|f| f.push(c));
            forms.append(&mut doubled);
        } else {
            for f in &mut forms {
                (0..run).for_each(|_| f.push(c));
            }
        }
    }
    forms
}

fn runs_of(chars: impl Iterator<Item = char>) -> Box<[(char, u16)]> {
    let mut runs: Vec<(char, u16)> = Vec::new();
    for c in chars {
        match runs.last_mut() {
            Some((prev, n)) if *prev == c => *n = n.saturating_add(1),
            _ => runs.push((c, 1)),
        }
    }
    runs.into_boxed_slice()
}

/// Whether `folded[start..end]` is not glued to a letter or digit on a side that needs it.
fn whole_words(folded: &str, start: usize, end: usize, bounded: (bool, bool)) -> bool {
    let before = folded[..start].chars().next_back();
    let after = folded[end..].chars().next();
    !(bounded.0 && before.is_some_and(char::is_alphanumeric)
        || bounded.1 && after.is_some_and(char::is_alphanumeric))
}

/// Checks a squeezed hit `[start, end)` against the words of `folded` it
/// covers; returns their byte span when they are a disguised `keyword`.
fn evasion(
    words: &[Word],
    folded: &str,
    start: usize,
    end: usize,
    keyword: &Keyword,
) -> Option<(usize, usize)> {
    let covered = covered_words(words, start, end)?;
    let text = &folded[covered.start..covered.end];
    let accepted = if covered.count == 1 {
        runs_cover(text.chars().filter(|c| c.is_alphanumeric()), &keyword.runs)
    } else {
        // A phrase keyword with other separators ("kill-your self")…
        runs_cover(
            text.chars()
                .map(|c| if c.is_alphanumeric() { c } else { ' ' }),
            &keyword.spaced_runs,
        )
        // …or letter-sized fragments ("i d i o t", "fu ck"), not ordinary short
        // words ("so do my") nor the middle of a spelled-out word ("s c u n t h o r p e").
        || keyword.alnum >= 4
            && covered.longest <= 2
            && (covered.count == 2 || covered.single * 2 >= covered.count)
            && !(covered.before.is_some_and(|n| n <= 2) && covered.after.is_some_and(|n| n <= 2))
            && runs_cover(text.chars().filter(|c| c.is_alphanumeric()), &keyword.runs)
    };
    accepted.then_some((covered.start, covered.end))
}

/// The words of `folded` that make up a stretch of `squeezed`, and their neighbours.
#[derive(Debug, Default)]
struct CoveredWords {
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
struct Word {
    start: usize,
    end: usize,
    len: usize,
    first_at: usize,
    last_at: usize,
}

/// The words holding squeezed bytes `[start, end)`.
fn covered_words(words: &[Word], start: usize, end: usize) -> Option<CoveredWords> {
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
fn word_table(folded: &str) -> Vec<Word> {
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
fn word_table_ascii(folded: &[u8]) -> Vec<Word> {
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
fn runs_cover(chars: impl Iterator<Item = char>, runs: &[(char, u16)]) -> bool {
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

#[cfg(test)]
mod tests {
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
        let m =
            ContentMatcher::new(&[spec("k", &["Sh1T", "ＢＡＤ"], &[], &[])]).expect("valid rules");
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
}
