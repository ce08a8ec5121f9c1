//! Alerts: the `moderation-alerts` group's records ([`record`]) go through
//! [`fanout`] to the [`hub`] of moderators who asked for alerts, each queued
//! to those whose token covers the alert's room.

pub mod fanout;
pub mod hub;
pub mod record;

pub use fanout::AlertFanout;
pub use hub::AlertHub;
pub use record::AlertRecord;
