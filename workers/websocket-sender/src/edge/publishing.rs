//! Players and game servers publishing through this instance: the one path
//! behind the WebSocket `publish` op and `POST /v1/rooms/{room}/messages`
//! (docs/contracts.md, "Publishing").
//!
//! Steps: room allowed by the token → the user not muted or banned there
//! ([`Moderation`]) → message built from the token
//! (`parley_shared::publish::build_message`, the decoder's validation) → a
//! retry of a recent `client_msg_id` answered from [`RecentPublishes`] →
//! the user's (and the room's) rate → the block rules ([`Blocking`]) →
//! produced with `acks=all` → answered
//! with the record's `pos` only after the brokers acknowledged it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use parley_shared::metrics::now_ms;
use parley_shared::publish::recent::{Claim, Pending, Ticket};
use parley_shared::publish::{
    build_message, Delivery, MessageProducer, ProduceError, Produced, PublishRequest, Publisher,
    PublisherRole, RateLimiter, RecentPublishes, Refusal,
};
use rdkafka::error::KafkaError;

use crate::auth::{Grant, Role};
use crate::config::PublishLimits;
use crate::metrics::PublishMetrics;
use crate::moderation::Moderation;

use super::blocking::Blocking;
use crate::protocol::Pos;

/// A publish Kafka acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The record's `message_id`.
    pub message_id: String,
    /// Its position, in the message frames' form.
    pub pos: Pos,
}

/// A publish checked and queued, its acknowledgement to come.
pub struct Started(Stage);

enum Stage {
    /// Queued to Kafka.
    Produce {
        ticket: Ticket,
        delivery: Delivery,
        message_id: String,
        at: Instant,
    },
    /// A retry of a recent `client_msg_id`: the first attempt's outcome.
    Retry(Pending),
}

fn published((message_id, produced): (String, Produced)) -> Published {
    Published {
        message_id,
        pos: Pos {
            partition: produced.partition,
            offset: produced.offset,
        },
    }
}

fn unavailable(error: &ProduceError) -> Refusal {
    tracing::warn!(%error, "publish not acknowledged by Kafka");
    Refusal::Unavailable(
        "Kafka did not acknowledge the message; nothing was published, retry".to_owned(),
    )
}

/// The publish path of one process.
pub struct Publishing {
    producer: MessageProducer,
    recent: RecentPublishes,
    users: Mutex<RateLimiter>,
    rooms: Option<Mutex<RateLimiter>>,
    limits: PublishLimits,
    metrics: PublishMetrics,
    last_sweep: Mutex<Instant>,
    moderation: Arc<Moderation>,
    blocking: Arc<Blocking>,
}

impl Publishing {
    /// A producer for `topic` with the shared client `properties`.
    pub fn new(
        properties: &BTreeMap<String, String>,
        topic: &str,
        client_id: &str,
        limits: PublishLimits,
        metrics: PublishMetrics,
        moderation: Arc<Moderation>,
        blocking: Arc<Blocking>,
    ) -> Result<Self, KafkaError> {
        Ok(Publishing {
            producer: MessageProducer::new(properties, topic, client_id, limits.delivery_timeout)?,
            recent: RecentPublishes::new(limits.retry_window, limits.retry_capacity),
            users: Mutex::new(RateLimiter::new(limits.user)),
            rooms: limits.room.map(|r| Mutex::new(RateLimiter::new(r))),
            limits,
            metrics,
            last_sweep: Mutex::new(Instant::now()),
            moderation,
            blocking,
        })
    }

    /// Limits in force.
    pub fn limits(&self) -> &PublishLimits {
        &self.limits
    }

    /// Publishes `request` to `room_id` as `grant`'s holder: [`Self::start`]
    /// then [`Self::finish`].
    pub async fn publish(
        &self,
        grant: &Grant,
        room_id: &str,
        request: PublishRequest,
    ) -> Result<Published, Refusal> {
        let started = self.start(grant, room_id, request);
        self.finish(started).await
    }

