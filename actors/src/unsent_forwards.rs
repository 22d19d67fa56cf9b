//! Forwarded client writes that a peer task dropped unsent because its link
//! to the leader was down: the replica takes them back on its next tick and
//! forwards them again, instead of leaving their clients waiting for the
//! request timeout.
//!
//! ```text
//!  ReplicaActor ──Forward{id}──► PeerActor(leader)  link down: dialling or backing off
//!       ▲                            │ drops the queue, notes each Forward's id
//!       └──── tick: take() ◄── UnsentForwards
//!             forwards[id] ─► deferred ─► forwarded again once a link is up
//! ```
//!
//! Only messages that never reached the link are noted, so the leader has
//! not seen them and sending them again cannot apply a write twice. A
//! forward lost with a link that failed after it was written stays
//! ambiguous: its client hears ConnectionLoss at the request timeout.

use std::sync::{Mutex, PoisonError};

use corral_transport::wire::PeerMessage;

/// Forward ids noted at most between two ticks; beyond, the request timeout
/// answers them.
const UNSENT_MAX: usize = 65_536;

/// The ids of forwards dropped unsent, shared by the peer tasks and the replica.
#[derive(Debug, Default)]
pub struct UnsentForwards {
    ids: Mutex<Vec<u64>>,
}

impl UnsentForwards {
    /// Notes `msg` if it is a forward (other messages are resent by consensus).
    pub fn note(&self, msg: &PeerMessage) {
        if let PeerMessage::Forward { forward_id, .. } = msg {
            let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
            if ids.len() < UNSENT_MAX {
                ids.push(*forward_id);
            }
        }
    }

    /// The ids noted since the last call.
    pub fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.ids.lock().unwrap_or_else(PoisonError::into_inner))
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

    #[test]
    fn only_forwards_are_noted_and_take_empties_the_list() {
        let unsent = UnsentForwards::default();
        unsent.note(&forward(7));
        unsent.note(&PeerMessage::Consensus(Message {
            from: 1,
            to: 2,
            term: 3,
            body: Body::Heartbeat {
                commit: 0,
                read_round: 0,
            },
        }));
        unsent.note(&forward(9));
        assert_eq!(unsent.take(), vec![7, 9]);
        assert!(unsent.take().is_empty());
    }

    #[test]
    fn the_list_is_bounded() {
        let unsent = UnsentForwards::default();
        for id in 0..UNSENT_MAX as u64 + 10 {
            unsent.note(&forward(id));
        }
        let ids = unsent.take();
        assert_eq!(ids.len(), UNSENT_MAX);
        assert_eq!(ids.last(), Some(&(UNSENT_MAX as u64 - 1)));
    }
}
