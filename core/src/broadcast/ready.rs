//! The output side: [`Ready`] batches, the persist token, and the outbox that
//! holds back every message acknowledging state not yet durable.

use std::collections::VecDeque;

use super::message::{AppendResult, Body, Entry, HardState, Message, Snapshot};
use super::read_index::ReadState;
use super::{Node, NodeId, Role};

/// Everything the caller must do after feeding the node input. See the module
/// docs for the order: persist → send → apply → advance ([`Node::persisted`]).
#[derive(Debug, Default)]
#[must_use = "a Ready carries writes, messages and entries to apply"]
pub struct Ready {
    /// State to make durable, then acknowledge with its token.
    pub persist: Option<Persist>,
    /// Messages to send; none of them depends on `persist`.
    pub messages: Vec<Message>,
    /// A snapshot to restore the state machine from, before `committed_entries`.
    pub apply_snapshot: Option<Snapshot>,
    /// Committed, durable entries to apply in order.
    pub committed_entries: Vec<Entry>,
    /// Answers to ReadIndex requests.
    pub read_states: Vec<ReadState>,
}

impl Ready {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.persist.is_none()
            && self.messages.is_empty()
            && self.apply_snapshot.is_none()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
    }
}

/// One durable write, in order: snapshot, entries, hard state.
#[derive(Debug)]
#[must_use = "persist it, then hand the token back with Node::persisted"]
pub struct Persist {
    /// Replace the stored snapshot with this one and drop every stored entry.
    pub snapshot: Option<Snapshot>,
    /// Drop stored entries from `entries[0].index` on, then append these.
    pub entries: Vec<Entry>,
    /// Store this hard state.
    pub hard_state: Option<HardState>,
    /// Proof of this write, to hand back once it is durable.
    pub token: PersistToken,
}

/// Proof that one [`Persist`] was handed out; give it back to
/// [`Node::persisted`] once the write is durable. It cannot be cloned or forged.
#[derive(Debug)]
#[must_use = "hand it back with Node::persisted once the write is durable"]
pub struct PersistToken {
    node: NodeId,
    seq: u64,
    snapshot_index: Option<u64>,
    last_entry: Option<(u64, u64)>,
}

/// Bookkeeping of what has been handed out and what is durable.
#[derive(Debug)]
pub(crate) struct Durability {
    /// Bumped by every change of term, vote, entries or snapshot.
    write_seq: u64,
    /// Highest `write_seq` known durable.
    persisted_seq: u64,
    /// `write_seq` of the last persist batch handed out.
    handed_seq: u64,
    /// A persist batch is out and not yet acknowledged.
    outstanding: bool,
    /// The hard state last handed out (or restored).
    hard_state_handed: HardState,
    /// A snapshot received from the leader, to go into the next batch.
    snapshot_to_persist: Option<Snapshot>,
}

impl Durability {
    pub(crate) fn new(restored: HardState) -> Self {
        Self {
            write_seq: 0,
            persisted_seq: 0,
            handed_seq: 0,
            outstanding: false,
            hard_state_handed: restored,
            snapshot_to_persist: None,
        }
    }

    pub(crate) fn write_seq(&self) -> u64 {
        self.write_seq
    }

    pub(crate) fn persisted_seq(&self) -> u64 {
        self.persisted_seq
    }
}

/// Messages ready to send, and those waiting for a write to become durable.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    ready: Vec<Message>,
    /// (write seq that must be durable first, message), in seq order.
    held: VecDeque<(u64, Message)>,
}

impl Outbox {
    /// Queues a message to send now. A success acknowledgement folds into an
    /// earlier one to the same node of the same term that is still waiting:
    /// the leader counts only the highest match, so one message says it all
    /// (a follower whose fsync covered several appends answers once).
    fn push_ready(&mut self, msg: Message) {
        if let Body::AppendResponse(AppendResult::Success { match_index }) = msg.body {
            let earlier = self.ready.iter_mut().rev().find(|m| m.to == msg.to);
            if let Some(Body::AppendResponse(AppendResult::Success { match_index: m })) =
                earlier.filter(|e| e.term == msg.term).map(|e| &mut e.body)
            {
                *m = (*m).max(match_index);
                return;
            }
        }
        self.ready.push(msg);
    }
}

impl Node {
    /// Records that durable state (term, vote, entries, snapshot) changed.
    pub(crate) fn mark_durable_change(&mut self) {
        self.durable.write_seq += 1;
    }

    /// Queues a snapshot received from the leader for the next persist batch.
    pub(crate) fn durable_snapshot(&mut self, snapshot: Snapshot) {
        self.durable.snapshot_to_persist = Some(snapshot);
    }

