//! The text of a query: a small PromQL scanner (its vector selectors and
//! range durations) and Grafana's template variables (which are used, what
//! "All" substitutes, a `label_values` query's parts).

use std::collections::BTreeSet;

/// A vector selector found in an expression: the metric name and the text
/// between its braces (empty when it has none).
#[derive(Debug, Clone)]
pub struct Selector {
    /// Char index of the name in the expression.
    pub start: usize,
    /// Metric name.
    pub metric: String,
    /// Label matchers, as written.
    pub matchers: String,
}

const AGGREGATIONS: [&str; 12] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: [&str; 8] = [
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

/// The vector selectors of a PromQL expression (a scanner, not a parser:
/// enough for the expressions of dashboards and rules; promtool parses them
/// for real). Label names in grouping clauses, function names, strings,
/// durations and numbers are not selectors.
pub fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_{}:".contains(chars[i])) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i]))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let lower = word.to_ascii_lowercase();
                if GROUPING.contains(&word.as_str()) {
                    if chars.get(next) == Some(&'(') {
                        i = skip_group(&chars, next, '(', ')');
                    }
                } else if chars.get(next) == Some(&'(')
                    || AGGREGATIONS.contains(&word.as_str())
                    || KEYWORDS.contains(&lower.as_str())
                {
                    // a function, an aggregation or an operator
                } else {
                    let matchers = if chars.get(next) == Some(&'{') {
                        let end = skip_group(&chars, next, '{', '}');
                        i = end;
                        chars[next + 1..end.saturating_sub(1)].iter().collect()
                    } else {
                        String::new()
                    };
                    out.push(Selector {
                        start,
                        metric: word,
                        matchers,
                    });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Index just past the string literal starting at `i`.
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() && chars[j] != quote {
        if chars[j] == '\\' && quote != '`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

/// Index just past the group opened at `i` (strings inside skipped).
fn skip_group(chars: &[char], i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < chars.len() {
        match chars[j] {
            '"' | '\'' | '`' => {
                j = skip_string(chars, j);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    chars.len()
}

/// The range durations (`[…]`) written in an expression.
pub fn ranges(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find('[') {
        let Some(len) = rest[start..].find(']') else {
            break;
        };
        out.push(rest[start + 1..start + len].trim().to_owned());
        rest = &rest[start + len..];
    }
    out
}

/// Grafana variables (`$name`, `${name}`, `${name:fmt}`) used in `text`.
pub fn variables_used(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let braced = bytes.get(i + 1) == Some(&b'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if end > start {
            out.insert(text[start..end].to_owned());
        }
        i = end.max(i + 1);
    }
    out
}

/// Replaces Grafana's variables as a dashboard would with "All" selected:
/// `$job`, `$instance`, `$group`, `$game` (and any other) by `all`,
/// `$__rate_interval` by `rate_interval`, `$__range` by `range`,
/// `$__interval` by `interval`.
pub fn substitute(expr: &str, all: &str, rate_interval: &str, range: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            let c = expr[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
            continue;
        }
        let braced = bytes.get(i + 1) == Some(&b'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &expr[start..end];
        if braced {
            // `${name}` or `${name:format}`
            while end < bytes.len() && bytes[end] != b'}' {
                end += 1;
            }
            end += 1;
        }
        out.push_str(match name {
            "__rate_interval" => rate_interval,
            "__range" => range,
            "__interval" => "15s",
            _ => all,
        });
        i = end.max(i + 1);
    }
    out
}

/// The selector and label of a `label_values(selector, label)` query.
pub fn label_values(query: &str) -> Option<(String, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_owned(), label.trim().to_owned()))
}
