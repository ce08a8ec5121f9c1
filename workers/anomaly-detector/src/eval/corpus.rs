//! A labelled corpus: one JSON object per line, in time order (see
//! `tests/corpora/moderation/build.py` for the fields).

use std::path::Path;

use parley_shared::GameMessage;
use serde::Deserialize;

/// One labelled message.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    /// Milliseconds since the corpus start.
    pub t: i64,
    /// Room id.
    pub room: String,
    /// User id.
    pub user: String,
    /// `chat` or `join`.
    #[serde(default = "chat")]
    pub kind: String,
    /// The message text.
    #[serde(default)]
    pub text: String,
    /// `benign` or the incident's Alert v1 category.
    pub label: String,
    /// The incident it belongs to (none for benign lines).
    #[serde(default)]
    pub incident: Option<String>,
    /// Other categories the incident may fairly be alerted under.
    #[serde(default)]
    pub also: Vec<String>,
}

fn chat() -> String {
    "chat".into()
}

/// A corpus, its lines in time order.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Name (the file stem, e.g. `en`).
    pub name: String,
    /// Lines, sorted by `t`.
    pub lines: Vec<Line>,
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// A line is not a valid record.
    #[error("{0} line {1}: {2}")]
    Line(String, usize, String),
}

/// When the corpus starts (an arbitrary fixed epoch time, ms).
pub const START_MS: i64 = 1_800_000_000_000;

impl Corpus {
    /// Reads a JSONL corpus file.
    pub fn load(path: &Path) -> Result<Corpus, CorpusError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| CorpusError::Read(shown.clone(), e))?;
        let name = path
            .file_stem()
            .map_or_else(|| shown.clone(), |s| s.to_string_lossy().into_owned());
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(raw)
                .map_err(|e| CorpusError::Line(shown.clone(), i + 1, e.to_string()))?;
            lines.push(line);
        }
        lines.sort_by_key(|l| l.t);
        Ok(Corpus { name, lines })
    }

    /// Line `index` as the GameMessage a game server would send (its
    /// `message_id` is `<corpus>-<index>`).
    pub fn message(&self, index: usize) -> Option<GameMessage> {
        let line = self.lines.get(index)?;
        let json = serde_json::json!({
            "v": 1, "message_id": format!("{}-{index}", self.name), "game_id": "eval",
            "room_id": line.room, "user_id": line.user, "kind": line.kind,
            "content": line.text, "sent_at": START_MS + line.t,
        });
        GameMessage::decode(json.to_string().as_bytes()).ok()
    }

    /// The line index a `message_id` of [`Corpus::message`] names.
    pub fn index_of(&self, message_id: &str) -> Option<usize> {
        message_id
            .strip_prefix(self.name.as_str())?
            .strip_prefix('-')?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_messages_and_ids_lead_back() {
        let corpus = Corpus {
            name: "en".into(),
            lines: vec![Line {
                t: 5,
                room: "r".into(),
                user: "u".into(),
                kind: "chat".into(),
                text: "gg".into(),
                label: "benign".into(),
                incident: None,
                also: vec![],
            }],
        };
        let m = corpus.message(0).expect("a message");
        assert_eq!(m.sent_at, START_MS + 5);
        assert_eq!(corpus.index_of(&m.message_id), Some(0));
        assert_eq!(corpus.index_of("ko-0"), None);
    }
}
