//! Why a publish was refused: one enum, with the WebSocket error code and
//! the HTTP status docs/contracts.md gives each case.

/// A refused publish. Nothing was produced for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field is missing or breaks a rule (empty chat, bad id, bad kind).
    #[error("{0}")]
    Invalid(String),
    /// The content (or the whole request) is over its size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The token does not allow this (room not in the token, no `game`
    /// claim, a role that may not publish).
    #[error("{0}")]
    Forbidden(String),
    /// A moderation rule blocks this content.
    #[error("{0}")]
    Blocked(String),
    /// The user is muted or banned in this room.
    #[error("{0}")]
    Muted(String),
    /// Over the publish rate; try again after this many milliseconds.
    #[error("over the publish rate; retry in {retry_after_ms} ms")]
    RateLimited {
        /// When a retry may succeed.
        retry_after_ms: u64,
    },
    /// Kafka did not acknowledge the record: nothing was published.
    #[error("{0}")]
    Unavailable(String),
}

impl Refusal {
    /// Every value [`Self::label`] returns, for metrics to start at zero.
    pub const LABELS: [&'static str; 7] = [
        "invalid",
        "too_large",
        "forbidden",
        "blocked",
        "muted",
        "rate_limited",
        "unavailable",
    ];

    /// The WebSocket `error` frame code.
    pub fn code(&self) -> u16 {
        match self {
            Refusal::Invalid(_) | Refusal::TooLarge(_) => 4400,
            Refusal::Forbidden(_) => 4403,
            Refusal::Blocked(_) => 4422,
            Refusal::Muted(_) => 4423,
            Refusal::RateLimited { .. } => 4429,
            Refusal::Unavailable(_) => 4503,
        }
    }

    /// The HTTP status of the ingest endpoint.
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::Invalid(_) => 400,
            Refusal::TooLarge(_) => 413,
            Refusal::Forbidden(_) => 403,
            Refusal::Blocked(_) => 422,
            Refusal::Muted(_) => 423,
            Refusal::RateLimited { .. } => 429,
            Refusal::Unavailable(_) => 503,
        }
    }

    /// The `result` label of the publish metrics (a small fixed set).
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid",
            Refusal::TooLarge(_) => "too_large",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::Blocked(_) => "blocked",
            Refusal::Muted(_) => "muted",
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::Unavailable(_) => "unavailable",
        }
    }

    /// `retry_after_ms` for a rate refusal.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Refusal::RateLimited { retry_after_ms } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_contract() {
        let cases = [
            (Refusal::Invalid("x".into()), 4400, 400),
            (Refusal::TooLarge("x".into()), 4400, 413),
            (Refusal::Forbidden("x".into()), 4403, 403),
            (Refusal::Blocked("x".into()), 4422, 422),
            (Refusal::Muted("x".into()), 4423, 423),
            (Refusal::RateLimited { retry_after_ms: 5 }, 4429, 429),
            (Refusal::Unavailable("x".into()), 4503, 503),
        ];
        for (refusal, code, status) in cases {
            assert!(Refusal::LABELS.contains(&refusal.label()), "{refusal:?}");
            assert_eq!(refusal.code(), code, "{refusal:?}");
            assert_eq!(refusal.http_status(), status, "{refusal:?}");
        }
        assert_eq!(
            Refusal::RateLimited { retry_after_ms: 7 }.retry_after_ms(),
            Some(7)
        );
    }
}
