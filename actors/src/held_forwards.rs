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
//! of order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use corral_transport::wire::PeerMessage;

/// Forwards held at most while a link is down.
pub(crate) const HELD_MAX: usize = 4_096;
/// How long a forward is held at most: inside the request timeout (10 s at
/// least), so a held write is sent only while its client still waits.
pub(crate) const HOLD_FOR: Duration = Duration::from_secs(8);

/// Forwards waiting for a link, oldest first.
#[derive(Debug, Default)]
pub(crate) struct HeldForwards {
    queue: VecDeque<(Instant, PeerMessage)>,
}

/// What became of a message that came while the link was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    /// A forward, held for the next link.
    Held,
    /// A consensus message (consensus sends it again), or a forward beyond
    /// [`HELD_MAX`].
    Dropped,
}

impl HeldForwards {
    /// Holds `msg` if it is a forward and there is room.
    pub(crate) fn keep(&mut self, msg: PeerMessage, now: Instant) -> Kept {
        self.expire(now);
        if matches!(msg, PeerMessage::Forward { .. }) && self.queue.len() < HELD_MAX {
            self.queue.push_back((now, msg));
            Kept::Held
        } else {
            Kept::Dropped
        }
    }

    /// The forwards to send now, oldest first (those held too long are
    /// dropped, and counted in the second value).
    pub(crate) fn take(&mut self, now: Instant) -> (Vec<PeerMessage>, usize) {
        let expired = self.expire(now);
        (self.queue.drain(..).map(|(_, msg)| msg).collect(), expired)
    }

    /// Drops the forwards held longer than [`HOLD_FOR`]; returns how many.
    fn expire(&mut self, now: Instant) -> usize {
        let before = self.queue.len();
        while self
            .queue
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > HOLD_FOR)
        {
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
        assert_eq!(held.keep(forward(7), now), Kept::Held);
        let heartbeat = PeerMessage::Consensus(Message {
            from: 1,
            to: 2,
            term: 3,
            body: Body::Heartbeat {
                commit: 0,
                read_round: 0,
            },
        });
        assert_eq!(held.keep(heartbeat, now), Kept::Dropped);
        assert_eq!(held.keep(forward(9), now), Kept::Held);
        let (sent, expired) = held.take(now);
        assert_eq!((ids(&sent), expired), (vec![7, 9], 0));
        assert!(held.take(now).0.is_empty());
    }

    #[test]
    fn forwards_held_too_long_are_dropped_oldest_first() {
        let mut held = HeldForwards::default();
        let start = Instant::now();
        held.keep(forward(1), start);
        held.keep(forward(2), start + HOLD_FOR / 2);
        let (sent, expired) = held.take(start + HOLD_FOR + Duration::from_millis(1));
        assert_eq!((ids(&sent), expired), (vec![2], 1));
    }

    #[test]
    fn the_hold_is_bounded() {
        let mut held = HeldForwards::default();
        let now = Instant::now();
        for id in 0..HELD_MAX as u64 {
            assert_eq!(held.keep(forward(id), now), Kept::Held);
        }
        assert_eq!(held.keep(forward(u64::MAX), now), Kept::Dropped);
        let (sent, _) = held.take(now);
        assert_eq!(sent.len(), HELD_MAX);
        assert_eq!(ids(&sent).last(), Some(&(HELD_MAX as u64 - 1)));
    }
}
