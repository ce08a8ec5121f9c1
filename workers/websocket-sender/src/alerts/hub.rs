//! Moderators who asked for alerts, and the fan-out of each alert to those
//! whose token covers the alert's room.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::record::AlertRecord;
use crate::auth::Grant;
use crate::fanout::outbox::{Outbox, ALERT};
use crate::protocol::alert_frame;

/// A moderator's queue and what its token allows.
type Listener = (Arc<Outbox>, Arc<Grant>);

/// Connections subscribed to alerts.
#[derive(Debug, Default)]
pub struct AlertHub {
    listeners: Mutex<HashMap<u64, Listener>>,
}

impl AlertHub {
    /// Adds a connection (the caller checked its role).
    pub fn add(&self, conn: u64, outbox: Arc<Outbox>, grant: Arc<Grant>) {
        self.lock().insert(conn, (outbox, grant));
    }

    /// Removes a connection.
    pub fn remove(&self, conn: u64) {
        self.lock().remove(&conn);
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<u64, Listener>> {
        self.listeners.lock()
    }

    /// Queues an alert for every moderator allowed to see its room; returns
    /// how many got it.
    pub fn publish(&self, alert: &AlertRecord) -> usize {
        let frame = alert_frame(&alert.json);
        let mut delivered = 0;
        self.lock().retain(|_, (outbox, grant)| {
            if !grant.sees_moderators() || !grant.allows_room(&alert.room_id) {
                return true;
            }
            if outbox.push(frame.clone(), ALERT) {
                delivered += 1;
                true
            } else {
                false
            }
        });
        delivered
    }
}
