//! Abuse limits: how many frames one client may send (a token bucket; a
//! client over it is closed with 4429), and how many connections one
//! address may hold at once (more are refused with HTTP 429).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Instant;

/// A client's frame allowance: `rate` frames per second on average, up to
/// `burst` at once (a reconnect subscribes to all its rooms in one go).
#[derive(Debug, Clone)]
pub struct FrameBudget {
    tokens: f32,
    burst: f32,
    rate: f32,
    last: Instant,
}

impl FrameBudget {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        FrameBudget {
            tokens: burst as f32,
            burst: burst as f32,
            rate: rate as f32,
            last: now,
        }
    }

    /// Takes one frame's token; false when the client is over its budget.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Open connections per client address, capped.
#[derive(Debug)]
pub struct AddressLimits {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct AddressGuard {
    limits: Arc<AddressLimits>,
    ip: IpAddr,
}

impl AddressLimits {
    /// At most `max` connections per address (0: no limit).
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(AddressLimits {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `ip`, or `None` when it holds
    /// its maximum already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressGuard> {
        let mut open = self.open.lock();
        let count = open.entry(ip).or_insert(0);
        if self.max > 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressGuard {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Connections open from `ip`.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock();
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut budget = FrameBudget::new(10, 5, start);
        assert!((0..5).all(|_| budget.take(start)));
        assert!(!budget.take(start), "burst spent");
        let later = start + Duration::from_millis(200); // two tokens back
        assert!(budget.take(later) && budget.take(later));
        assert!(!budget.take(later));
        let much_later = later + Duration::from_secs(60);
        assert_eq!(
            (0..10).filter(|_| budget.take(much_later)).count(),
            5,
            "capped at burst"
        );
    }

    #[test]
    fn addresses_are_capped_and_freed() {
        let limits = AddressLimits::new(2);
        let ip: IpAddr = [127, 0, 0, 7].into();
        let other: IpAddr = [127, 0, 0, 8].into();
        let a = limits.admit(ip).expect("first");
        let _b = limits.admit(ip).expect("second");
        assert!(limits.admit(ip).is_none(), "third refused");
        assert!(limits.admit(other).is_some(), "other addresses unaffected");
        drop(a);
        assert_eq!(limits.open(ip), 1);
        assert!(limits.admit(ip).is_some(), "a freed place is reused");
        let unlimited = AddressLimits::new(0);
        let guards: Vec<_> = (0..100).filter_map(|_| unlimited.admit(ip)).collect();
        assert_eq!(guards.len(), 100);
        drop(guards);
        assert_eq!(unlimited.open(ip), 0);
    }
}
