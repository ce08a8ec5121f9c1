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

use super::charclass::{is_alphabetic, is_alphanumeric};
use super::evasion::{evasion, runs_of, word_table, Word};
#[cfg(test)]
use super::evasion::{runs_cover, word_table_ascii};
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

impl ContentSpec {
    /// Checks what the matcher would refuse of this rule alone: a pattern
    /// that does not compile, a keyword or allowed word that is nothing
    /// once normalized.
    pub fn validate(&self) -> Result<(), ContentError> {
        let words = self.keywords.iter().map(|w| ("keyword", w));
        for (what, word) in words.chain(self.allow.iter().map(|w| ("allowed word", w))) {
            if normalize(word).folded.is_empty() {
                return Err(ContentError::EmptyWord {
                    rule: self.name.clone(),
                    what,
                    word: word.clone(),
                });
            }
        }
        for pattern in &self.patterns {
            Regex::new(pattern).map_err(|e| ContentError::InvalidPattern {
                rule: self.name.clone(),
                pattern: pattern.clone(),
                message: e.to_string().replace('\n', " "),
            })?;
        }
        Ok(())
    }
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
            spec.validate()?;
            for word in &spec.keywords {
                let folded = normalize(word).folded;
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
                    if let Some(span) = evasion(
                        words,
                        folded,
                        (m.start(), m.end()),
                        (&keyword.runs, &keyword.spaced_runs, keyword.alnum),
                    ) {
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
        let runs = runs_of(folded.chars().filter(|&c| is_alphanumeric(c)));
        let spaced_runs = runs_of(
            folded
                .chars()
                .map(|c| if is_alphanumeric(c) { c } else { ' ' }),
        );
        let alnum = folded.chars().filter(|&c| is_alphanumeric(c)).count();
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
        if run == 1 && is_alphabetic(c) && forms.len() < 64 {
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

/// Whether `folded[start..end]` is not glued to a letter or digit on a side that needs it.
fn whole_words(folded: &str, start: usize, end: usize, bounded: (bool, bool)) -> bool {
    let before = folded[..start].chars().next_back();
    let after = folded[end..].chars().next();
    !(bounded.0 && before.is_some_and(char::is_alphanumeric)
        || bounded.1 && after.is_some_and(char::is_alphanumeric))
}

#[cfg(test)]
mod tests;
