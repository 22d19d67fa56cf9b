//! The fan-out mark: the oldest firing handed to a ZnodeActor whose events
//! are not all queued yet, by (zxid, change).
//!
//! Apply takes a [`FanoutTicket`] for each firing before it publishes the view
//! or answers a write of that zxid; the ZnodeActor drops it once the firing's
//! events are queued (a firing dropped unsent, with a stopped actor, drops it
//! too). So every event ordered before the mark is queued, and so is every
//! event of the marked firing that has reached a session's queue. A session
//! writer may then send:
//! - a queued event at or before the mark (nothing before it can still come);
//! - a reply at zxid R once the mark is past R (every event up to R is queued).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// Where a firing goes among the events of a session: (zxid, change in entry).
pub type FiringKey = (i64, u32);

/// The mark while no firing is in flight: every event is fanned out.
pub const ALL_FANNED_OUT: FiringKey = (i64::MAX, u32::MAX);

/// Firings in flight by key, and the published mark.
#[derive(Debug)]
pub struct FanoutMark {
    /// key → firings of that key not yet fanned out.
    pending: Mutex<BTreeMap<FiringKey, usize>>,
    /// The oldest key in flight.
    mark: watch::Sender<FiringKey>,
}

impl FanoutMark {
    /// A mark with nothing in flight, and a receiver for session writers.
    pub fn new() -> (Arc<FanoutMark>, watch::Receiver<FiringKey>) {
        let (mark, rx) = watch::channel(ALL_FANNED_OUT);
        let this = FanoutMark {
            pending: Mutex::new(BTreeMap::new()),
            mark,
        };
        (Arc::new(this), rx)
    }

    /// Marks one firing of `key` in flight until the ticket is dropped.
    pub fn ticket(self: &Arc<FanoutMark>, key: FiringKey) -> FanoutTicket {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending.entry(key).or_default() += 1;
        self.publish(&pending);
        FanoutTicket {
            mark: Arc::clone(self),
            key,
        }
    }

    /// Firings in flight.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.values().sum()
    }

    fn done(&self, key: FiringKey) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pending.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&key);
            }
        }
        self.publish(&pending);
    }

    /// Publishes the oldest key in flight (called under the lock).
    fn publish(&self, pending: &BTreeMap<FiringKey, usize>) {
        let mark = pending
            .first_key_value()
            .map_or(ALL_FANNED_OUT, |(k, _)| *k);
        self.mark.send_if_modified(|m| {
            let changed = *m != mark;
            *m = mark;
            changed
        });
    }
}

/// Whether a reply at `zxid` may go out under `mark`: every event up to it is queued.
pub fn reply_may_pass(mark: FiringKey, zxid: i64) -> bool {
    mark.0 > zxid
}

/// One firing in flight; dropping it marks the firing fanned out.
#[derive(Debug)]
pub struct FanoutTicket {
    mark: Arc<FanoutMark>,
    key: FiringKey,
}

impl Drop for FanoutTicket {
    fn drop(&mut self) {
        self.mark.done(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_the_oldest_firing_in_flight() {
        let (mark, rx) = FanoutMark::new();
        assert_eq!(*rx.borrow(), ALL_FANNED_OUT);
        let a = mark.ticket((10, 2));
        let b = mark.ticket((12, 1));
        let c = mark.ticket((10, 2));
        let d = mark.ticket((10, 3));
        assert_eq!(*rx.borrow(), (10, 2));
        assert!(reply_may_pass(*rx.borrow(), 9));
        assert!(!reply_may_pass(*rx.borrow(), 10));
        drop(b);
        assert_eq!(*rx.borrow(), (10, 2), "zxid 10 is still in flight");
        drop(a);
        assert_eq!(*rx.borrow(), (10, 2), "one firing of (10, 2) is left");
        drop(c);
        assert_eq!(*rx.borrow(), (10, 3));
        assert_eq!(mark.in_flight(), 1);
        drop(d);
        assert_eq!(*rx.borrow(), ALL_FANNED_OUT);
        assert!(reply_may_pass(*rx.borrow(), i64::MAX - 1));
        assert_eq!(mark.in_flight(), 0);
    }
}
