//! ReadIndex: linearizable reads without writing to the log.
//!
//! The leader records its commit index when a read arrives, then confirms it is
//! still leader by a heartbeat round acknowledged by a quorum. The answer is
//! "reads are safe once applied ≥ index". A new leader first commits an entry
//! of its own term (its commit index is only then up to date), so reads that
//! arrive before that wait, up to `max_pending_reads`.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;

use super::message::Body;
use super::quorum;
use super::rejects::Rejected;
use super::{Node, NodeId, Role};

/// The answer to a ReadIndex request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadState {
    /// Reads are linearizable once the applied index reaches this.
    pub index: u64,
    /// The request's context, as given to [`Node::read_index`].
    pub context: Bytes,
}

/// Why a read could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// No leader known to forward to.
    #[error("no leader known")]
    NoLeader,
    /// Too many reads pending.
    #[error("too many pending reads")]
    Busy,
    /// The context exceeds `max_read_context_bytes`.
    #[error("read context of {0} bytes over the limit")]
    ContextTooLarge(usize),
}

/// A read waiting for its heartbeat quorum.
#[derive(Debug)]
struct PendingRead {
    requester: NodeId,
    context: Bytes,
    index: u64,
    round: u64,
    acks: BTreeSet<NodeId>,
}

/// Leader-side ReadIndex bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct ReadIndexState {
    /// Heartbeat round counter; a response to round r confirms all reads ≤ r.
    round: u64,
    /// Reads with their index fixed, waiting for confirmation, oldest first.
    pending: VecDeque<PendingRead>,
    /// Reads that arrived before this leader committed in its term.
    waiting_commit: VecDeque<(NodeId, Bytes)>,
}

impl ReadIndexState {
    pub(crate) fn round(&self) -> u64 {
        self.round
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
        self.waiting_commit.clear();
    }

    fn len(&self) -> usize {
        self.pending.len() + self.waiting_commit.len()
    }
}

impl Node {
    /// Starts a linearizable read; the answer comes back in
    /// [`Ready::read_states`](super::Ready) with the same `context`. A follower
    /// forwards it to the leader. Reads in flight when leadership changes are
    /// dropped: retry after a timeout.
    pub fn read_index(&mut self, context: Bytes) -> Result<(), ReadError> {
        if context.len() as u64 > self.cfg.max_read_context_bytes {
            return Err(ReadError::ContextTooLarge(context.len()));
        }
        let result = match self.role {
            Role::Leader => {
                if self.reads.len() >= self.cfg.max_pending_reads {
                    return Err(ReadError::Busy);
                }
                self.leader_read(self.cfg.id, context);
                Ok(())
            }
            _ => match self.leader {
                Some(leader) => {
                    let msg = self.msg(leader, Body::ReadIndex { context });
                    self.send(msg);
                    Ok(())
                }
                None => Err(ReadError::NoLeader),
            },
        };
        self.debug_check();
        result
    }

    /// Leader: a follower forwarded a read.
    pub(crate) fn handle_read_index_request(
        &mut self,
        from: NodeId,
        context: Bytes,
    ) -> Result<(), Rejected> {
        if self.reads.len() >= self.cfg.max_pending_reads {
            return Err(Rejected::Oversize);
        }
        self.leader_read(from, context);
        Ok(())
    }

    fn leader_read(&mut self, requester: NodeId, context: Bytes) {
        if self.log.term_at(self.log.committed) != Some(self.term) {
            self.reads.waiting_commit.push_back((requester, context));
            return;
        }
        self.reads.round += 1;
        let read = PendingRead {
            requester,
            context,
            // A follower may have committed up to what we announced as durable
            // and answered its client: the read must see that write too.
            index: self.read_floor(),
            round: self.reads.round,
            acks: BTreeSet::from([self.cfg.id]),
        };
        self.reads.pending.push_back(read);
        self.release_confirmed_reads();
        if !self.reads.pending.is_empty() {
            self.broadcast_heartbeat();
        }
    }

    /// Leader: the first commit of this term makes waiting reads answerable.
    pub(crate) fn on_commit_in_term(&mut self) {
        let waiting = std::mem::take(&mut self.reads.waiting_commit);
        for (requester, context) in waiting {
            self.leader_read(requester, context);
        }
    }

    /// Leader: `from` answered heartbeat round `round`, which confirms every
    /// read registered at or before it.
    pub(crate) fn confirm_read_round(&mut self, from: NodeId, round: u64) {
        if !self.membership.is_voter(from) {
            return;
        }
        for read in self
            .reads
            .pending
            .iter_mut()
            .take_while(|r| r.round <= round)
        {
            read.acks.insert(from);
        }
        self.release_confirmed_reads();
    }

    fn release_confirmed_reads(&mut self) {
        while let Some(read) = self.reads.pending.front() {
            if !quorum::has_quorum(&self.membership.voters, |id| read.acks.contains(&id)) {
                break;
            }
            let Some(read) = self.reads.pending.pop_front() else {
                break;
            };
            if read.requester == self.cfg.id {
                self.read_states.push(ReadState {
                    index: read.index,
                    context: read.context,
                });
            } else {
                let body = Body::ReadIndexResponse {
                    index: read.index,
                    context: read.context,
                };
                let msg = self.msg(read.requester, body);
                self.send(msg);
            }
        }
    }

    /// Follower: the leader answered a forwarded read.
    pub(crate) fn handle_read_index_response(
        &mut self,
        index: u64,
        context: Bytes,
    ) -> Result<(), Rejected> {
        self.read_states.push(ReadState { index, context });
        Ok(())
    }
}
