//! The moderation evaluation: replays labelled corpora through the
//! detector's steps and prints precision and recall per category and the
//! false-alert rate per corpus (language), as Markdown.
//!
//! `eval_moderation [--rules FILE] [--verbose] CORPUS.jsonl…` (defaults:
//! `deploy/anomaly-detector/rules.toml`, `tests/corpora/moderation/{en,ko}.jsonl`).

use std::path::{Path, PathBuf};

use anomaly_detector::eval::{replay, Corpus, Score};
use anomaly_detector::rules::RuleSet;

fn main() {
    if let Err(e) = run() {
        eprintln!("eval_moderation: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut rules = PathBuf::from("deploy/anomaly-detector/rules.toml");
    let mut verbose = false;
    let mut corpora = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rules" => rules = args.next().ok_or("--rules needs a file")?.into(),
            "--verbose" => verbose = true,
            _ => corpora.push(PathBuf::from(arg)),
        }
    }
    if corpora.is_empty() {
        corpora = ["en", "ko"]
            .iter()
            .map(|l| Path::new("tests/corpora/moderation").join(format!("{l}.jsonl")))
            .collect();
    }
    let rules = RuleSet::load(&rules).map_err(|e| e.to_string())?;
    for path in corpora {
        let corpus = Corpus::load(&path).map_err(|e| e.to_string())?;
        let score = Score::of(&corpus, &replay(&rules, &corpus));
        println!("{}", score.table());
        if verbose {
            for example in &score.false_examples {
                println!("false alert: {example}");
            }
            println!("missed: {:?}\n", score.missed);
        }
    }
    Ok(())
}
