//! A follower's forwarded client writes that reach its peer queue while the
//! link to the leader is down (being dialled, or waiting to be redialled):
//! held in order and sent first, ahead of anything newer, once a link is up.
//!
//! ```text
//!  ReplicaActor ──Forward──► [peer queue] ──► PeerActor(leader), link down
//!                                               ├─ consensus messages: dropped (resent by consensus)
//!                                               └─ Forward: held ─► link up ─► sent first, in order
//! ```
//!
//! Forwards of one follower reach the leader in the order they were queued,
//! so a session's writes are proposed in the order it sent them; the held
//! ones are never overtaken. A forward held longer than [`HOLD_FOR`] (inside
//! the shortest request timeout), or beyond [`HELD_MAX`], is dropped: its
//! client hears ConnectionLoss at the request timeout, and since it was
//! never sent it is never applied, so no write of its session is applied out
//! of order. So is a forward held across a change of leader or term (a new
//! [`LeaderEpoch`]): the replica has answered it with ConnectionLoss, and the
//! session's next writes go to the new leader, which a late copy of it must
//! not follow.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use corral_transport::wire::PeerMessage;

/// Forwards held at most while a link is down.
pub const HELD_MAX: usize = 4_096;
/// How long a forward is held at most: inside the request timeout (10 s at
/// least), so a held write is sent only while its client still waits.
pub const HOLD_FOR: Duration = Duration::from_secs(8);

/// Counts the replica's changes of leader or term; shared with the peer tasks.
#[derive(Debug, Clone, Default)]
pub struct LeaderEpoch(Arc<AtomicU64>);

impl LeaderEpoch {
    /// The current epoch.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Starts a new epoch (the replica saw a new leader or term).
    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Forwards waiting for a link, oldest first, with when and in which epoch
/// each was held.
#[derive(Debug, Default)]
pub(crate) struct HeldForwards {
    queue: VecDeque<(Instant, u64, PeerMessage)>,
}

/// What became of a message that came while the link was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// A forward, held for the next link.
    Held,
    /// A forward queued in an earlier epoch, or beyond [`HELD_MAX`].
    Dropped,
    /// A consensus message: dropped, consensus sends it again.
    NotAForward,
}

impl HeldForwards {
    /// Holds `msg`, queued by the replica in epoch `queued_in`, if it is a
    /// forward of the current `epoch` and there is room. Also returns how
    /// many held forwards it dropped as held too long or of an earlier epoch.
    pub(crate) fn keep(
        &mut self,
        msg: PeerMessage,
        queued_in: u64,
        now: Instant,
        epoch: u64,
    ) -> (Kept, usize) {
        let expired = self.expire(now, epoch);
        let kept = if !matches!(msg, PeerMessage::Forward { .. }) {
            Kept::NotAForward
        } else if queued_in == epoch && self.queue.len() < HELD_MAX {
            self.queue.push_back((now, queued_in, msg));
            Kept::Held
        } else {
            Kept::Dropped
        };
        (kept, expired)
    }

    /// The forwards to send now, oldest first; those held too long or in an
    /// earlier epoch are dropped, and counted in the second value.
    pub(crate) fn take(&mut self, now: Instant, epoch: u64) -> (Vec<PeerMessage>, usize) {
        let expired = self.expire(now, epoch);
        (
            self.queue.drain(..).map(|(_, _, msg)| msg).collect(),
            expired,
        )
    }

    /// Drops the forwards held longer than [`HOLD_FOR`] or in an epoch
    /// before `epoch`; returns how many.
    fn expire(&mut self, now: Instant, epoch: u64) -> usize {
        let before = self.queue.len();
        // Epochs only grow, and the queue is in holding order: the stale
        // ones are a prefix.
        while self.queue.front().is_some_and(|(at, held_in, _)| {
            *held_in != epoch || now.saturating_duration_since(*at) > HOLD_FOR
        }) {
            self.queue.pop_front();
        }
        before - self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use corral_core::broadcast::{Body, Message};
    use corral_core::tree::Command;

    use super::*;

    fn forward(forward_id: u64) -> PeerMessage {
        PeerMessage::Forward {
            forward_id,
            command: Command::Noop,
        }
    }

    fn ids(msgs: &[PeerMessage]) -> Vec<u64> {
        msgs.iter()
            .filter_map(|m| match m {
                PeerMessage::Forward { forward_id, .. } => Some(*forward_id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn forwards_are_held_in_order_and_consensus_messages_dropped() {
        let mut held = HeldForwards::default();
        let now = Instant::now();
        assert_eq!(held.keep(forward(7), 0, now, 0), (Kept::Held, 0));
        let heartbeat = PeerMessage::Consensus(Message {
            from: 1,
            to: 2,
            term: 3,
            body: Body::Heartbeat {
                commit: 0,
                read_round: 0,
            },
        });
        assert_eq!(held.keep(heartbeat, 0, now, 0), (Kept::NotAForward, 0));
        assert_eq!(held.keep(forward(9), 0, now, 0), (Kept::Held, 0));
        let (sent, expired) = held.take(now, 0);
        assert_eq!((ids(&sent), expired), (vec![7, 9], 0));
        assert!(held.take(now, 0).0.is_empty());
    }

    #[test]
    fn forwards_held_too_long_are_dropped_oldest_first() {
        let mut held = HeldForwards::default();
        let start = Instant::now();
        held.keep(forward(1), 0, start, 0);
        held.keep(forward(2), 0, start + HOLD_FOR / 2, 0);
        let (sent, expired) = held.take(start + HOLD_FOR + Duration::from_millis(1), 0);
        assert_eq!((ids(&sent), expired), (vec![2], 1));
    }

    #[test]
    fn forwards_held_before_a_change_of_leader_are_dropped() {
        let mut held = HeldForwards::default();
        let now = Instant::now();
        let epoch = LeaderEpoch::default();
        let before = epoch.get();
        held.keep(forward(1), before, now, epoch.get());
        held.keep(forward(2), before, now, epoch.get());
        epoch.advance();
        // Queued before the change, taken off the queue after it.
        assert_eq!(
            held.keep(forward(3), before, now, epoch.get()),
            (Kept::Dropped, 2)
        );
        assert_eq!(
            held.keep(forward(4), epoch.get(), now, epoch.get()),
            (Kept::Held, 0)
        );
        let (sent, expired) = held.take(now, epoch.get());
        assert_eq!((ids(&sent), expired), (vec![4], 0));
    }

    #[test]
    fn the_hold_is_bounded() {
        let mut held = HeldForwards::default();
        let now = Instant::now();
        for id in 0..HELD_MAX as u64 {
            assert_eq!(held.keep(forward(id), 0, now, 0), (Kept::Held, 0));
        }
        assert_eq!(held.keep(forward(u64::MAX), 0, now, 0), (Kept::Dropped, 0));
        let (sent, _) = held.take(now, 0);
        assert_eq!(sent.len(), HELD_MAX);
        assert_eq!(ids(&sent).last(), Some(&(HELD_MAX as u64 - 1)));
    }
}
