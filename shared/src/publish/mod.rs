//! Publishing: a player's or game server's message coming in through an
//! edge (websocket-sender's WebSocket `publish` op and HTTP ingest, later
//! MQTT), turned into a GameMessage v1 by the server and produced to
//! `game-messages` (docs/contracts.md, "Publishing").
//!
//! - [`request`]: what a client may send, and [`request::build_message`],
//!   which builds the record from the token's identity (never from the
//!   frame) and validates it with the same rules as the decoder.
//! - [`refusal`]: why a publish was refused, with its WebSocket code and
//!   HTTP status.
//! - [`rate`]: the per-user (and per-room) token buckets.
//! - [`recent`]: recently acknowledged `client_msg_id`s, so a retry answers
//!   with the same `message_id` and produces nothing new.
//! - [`producer`]: the idempotent, `acks=all` producer that answers with
//!   the record's partition and offset.

pub mod producer;
pub mod rate;
pub mod recent;
pub mod refusal;
pub mod request;

pub use producer::{Delivery, KeyedRecord, MessageProducer, ProduceError, Produced};
pub use rate::{RateLimit, RateLimiter};
pub use recent::RecentPublishes;
pub use refusal::Refusal;
pub use request::{build_message, message_id_for, PublishRequest, Publisher, PublisherRole};
