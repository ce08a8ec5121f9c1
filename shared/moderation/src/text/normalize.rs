//! Normalization of chat text before matching: one pass that undoes the
//! usual ways of dodging a word filter (case, fullwidth and styled letters,
//! accents, look-alike letters from other scripts, leetspeak, invisible
//! characters, stretched letters, spacing). Pure and allocation-light: it
//! runs on every message.
//!
//! Steps, in order:
//! 1. (non-ASCII text only) drop invisible and bidi control characters,
//!    apply compatibility decomposition (NFKD: fullwidth, math-styled and
//!    circled letters become plain ones), drop Latin/Greek/Cyrillic
//!    combining marks (é → e, Zalgo), lowercase, map homoglyphs to Latin.
//!    Other scripts stay (decomposed, not recomposed): keywords go through
//!    the same steps, so they still match.
//! 2. Per word (letters, digits and `@ $ !`): if the word has a letter,
//!    leetspeak digits and `$` become letters, `@ !` too when inside the
//!    word (so `@name` and `idiot!` keep their meaning). Runs of 3+ identical
//!    letters are cut to 2; whitespace runs become one space; control
//!    characters go; other punctuation stays as a word separator.
//! 3. `squeezed`: letters and digits only, runs of one letter cut to one.

use super::charclass::{is_alphabetic, is_alphanumeric};
use unicode_normalization::char::decompose_compatible;

/// A message's text in the forms the rules match on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// Case-folded, compatibility-normalized, homoglyph- and leet-mapped text; words kept apart.
    pub folded: String,
    /// `folded` with only letters and digits, each run of one letter cut to one.
    pub squeezed: String,
    /// Alphabetic characters in the original text.
    pub letters: usize,
    /// Uppercase characters in the original text.
    pub upper: usize,
}

/// Normalizes one message's text.
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized::default();
    normalize_into(text, &mut out);
    out
}

/// Normalizes into `out`, reusing its buffers (no allocation once they are big enough).
pub fn normalize_into(text: &str, out: &mut Normalized) {
    if text.is_ascii() {
        // Bytes in, ASCII bytes out: the same steps as below, without decoding.
        let mut folded = std::mem::take(&mut out.folded).into_bytes();
        let mut squeezed = std::mem::take(&mut out.squeezed).into_bytes();
        (out.letters, out.upper) = fold_ascii(text.as_bytes(), &mut folded);
        squeeze_ascii(&folded, &mut squeezed);
        out.folded = ascii_string(folded);
        out.squeezed = ascii_string(squeezed);
    } else {
        normalize_chars(text, out);
    }
}

/// The general path, for any text.
fn normalize_chars(text: &str, out: &mut Normalized) {
    let (mut letters, mut upper) = (0, 0);
    for c in text.chars() {
        letters += usize::from(is_alphabetic(c));
        upper += usize::from(c.is_uppercase());
    }
    out.letters = letters;
    out.upper = upper;
    out.folded.clear();
    out.squeezed.clear();
    // `squeezed` serves as scratch for the mapped characters.
    map_chars(text, &mut out.squeezed);
    fold_words(&out.squeezed, &mut out.folded);
    out.squeezed.clear();
    squeeze(&out.folded, &mut out.squeezed);
}

/// Turns bytes known to be ASCII back into a `String` (no copy).
fn ascii_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

// Byte classes for the ASCII path (a table keeps the loop nearly branch-free).
const WORD: u8 = 1;
const ALPHA: u8 = 2;
const LEET: u8 = 4;
const SPACE: u8 = 8;
const CONTROL: u8 = 16;
const ALNUM: u8 = 32;
/// Whitespace other than a plain space.
const SPACE_OTHER: u8 = 64;

