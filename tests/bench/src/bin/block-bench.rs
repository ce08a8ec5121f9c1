//! The publish-path cost of block rules, for tests/bench/moderation.sh:
//! CPU per check of `parley_moderation::Blocklist` with N content rules
//! (`action = "block"`, a keyword list and a pattern each) against the same
//! check with no rules, over a corpus of ordinary chat lines and a few
//! evasions, in one thread.
//!
//! `block-bench [--rules 500] [--checks 2000000]` prints one JSON object:
//! ns per check with and without the rules, and the difference.

use std::path::Path;
use std::time::Instant;

use parley_moderation::{Author, Blocklist, CheckScratch};

const LINES: &[&str] = &[
    "gg wp everyone, that was close",
    "anyone want to queue ranked after this?",
    "lol that headshot was insane",
    "need a healer for the raid at 9pm",
    "brb getting food",
    "who took my loot?? not cool",
    "selling 200 iron ore, pm me",
    "GG EZ",
    "can someone explain the new patch notes",
    "my ping is terrible tonight, sorry team",
    "nice one! 10/10",
    "is the event still running tomorrow?",
    "d0n't be such a n00b lol",
    "a s s i s t me please",
    "k y s",
    "thanks for the carry, you're a legend",
];

/// CPU seconds of this thread so far (utime + stime of /proc/thread-self/stat).
fn thread_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

fn rules_file(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[[rule]]\nname = \"block-{i}\"\nkind = \"content\"\ncategory = \"toxicity\"\nseverity = \"critical\"\naction = \"block\"\nkeywords = [\"zorbl{i}\", \"qwaxle{i}\", \"vrenk{i} frob\"]\npatterns = ['\\bpl[o0]nk{i}\\b']\n\n"
        ));
    }
    text
}

fn measure(list: &Blocklist, checks: usize) -> (f64, usize) {
    let mut scratch = CheckScratch::default();
    let author = Author {
        user: "u-1",
        room: "g1:eu-lobby-0",
        role: Some("viewer"),
    };
    let mut blocked = 0;
    let (wall, cpu) = (Instant::now(), thread_cpu());
    for i in 0..checks {
        if list
            .check(LINES[i % LINES.len()], author, &mut scratch)
            .is_some()
        {
            blocked += 1;
        }
    }
    let spent = (thread_cpu() - cpu).max(0.0);
    // Ticks are 10 ms: fall back on wall time for very short runs.
    let seconds = if spent > 0.5 {
        spent
    } else {
        wall.elapsed().as_secs_f64()
    };
    (seconds * 1e9 / checks as f64, blocked)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, checks) = (flag("--rules", 500), flag("--checks", 2_000_000));
    let here = Path::new(".");
    let with = match Blocklist::parse(&rules_file(n), Path::new("bench-rules.toml"), here) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("block-bench: {e}");
            std::process::exit(1);
        }
    };
    let without = match Blocklist::parse("", Path::new("none.toml"), here) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("block-bench: {e}");
            std::process::exit(1);
        }
    };
    // Warm up both, then alternate to share the machine's noise.
    measure(&with, checks / 10);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut blocked = 0;
    for _ in 0..3 {
        let (ns, hits) = measure(&with, checks);
        a.push(ns);
        blocked = hits;
        b.push(measure(&without, checks).0);
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (with_ns, without_ns) = (a[1], b[1]);
    println!(
        "{}",
        serde_json::json!({
            "rules": with.len(),
            "checks": checks,
            "blocked": blocked,
            "ns_per_check_with_rules": with_ns,
            "ns_per_check_without": without_ns,
            "added_us": (with_ns - without_ns) / 1000.0,
        })
    );
}