    /// Queues a message. Responses (and the candidate's own vote) wait until
    /// everything changed so far is durable.
    pub(crate) fn send(&mut self, msg: Message) {
        let needs_persist = msg.is_response() || msg.to == self.cfg.id;
        if needs_persist && self.durable.write_seq > self.durable.persisted_seq {
            self.outbox.held.push_back((self.durable.write_seq, msg));
        } else if msg.to == self.cfg.id {
            self.deliver_to_self(msg);
        } else {
            self.outbox.push_ready(msg);
        }
    }

    /// Builds a message from this node at its current term.
    pub(crate) fn msg(&self, to: NodeId, body: Body) -> Message {
        Message {
            from: self.cfg.id,
            to,
            term: self.term,
            body,
        }
    }

    /// The candidate's own vote, released once its term and vote are durable.
    fn deliver_to_self(&mut self, msg: Message) {
        if let Body::VoteResponse { granted: true } = msg.body {
            if self.role == Role::Candidate && self.term == msg.term {
                self.record_vote(self.cfg.id, true);
            }
        }
    }

    /// Whether [`Node::ready`] would return something.
    pub fn has_ready(&self) -> bool {
        !self.outbox.ready.is_empty()
            || self.append_pending
            || self.apply_snapshot.is_some()
            || !self.read_states.is_empty()
            || (!self.durable.outstanding && self.has_unpersisted())
            || self.log.committed.min(self.log.stable) > self.log.applied
    }

    fn has_unpersisted(&self) -> bool {
        // A change may leave the state as it was handed out (a repeated vote);
        // a batch still goes out so the messages waiting on it are released.
        // A new commit index alone makes no batch: it may lag on disk (a
        // restart learns it again from the leader), and a batch of its own
        // would cost every write a second sync. It rides with the next batch.
        let handed = self.durable.hard_state_handed;
        self.durable.write_seq > self.durable.handed_seq
            || self.log.has_unstable()
            || self.durable.snapshot_to_persist.is_some()
            || self.term != handed.term
            || self.vote != handed.vote
    }

    /// The current hard state.
    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    /// Takes everything to do now. See the module docs for the contract.
    pub fn ready(&mut self) -> Ready {
        if self.append_pending {
            self.append_pending = false;
            self.broadcast_append();
        }
        let persist = if !self.durable.outstanding && self.has_unpersisted() {
            Some(self.take_persist())
        } else {
            None
        };
        let ready = Ready {
            persist,
            messages: std::mem::take(&mut self.outbox.ready),
            apply_snapshot: self.apply_snapshot.take(),
            committed_entries: self
                .log
                .take_committed(self.cfg.max_committed_entries_per_ready),
            read_states: std::mem::take(&mut self.read_states),
        };
        self.debug_check();
        ready
    }

    fn take_persist(&mut self) -> Persist {
        let snapshot = self.durable.snapshot_to_persist.take();
        let entries = self.log.take_unstable();
        let hs = self.hard_state();
        let hard_state = (hs != self.durable.hard_state_handed).then_some(hs);
        self.durable.hard_state_handed = hs;
        self.durable.handed_seq = self.durable.write_seq;
        self.durable.outstanding = true;
        let token = PersistToken {
            node: self.cfg.id,
            seq: self.durable.write_seq,
            snapshot_index: snapshot.as_ref().map(|s| s.meta.index),
            last_entry: entries.last().map(|e| (e.index, e.term)),
        };
        Persist {
            snapshot,
            entries,
            hard_state,
            token,
        }
    }

    /// The write of the [`Persist`] that carried `token` is durable: release the
    /// acknowledgements that waited for it and let the leader count itself.
    pub fn persisted(&mut self, token: PersistToken) {
        assert_eq!(token.node, self.cfg.id, "persist token of another node");
        assert!(
            token.seq >= self.durable.persisted_seq,
            "persist tokens out of order"
        );
        self.durable.outstanding = false;
        self.durable.persisted_seq = token.seq;
        if let Some(index) = token.snapshot_index {
            self.log.mark_snapshot_stable(index);
        }
        if let Some((index, term)) = token.last_entry {
            self.log.mark_stable(index, term);
        }
        while self
            .outbox
            .held
            .front()
            .is_some_and(|(seq, _)| *seq <= token.seq)
        {
            if let Some((_, msg)) = self.outbox.held.pop_front() {
                if msg.to == self.cfg.id {
                    self.deliver_to_self(msg);
                } else {
                    self.outbox.push_ready(msg);
                }
            }
        }
        if self.role == Role::Leader {
            self.maybe_commit();
            self.tell_followers_durable();
        } else {
            self.commit_by_leader_durability();
        }
        self.debug_check();
    }
}