    /// Checks, builds and queues a publish, synchronously, so publishes
    /// started one after another reach Kafka in that order.
    pub fn start(
        &self,
        grant: &Grant,
        room_id: &str,
        request: PublishRequest,
    ) -> Result<Started, Refusal> {
        let now = Instant::now();
        if !grant.allows_room(room_id) {
            return Err(Refusal::Forbidden("room not allowed by token".to_owned()));
        }
        if !self.moderation.caught_up() {
            return Err(Refusal::Unavailable(
                "this instance is still reading the moderation actions; retry".to_owned(),
            ));
        }
        if let Some(held) = self.moderation.held(room_id, &grant.user, now_ms()) {
            return Err(Refusal::Muted(held.reason()));
        }
        let publisher = Publisher {
            sub: grant.user.clone(),
            game: grant.game.clone(),
            role: match grant.role {
                Role::Service => PublisherRole::Service,
                Role::Viewer | Role::Moderator | Role::Admin => PublisherRole::Player,
            },
        };
        let client_msg_id = request.client_msg_id.clone();
        let message = build_message(&publisher, room_id, request, now_ms())?;
        let ticket = match self.recent.claim(&publisher.sub, &client_msg_id, now) {
            Claim::Retry(pending) => {
                self.metrics.retries.inc();
                return Ok(Started(Stage::Retry(pending)));
            }
            Claim::New(ticket) => ticket,
        };
        if let Err(refusal) = self.take_rate(&publisher, room_id, now) {
            ticket.finish(Err(refusal.clone()));
            return Err(refusal);
        }
        if let Some(refusal) = self.blocking.check(&message, grant.role.as_str()) {
            ticket.finish(Err(refusal.clone()));
            return Err(refusal);
        }
        match self.producer.enqueue(&message) {
            Ok(delivery) => Ok(Started(Stage::Produce {
                ticket,
                delivery,
                message_id: message.message_id,
                at: now,
            })),
            Err(error) => {
                let refusal = unavailable(&error);
                ticket.finish(Err(refusal.clone()));
                Err(refusal)
            }
        }
    }

    /// Waits for Kafka's acknowledgement of a started publish (or for the
    /// first attempt of a retried one) and counts the result.
    pub async fn finish(&self, started: Result<Started, Refusal>) -> Result<Published, Refusal> {
        let result = match started {
            Err(refusal) => Err(refusal),
            Ok(Started(Stage::Retry(pending))) => pending.wait().await.map(published),
            Ok(Started(Stage::Produce {
                ticket,
                delivery,
                message_id,
                at,
            })) => {
                let mut delivery = Box::pin(delivery.wait());
                let left = self.limits.delivery_timeout.saturating_sub(at.elapsed());
                match tokio::time::timeout(left, &mut delivery).await {
                    Ok(delivered) => {
                        let outcome = match delivered {
                            Ok(produced) => {
                                self.metrics.ack_latency.observe(at.elapsed().as_secs_f64());
                                Ok((message_id, produced))
                            }
                            Err(error) => Err(unavailable(&error)),
                        };
                        ticket.finish(outcome.clone());
                        outcome.map(published)
                    }
                    Err(_) => {
                        // Not acknowledged in time: the client hears 4503 now.
                        // librdkafka still holds the record until its own
                        // timeout; its outcome settles the retry window, so a
                        // retry meanwhile waits for it and a late success is
                        // answered with the same id (never a second record).
                        tokio::spawn(async move {
                            let outcome = match delivery.await {
                                Ok(produced) => Ok((message_id, produced)),
                                Err(error) => Err(unavailable(&error)),
                            };
                            ticket.finish(outcome);
                        });
                        Err(Refusal::Unavailable(
                            "Kafka did not acknowledge the message in time; retry with the same client_msg_id"
                                .to_owned(),
                        ))
                    }
                }
            }
        };
        let label = match &result {
            Ok(_) => "ok",
            Err(refusal) => refusal.label(),
        };
        self.metrics.publishes.with_label_values(&[label]).inc();
        self.metrics.queued.set(i64::from(self.producer.queued()));
        result
    }

