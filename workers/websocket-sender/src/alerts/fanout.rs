//! The `moderation-alerts` group's step: each decoded alert goes to the
//! [`AlertHub`].

use std::sync::Arc;

use parley_shared::runtime::{Envelope, Pipeline, Progress};

use super::hub::AlertHub;
use super::record::AlertRecord;

/// `moderation-alerts` → moderators who asked for alerts. A restarted
/// instance resumes from its group's committed offset, so alerts raised
/// while it was down still reach moderators who reconnect quickly.
pub struct AlertFanout {
    hub: Arc<AlertHub>,
}

impl AlertFanout {
    /// A fan-out into `hub`.
    pub fn new(hub: Arc<AlertHub>) -> Self {
        AlertFanout { hub }
    }
}

impl Pipeline for AlertFanout {
    type Item = AlertRecord;

    fn submit(&mut self, record: Envelope<AlertRecord>) -> Result<Progress, Envelope<AlertRecord>> {
        self.hub.publish(&record.value);
        Ok(Progress::Done)
    }
}
