//! What can go wrong, typed where the caller (or the operator) acts on it.

use rdkafka::error::KafkaError;

/// A failed admin command; its text is the one line the operator sees.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A broker request failed.
    #[error("{what}: {source}")]
    Kafka {
        /// What was being done.
        what: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The topic does not exist (or has no partitions).
    #[error("topic {0:?} does not exist")]
    NoSuchTopic(String),
    /// The command would be unsafe; nothing was changed.
    #[error("refused: {0}")]
    Refused(String),
    /// A flag value that cannot be used.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Talking to a worker's metrics address failed.
    #[error("{url}: {message}")]
    Http {
        /// The URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl AdminError {
    /// A Kafka error with what was being done.
    pub fn kafka(what: &'static str, source: KafkaError) -> Self {
        AdminError::Kafka { what, source }
    }
}