const CLASS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        let mut k = 0;
        if c.is_ascii_alphanumeric() || c == b'@' || c == b'$' || c == b'!' {
            k |= WORD;
        }
        if c.is_ascii_alphanumeric() {
            k |= ALNUM;
        }
        if c.is_ascii_alphabetic() {
            k |= ALPHA;
        }
        if matches!(
            c,
            b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'$' | b'@' | b'!'
        ) {
            k |= LEET;
        }
        if matches!(c, b'\t'..=b'\r') {
            k |= SPACE | SPACE_OTHER;
        } else if c == b' ' {
            k |= SPACE;
        } else if c.is_ascii_control() {
            k |= CONTROL;
        }
        t[b] = k;
        b += 1;
    }
    t
};

fn class(b: u8) -> u8 {
    CLASS[usize::from(b & 0x7f)]
}

/// Step 2 for ASCII text; returns (letters, uppercase) of the input.
/// A branch-free pass lowercases and collapses spaces; the words of the
/// rarer message with leetspeak or a stretched letter are then fixed up.
fn fold_ascii(src: &[u8], out: &mut Vec<u8>) -> (usize, usize) {
    // Separate simple loops vectorize.
    let letters = src.iter().filter(|b| b.is_ascii_alphabetic()).count();
    let upper = src.iter().filter(|b| b.is_ascii_uppercase()).count();
    out.clear();
    if is_plain(src) {
        out.extend_from_slice(src);
        out.make_ascii_lowercase();
        return (letters, upper);
    }
    // Output is never longer than the input.
    out.resize(src.len(), 0);
    let mut n = 0;
    let mut last_space = true;
    let (mut leet, mut stretched) = (false, false);
    let (mut p1, mut p2) = (0u8, 0u8);
    for &b in src {
        let k = class(b);
        let space = k & SPACE != 0;
        let c = if space { b' ' } else { b.to_ascii_lowercase() };
        // Controls go like invisible characters; spaces only after a non-space.
        let keep = k & CONTROL == 0 && !(space && last_space);
        out[n] = c;
        n += usize::from(keep);
        if keep {
            last_space = space;
            leet |= k & LEET != 0;
            stretched |= c == p1 && c == p2 && k & ALPHA != 0;
            (p2, p1) = (p1, c);
        }
    }
    if n > 0 && out[n - 1] == b' ' {
        n -= 1;
    }
    if leet || stretched {
        n = fix_words(&mut out[..n]);
    }
    out.truncate(n);
    (letters, upper)
}

/// Whether lowercasing is all `src` needs: no leetspeak or control
/// character, single plain spaces inside only, no letter three times in a row.
fn is_plain(src: &[u8]) -> bool {
    let mut special = 0;
    let mut repeats = false;
    let (mut p1, mut p2) = (b' ', 0u8);
    for &b in src {
        special |= class(b) & (LEET | CONTROL | SPACE_OTHER);
        let c = b | 0x20;
        repeats |= (c == p1 && c == p2) | (b == b' ' && p1 == b' ');
        (p2, p1) = (p1, c);
    }
    special == 0 && !repeats && p1 != b' '
}

/// Leet-maps words that hold a letter and cuts letter runs to 2, in place; returns the new length.
fn fix_words(buf: &mut [u8]) -> usize {
    let (mut r, mut w) = (0, 0);
    let (mut p1, mut p2) = (0u8, 0u8);
    while r < buf.len() {
        let end = if class(buf[r]) & WORD != 0 {
            let end = buf[r..]
                .iter()
                .position(|&c| class(c) & WORD == 0)
                .map_or(buf.len(), |p| r + p);
            leet_word(&mut buf[r..end]);
            end
        } else {
            r + 1
        };
        for i in r..end {
            let c = buf[i];
            if c == p1 && c == p2 && c.is_ascii_alphabetic() {
                continue;
            }
            (p2, p1) = (p1, c);
            buf[w] = c;
            w += 1;
        }
        r = end;
    }
    w
}