    /// Takes a token from the user's and the room's buckets (game servers
    /// are limited per room only).
    fn take_rate(&self, publisher: &Publisher, room_id: &str, now: Instant) -> Result<(), Refusal> {
        self.sweep(now);
        let limited = |wait: Duration| Refusal::RateLimited {
            retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
        };
        let user_checked = publisher.role == PublisherRole::Player;
        if user_checked {
            self.users
                .lock()
                .check(&publisher.sub, now)
                .map_err(limited)?;
        }
        if let Some(rooms) = &self.rooms {
            if let Err(wait) = rooms.lock().check(room_id, now) {
                if user_checked {
                    self.users.lock().refund(&publisher.sub);
                }
                return Err(limited(wait));
            }
        }
        Ok(())
    }

    /// Forgets full buckets every few seconds, so memory follows active users.
    fn sweep(&self, now: Instant) {
        let mut last = self.last_sweep.lock();
        if now.saturating_duration_since(*last) < Duration::from_secs(5) {
            return;
        }
        *last = now;
        drop(last);
        self.users.lock().sweep(now);
        if let Some(rooms) = &self.rooms {
            rooms.lock().sweep(now);
        }
    }

    /// Waits up to `timeout` for records still queued (at shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "publishes still queued at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{now_secs, Claims, TokenKeys};
    use parley_shared::config::Secret;
    use parley_shared::metrics::RuntimeMetrics;
    use parley_shared::publish::RateLimit;

    /// A publish path whose producer points at a port nothing listens on:
    /// everything before Kafka is exercised, and Kafka never acknowledges.
    fn unreachable(limits: PublishLimits) -> Publishing {
        with_moderation(limits, ready())
    }

    fn ready() -> Arc<Moderation> {
        let moderation = Arc::new(Moderation::default());
        moderation.set_caught_up();
        moderation
    }

    fn with_moderation(limits: PublishLimits, moderation: Arc<Moderation>) -> Publishing {
        let metrics = RuntimeMetrics::new("websocket-sender", "test").expect("metrics");
        let properties =
            BTreeMap::from([("bootstrap.servers".to_owned(), "127.0.0.1:1".to_owned())]);
        Publishing::new(
            &properties,
            "game-messages",
            "test",
            limits,
            PublishMetrics::register(&metrics).expect("publish metrics"),
            moderation,
            Arc::new(Blocking::load(None, None).expect("no block rules")),
        )
        .expect("producer")
    }

    #[tokio::test]
    async fn a_muted_or_banned_user_is_refused_4423_and_nothing_is_published_before_the_actions_are_read(
    ) {
        use parley_shared::action::{ActionKind, ModerationAction};
        let moderation = Arc::new(Moderation::default());
        let publishing = with_moderation(limits(), Arc::clone(&moderation));
        let player = grant(Role::Viewer, &["*"], Some("g1"));
        let code = |r: Result<Published, Refusal>| r.map_err(|e| e.code()).err();
        assert_eq!(
            code(publishing.publish(&player, "r1", request("a")).await),
            Some(4503),
            "still reading the actions"
        );
        moderation.set_caught_up();
        let mute = ModerationAction {
            v: 1,
            action_id: "a1".into(),
            action: ActionKind::Mute,
            room_id: "r1".into(),
            user_id: Some("p1".into()),
            message_id: None,
            until: None,
            reason: String::new(),
            actor: "mod".into(),
            alert_id: None,
            created_at: 1,
        };
        moderation.ledger().write().apply(&mute, now_ms());
        let refused = publishing.publish(&player, "r1", request("b")).await;
        assert_eq!(code(refused.clone()), Some(4423));
        assert!(refused
            .err()
            .is_some_and(|r| r.to_string().contains("muted")));
        let ban = ModerationAction {
            action: ActionKind::Ban,
            room_id: "r2".into(),
            ..mute
        };
        moderation.ledger().write().apply(&ban, now_ms());
        assert_eq!(
            code(publishing.publish(&player, "r2", request("c")).await),
            Some(4423)
        );
    }

