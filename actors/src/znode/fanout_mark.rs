//! The fan-out watermark: the zxid up to which every firing handed to a
//! ZnodeActor has reached its sessions' queues.
//!
//! Apply takes a [`FanoutTicket`] for each firing before it publishes the view
//! or answers a write of that zxid; the ZnodeActor drops it once the firing's
//! events are queued (a firing dropped unsent, with a stopped actor, drops it
//! too). A session writer that is about to send a reply at zxid R waits until
//! the mark reaches R, so every event at or below R is in its queue first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// The mark while no firing is in flight: every zxid is fanned out.
pub const ALL_FANNED_OUT: i64 = i64::MAX;

/// Firings in flight by zxid, and the published mark.
#[derive(Debug)]
pub struct FanoutMark {
    /// zxid → firings of that zxid not yet fanned out.
    pending: Mutex<BTreeMap<i64, usize>>,
    /// Every firing at or below the published zxid is fanned out.
    mark: watch::Sender<i64>,
}

impl FanoutMark {
    /// A mark with nothing in flight, and a receiver for session writers.
    pub fn new() -> (Arc<FanoutMark>, watch::Receiver<i64>) {
        let (mark, rx) = watch::channel(ALL_FANNED_OUT);
        let this = FanoutMark {
            pending: Mutex::new(BTreeMap::new()),
            mark,
        };
        (Arc::new(this), rx)
    }

    /// Marks one firing of `zxid` in flight until the ticket is dropped.
    pub fn ticket(self: &Arc<FanoutMark>, zxid: i64) -> FanoutTicket {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending.entry(zxid).or_default() += 1;
        self.publish(&pending);
        FanoutTicket {
            mark: Arc::clone(self),
            zxid,
        }
    }

    /// Firings in flight.
    pub fn in_flight(&self) -> usize {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.values().sum()
    }

    fn done(&self, zxid: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pending.get_mut(&zxid) {
            *n -= 1;
            if *n == 0 {
                pending.remove(&zxid);
            }
        }
        self.publish(&pending);
    }

    /// Publishes the zxid below the oldest firing in flight (called under the lock).
    fn publish(&self, pending: &BTreeMap<i64, usize>) {
        let mark = pending
            .first_key_value()
            .map_or(ALL_FANNED_OUT, |(z, _)| z.saturating_sub(1));
        self.mark.send_if_modified(|m| {
            let changed = *m != mark;
            *m = mark;
            changed
        });
    }
}

/// One firing in flight; dropping it marks the firing fanned out.
#[derive(Debug)]
pub struct FanoutTicket {
    mark: Arc<FanoutMark>,
    zxid: i64,
}

impl Drop for FanoutTicket {
    fn drop(&mut self) {
        self.mark.done(self.zxid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_stays_below_the_oldest_firing_in_flight() {
        let (mark, rx) = FanoutMark::new();
        assert_eq!(*rx.borrow(), ALL_FANNED_OUT);
        let a = mark.ticket(10);
        let b = mark.ticket(12);
        let c = mark.ticket(10);
        assert_eq!(*rx.borrow(), 9);
        drop(b);
        assert_eq!(*rx.borrow(), 9, "zxid 10 is still in flight");
        drop(a);
        assert_eq!(*rx.borrow(), 9, "one firing of zxid 10 is left");
        assert_eq!(mark.in_flight(), 1);
        drop(c);
        assert_eq!(*rx.borrow(), ALL_FANNED_OUT);
        assert_eq!(mark.in_flight(), 0);
    }
}
