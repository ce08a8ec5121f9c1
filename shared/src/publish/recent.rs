//! Recently acknowledged publishes, keyed by (`sub`, `client_msg_id`), so a
//! client's retry is answered with the first attempt's outcome and
//! produces nothing new. An attempt still in flight is awaited, not
//! repeated; a failed one is forgotten so the retry tries again. Entries
//! live for a fixed time (10 minutes by default), and at most `capacity`
//! are held (the oldest go first).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::producer::Produced;
use super::refusal::Refusal;

/// How a publish ended: where it landed, or why it was refused.
pub type Outcome = Result<(String, Produced), Refusal>;

/// What [`RecentPublishes::claim`] found.
pub enum Claim {
    /// First time: publish, then [`Ticket::finish`].
    New(Ticket),
    /// A retry: its first attempt's outcome, awaited with [`Pending::wait`].
    Retry(Pending),
}

/// The right to publish one key; report its outcome with [`Self::finish`].
/// Dropped unfinished, the key is forgotten (the retry tries again).
pub struct Ticket {
    key: String,
    tx: watch::Sender<Option<Outcome>>,
    owner: Arc<Mutex<Inner>>,
    finished: bool,
}

impl Ticket {
    /// Reports the outcome to every retry waiting, and keeps it for later
    /// ones if the publish succeeded.
    pub fn finish(mut self, outcome: Outcome) {
        if outcome.is_err() {
            self.owner.lock().entries.remove(&self.key);
        }
        self.tx.send_replace(Some(outcome));
        self.finished = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished {
            self.owner.lock().entries.remove(&self.key);
            self.tx.send_replace(Some(Err(Refusal::Unavailable(
                "the first attempt was abandoned; retry".to_owned(),
            ))));
        }
    }
}

/// A retry's view of the first attempt.
pub struct Pending(watch::Receiver<Option<Outcome>>);

impl Pending {
    /// The first attempt's outcome, once it has one.
    pub async fn wait(mut self) -> Outcome {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err(Refusal::Unavailable("no outcome".to_owned()))),
            Err(_) => Err(Refusal::Unavailable(
                "the first attempt was abandoned; retry".to_owned(),
            )),
        }
    }
}

struct Entry {
    at: Instant,
    rx: watch::Receiver<Option<Outcome>>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    order: VecDeque<(Instant, String)>,
}

/// The recent publishes of one process. Cheap to clone.
#[derive(Clone)]
pub struct RecentPublishes {
    inner: Arc<Mutex<Inner>>,
    ttl: Duration,
    capacity: usize,
}

impl RecentPublishes {
    /// Remembers outcomes for `ttl`, at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        RecentPublishes {
            inner: Arc::new(Mutex::new(Inner::default())),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// Claims (`sub`, `client_msg_id`) at `now`.
    pub fn claim(&self, sub: &str, client_msg_id: &str, now: Instant) -> Claim {
        let key = format!("{sub}\u{0}{client_msg_id}");
        let mut inner = self.inner.lock();
        self.expire(&mut inner, now);
        if let Some(entry) = inner.entries.get(&key) {
            return Claim::Retry(Pending(entry.rx.clone()));
        }
        let (tx, rx) = watch::channel(None);
        inner.entries.insert(key.clone(), Entry { at: now, rx });
        inner.order.push_back((now, key.clone()));
        Claim::New(Ticket {
            key,
            tx,
            owner: Arc::clone(&self.inner),
            finished: false,
        })
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(&self, inner: &mut Inner, now: Instant) {
        while let Some((at, key)) = inner.order.front() {
            let old = now.saturating_duration_since(*at) >= self.ttl;
            if !old && inner.entries.len() < self.capacity {
                break;
            }
            // The entry may have been removed (failed) or claimed again later.
            if inner.entries.get(key).is_some_and(|e| e.at == *at) {
                inner.entries.remove(key);
            }
            inner.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produced(offset: i64) -> Outcome {
        Ok((
            "m".to_owned(),
            Produced {
                partition: 3,
                offset,
            },
        ))
    }

    #[tokio::test]
    async fn a_retry_gets_the_first_outcome() {
        let recent = RecentPublishes::new(Duration::from_secs(600), 100);
        let t = Instant::now();
        let Claim::New(ticket) = recent.claim("u", "c1", t) else {
            panic!("first claim is new")
        };
        let Claim::Retry(pending) = recent.claim("u", "c1", t) else {
            panic!("second claim is a retry")
        };
        ticket.finish(produced(42));
        assert_eq!(pending.wait().await, produced(42));
        let Claim::Retry(later) = recent.claim("u", "c1", t) else {
            panic!("still remembered")
        };
        assert_eq!(later.wait().await, produced(42));
        // Another user's same key is another message.
        assert!(matches!(recent.claim("v", "c1", t), Claim::New(_)));
    }

    #[tokio::test]
    async fn a_failed_attempt_is_forgotten() {
        let recent = RecentPublishes::new(Duration::from_secs(600), 100);
        let t = Instant::now();
        let Claim::New(ticket) = recent.claim("u", "c1", t) else {
            panic!("new")
        };
        ticket.finish(Err(Refusal::Unavailable("down".into())));
        assert!(matches!(recent.claim("u", "c1", t), Claim::New(_)));
    }

    #[tokio::test]
    async fn an_abandoned_attempt_releases_its_waiters() {
        let recent = RecentPublishes::new(Duration::from_secs(600), 100);
        let t = Instant::now();
        let Claim::New(ticket) = recent.claim("u", "c1", t) else {
            panic!("new")
        };
        let Claim::Retry(pending) = recent.claim("u", "c1", t) else {
            panic!("retry")
        };
        drop(ticket);
        assert!(pending.wait().await.is_err());
        assert!(matches!(recent.claim("u", "c1", t), Claim::New(_)));
    }

    #[test]
    fn entries_expire_and_are_capped() {
        let recent = RecentPublishes::new(Duration::from_secs(600), 2);
        let t = Instant::now();
        for key in ["a", "b", "c"] {
            if let Claim::New(ticket) = recent.claim("u", key, t) {
                ticket.finish(produced(1));
            }
        }
        assert_eq!(recent.len(), 2, "the oldest went first");
        assert!(matches!(recent.claim("u", "a", t), Claim::New(_)));
        let later = t + Duration::from_secs(601);
        let Claim::New(ticket) = recent.claim("u", "x", later) else {
            panic!("new")
        };
        assert_eq!(recent.len(), 1, "the old ones expired");
        ticket.finish(produced(2));
        assert_eq!(recent.len(), 1);
    }
}