    fn limits() -> PublishLimits {
        PublishLimits {
            user: RateLimit {
                per_second: 1.0,
                burst: 2.0,
            },
            room: None,
            max_unacked: 8,
            delivery_timeout: Duration::from_millis(300),
            retry_window: Duration::from_secs(600),
            retry_capacity: 100,
        }
    }

    fn grant(role: Role, rooms: &[&str], game: Option<&str>) -> Grant {
        let keys = TokenKeys::from_config(
            Some(&Secret::new("a-test-secret-of-at-least-32-bytes!")),
            None,
        )
        .expect("keys");
        let token = keys
            .mint(&Claims {
                sub: "p1".into(),
                role,
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
                exp: now_secs() + 600,
                game: game.map(str::to_owned),
            })
            .expect("mint");
        keys.verify(&token).expect("verify")
    }

    fn request(key: &str) -> PublishRequest {
        PublishRequest {
            content: "hello".into(),
            client_msg_id: key.into(),
            ..PublishRequest::default()
        }
    }

    #[tokio::test]
    async fn refusals_before_kafka() {
        let publishing = unreachable(limits());
        let player = grant(Role::Viewer, &["r1"], Some("g1"));
        let code = |r: Result<Published, Refusal>| r.map_err(|e| e.code()).err();
        assert_eq!(
            code(publishing.publish(&player, "r2", request("a")).await),
            Some(4403)
        );
        let no_game = grant(Role::Viewer, &["r1"], None);
        assert_eq!(
            code(publishing.publish(&no_game, "r1", request("b")).await),
            Some(4403)
        );
        let empty = PublishRequest {
            content: " ".into(),
            ..request("c")
        };
        assert_eq!(
            code(publishing.publish(&player, "r1", empty).await),
            Some(4400)
        );
    }

    #[tokio::test]
    async fn kafka_unreachable_is_4503_in_time_and_a_retry_shares_the_first_outcome() {
        let publishing = unreachable(PublishLimits {
            user: RateLimit {
                per_second: 100.0,
                burst: 100.0,
            },
            ..limits()
        });
        let player = grant(Role::Viewer, &["*"], Some("g1"));
        let started = Instant::now();
        let got = publishing.publish(&player, "r1", request("k")).await;
        assert_eq!(got.map_err(|e| e.code()).err(), Some(4503));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "4503 at the delivery timeout"
        );
        // A retry while the producer still holds the first attempt waits for
        // its outcome (here a failure) and takes no rate token.
        let again = publishing.publish(&player, "r1", request("k")).await;
        assert_eq!(again.map_err(|e| e.code()).err(), Some(4503));
        // Once that attempt failed for good the key is forgotten: a retry is
        // a new attempt.
        let fresh = publishing.publish(&player, "r1", request("k")).await;
        assert_eq!(fresh.map_err(|e| e.code()).err(), Some(4503));
    }

    #[tokio::test]
    async fn a_service_is_not_held_to_the_player_rate() {
        let publishing = unreachable(PublishLimits {
            delivery_timeout: Duration::from_millis(100),
            ..limits()
        });
        let service = grant(Role::Service, &["*"], Some("g1"));
        for n in 0..4 {
            let got = publishing
                .publish(&service, "r1", request(&format!("s{n}")))
                .await;
            assert_eq!(got.map_err(|e| e.code()).err(), Some(4503), "not 4429");
        }
    }
}