/// Leetspeak of one word, if it holds a letter ("1d10t" yes, "100" no).
fn leet_word(word: &mut [u8]) {
    if !word.iter().any(u8::is_ascii_alphabetic) {
        return;
    }
    let first = word
        .iter()
        .position(|&c| c != b'@' && c != b'!')
        .unwrap_or(0);
    let last = word
        .iter()
        .rposition(|&c| c != b'@' && c != b'!')
        .unwrap_or(0);
    for (i, c) in word.iter_mut().enumerate() {
        let inside = i > first && i < last;
        *c = match *c {
            b'0' => b'o',
            b'1' => b'i',
            b'3' => b'e',
            b'4' => b'a',
            b'5' | b'$' => b's',
            b'7' => b't',
            b'@' if inside => b'a',
            b'!' if inside => b'i',
            other => other,
        };
    }
}

/// Step 3 for ASCII: letters and digits, each letter run cut to one.
fn squeeze_ascii(folded: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.resize(folded.len(), 0);
    let mut n = 0;
    let mut prev = 0u8;
    for &c in folded {
        let k = class(c);
        let alnum = k & ALNUM != 0;
        let repeat = c == prev && k & ALPHA != 0;
        out[n] = c;
        n += usize::from(alnum && !repeat);
        if alnum {
            prev = c;
        }
    }
    out.truncate(n);
}

/// Step 1: per-character mapping of non-ASCII text (ASCII passes as is).
fn map_chars(text: &str, out: &mut String) {
    for c in text.chars() {
        if c.is_control() && !c.is_whitespace() {
        } else if c.is_ascii() {
            out.push(c);
        } else if is_invisible(c) {
        } else if let Some(latin) = homoglyph(c) {
            out.push(latin);
        } else {
            decompose_compatible(c, |d| push_decomposed(d, out));
        }
    }
}

fn push_decomposed(d: char, out: &mut String) {
    if d.is_ascii() {
        out.push(d.to_ascii_lowercase());
    } else if is_strippable_mark(d) || is_invisible(d) {
    } else if let Some(latin) = homoglyph(d) {
        out.push(latin);
    } else {
        for l in d.to_lowercase() {
            if l.is_ascii() {
                out.push(l);
            } else if !is_strippable_mark(l) {
                out.push(homoglyph(l).unwrap_or(l));
            }
        }
    }
}

/// Step 2: leetspeak per word, stretched letters, spaces.
fn fold_words(src: &str, out: &mut String) {
    let mut state = Emit::default();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        if is_word_char(c) {
            let end = rest
                .find(|ch: char| !is_word_char(ch))
                .unwrap_or(rest.len());
            fold_word(&rest[..end], out, &mut state);
            rest = &rest[end..];
        } else {
            rest = &rest[c.len_utf8()..];
            if c.is_whitespace() || c == '\u{2800}' {
                state.pending_space = true;
            } else if !c.is_control() {
                state.push(c, out);
            }
        }
    }
}

fn is_word_char(c: char) -> bool {
    is_alphanumeric(c) || matches!(c, '@' | '$' | '!')
}

/// One word: leet mapping only when it holds a letter ("1d10t" yes, "100" no).
fn fold_word(word: &str, out: &mut String, state: &mut Emit) {
    let mut has_letter = false;
    let (mut first, mut last) = (usize::MAX, 0);
    for (i, c) in word.char_indices() {
        has_letter |= is_alphabetic(c);
        // `$` anchors too, so the mapping is the same on a second pass.
        if c != '@' && c != '!' {
            first = first.min(i);
            last = i;
        }
    }
    for (i, c) in word.char_indices() {
        let c = c.to_ascii_lowercase();
        let mapped = if has_letter {
            let inside = i > first && i < last;
            match c {
                '0' => 'o',
                '1' => 'i',
                '3' => 'e',
                '4' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                '@' if inside => 'a',
                '!' if inside => 'i',
                other => other,
            }
        } else {
            c
        };
        state.push(mapped, out);
    }
}

