//! The static dashboard test's reading of the deploy files: promtool, the
//! rule files and their `expr`s, small YAML values.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dashboards::repo;

/// `promtool`, asserted installed.
pub fn promtool() -> &'static str {
    let found = Command::new("promtool").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "promtool not found (Debian package prometheus); run deploy/local/install.sh"
    );
    "promtool"
}

/// Runs promtool in the repository; its output, asserted successful.
pub fn run_promtool(args: &[&str]) -> String {
    let output = Command::new(promtool())
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {} failed:\n{text}",
        args.join(" ")
    );
    text
}

/// The YAML files of `dir`, sorted.
pub fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `path` relative to the repository.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Every `expr` of the rule files (inline or block scalar), with its alert.
pub fn rule_exprs() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for file in yml_files(&repo().join("deploy/prometheus/rules")) {
        let text = std::fs::read_to_string(&file).expect("rules file");
        let lines: Vec<&str> = text.lines().collect();
        let mut alert = String::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let trimmed = line.trim_start();
            if let Some(name) = trimmed
                .strip_prefix("- alert:")
                .or(trimmed.strip_prefix("- record:"))
            {
                alert = name.trim().to_owned();
            }
            if let Some(value) = trimmed.strip_prefix("expr:") {
                let indent = line.len() - trimmed.len();
                let value = value.trim();
                let expr = if value.starts_with('|') || value.starts_with('>') {
                    let mut block = Vec::new();
                    while i + 1 < lines.len() {
                        let next = lines[i + 1];
                        let next_indent = next.len() - next.trim_start().len();
                        if !next.trim().is_empty() && next_indent <= indent {
                            break;
                        }
                        block.push(next.trim());
                        i += 1;
                    }
                    block.join("\n")
                } else {
                    value.to_owned()
                };
                out.push((relative(&file), alert.clone(), expr));
            }
            i += 1;
        }
    }
    out
}

/// The scalar value of `key:` in a small YAML file (first occurrence).
pub fn yaml_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim().trim_start_matches("- ");
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        Some(v.trim().trim_matches('"').to_owned())
    })
}
