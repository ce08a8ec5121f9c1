//! The moderation evaluation harness: a labelled chat corpus
//! ([`corpus`], JSONL under `tests/corpora/moderation/`) replayed at live
//! pace through the detector's own steps ([`replay`]: normalize →
//! evaluate → cross-room copies → incidents, with event time as the clock),
//! and the alerts scored against the labels ([`score`]): precision and
//! recall per category, false alerts per benign message, repeated alerts
//! per incident. Pure: no broker; `make eval-moderation` prints the table
//! and the crate's `eval_moderation` test asserts the targets.

pub mod corpus;
pub mod replay;
pub mod score;

pub use corpus::{Corpus, CorpusError, Line};
pub use replay::replay;
pub use score::{Score, Tally};