/// Output state: a pending space and the current letter run.
#[derive(Default)]
struct Emit {
    pending_space: bool,
    prev: char,
    run: u8,
}

impl Emit {
    fn push(&mut self, c: char, out: &mut String) {
        if self.pending_space {
            self.pending_space = false;
            if !out.is_empty() {
                out.push(' ');
            }
            self.prev = ' ';
        }
        if is_alphabetic(c) {
            if c == self.prev {
                if self.run >= 2 {
                    return;
                }
                self.run += 1;
            } else {
                self.prev = c;
                self.run = 1;
            }
        } else {
            self.prev = c;
            self.run = 0;
        }
        out.push(c);
    }
}

/// Step 3: letters and digits only, runs of a letter cut to one.
fn squeeze(folded: &str, out: &mut String) {
    let mut prev = '\0';
    for c in folded.chars() {
        if is_alphanumeric(c) {
            if c == prev && is_alphabetic(c) {
                continue;
            }
            out.push(c);
            prev = c;
        }
    }
}

/// Zero-width, bidi control, filler and tag characters (Default_Ignorable).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
        | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
        | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Combining marks over Latin, Greek and Cyrillic letters (accents, Zalgo);
/// marks that carry meaning in other scripts (Indic vowel signs…) stay.
fn is_strippable_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}' | '\u{0483}'..='\u{0489}' | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// Letters from other scripts (and styled Latin) that read as a Latin letter.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'А' | 'а' => 'a',
        'В' | 'в' | 'Ь' | 'ь' => 'b',
        'Е' | 'е' => 'e',
        'К' | 'к' => 'k',
        'М' | 'м' => 'm',
        'Н' | 'н' | 'Һ' | 'һ' => 'h',
        'О' | 'о' => 'o',
        'Р' | 'р' => 'p',
        'С' | 'с' => 'c',
        'Т' | 'т' => 't',
        'У' | 'у' | 'Ү' | 'ү' => 'y',
        'Х' | 'х' => 'x',
        'Ѕ' | 'ѕ' => 's',
        'І' | 'і' => 'i',
        'Ј' | 'ј' => 'j',
        'Ԁ' | 'ԁ' => 'd',
        'Ԛ' | 'ԛ' => 'q',
        'Ԝ' | 'ԝ' => 'w',
        'Ӏ' | 'ӏ' => 'l',
        'Ѵ' | 'ѵ' => 'v',
        'п' => 'n',
        'ғ' => 'f',
        // Greek
        'Α' | 'α' => 'a',
        'Β' | 'β' => 'b',
        'Ε' | 'ε' => 'e',
        'Ζ' => 'z',
        'Η' => 'h',
        'η' => 'n',
        'Ι' | 'ι' => 'i',
        'Κ' | 'κ' => 'k',
        'Μ' => 'm',
        'μ' | 'υ' => 'u',
        'Ν' => 'n',
        'ν' => 'v',
        'Ο' | 'ο' => 'o',
        'Ρ' | 'ρ' => 'p',
        'Τ' | 'τ' => 't',
        'Υ' | 'γ' => 'y',
        'Χ' | 'χ' => 'x',
        'ω' => 'w',
        'ϲ' | 'Ϲ' => 'c',
        'ϳ' => 'j',
        // Armenian
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'ց' => 'g',
        // Latin small capitals and other variants without a decomposition
        'ı' | 'ɩ' | 'ɪ' => 'i',
        'ȷ' | 'ᴊ' => 'j',
        'ɑ' | 'ᴀ' => 'a',
        'ɡ' | 'ɢ' => 'g',
        'ʟ' | 'ł' => 'l',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' | 'đ' => 'd',
        'ᴇ' => 'e',
        'ƒ' => 'f',
        'ʜ' | 'ħ' => 'h',
        'ᴋ' => 'k',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' | 'ø' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' | 'ŧ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
