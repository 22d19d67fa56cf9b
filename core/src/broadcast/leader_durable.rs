//! Commit learned from the leader's own durability, one message delay sooner.
//!
//! A follower normally learns that an entry is committed from the leader:
//! its ack goes to the leader, which counts a quorum and sends commit news
//! back. Where the leader and a follower make a quorum (three voters or
//! fewer, the follower a voter), the follower can count that quorum itself:
//! once the leader's write is durable it sends `Persisted { index }`, and a
//! follower whose own durable log holds an entry of the leader's term
//! commits up to min(its own durable index, the leader's).
//!
//! Why that is safe: only the leader of a term creates entries of that term,
//! and it never overwrites them, so an entry of the current term in the
//! follower's log is the leader's entry, with the same prefix (log
//! matching). Durable on the follower and on the leader, it is durable on a
//! quorum of the configuration: committed by Raft's rule, which the leader
//! would apply on the follower's ack. Neither side counts this way while a
//! membership change is uncommitted in its log.
//!
//! The leader offers the news only while its own write is ahead of the
//! commit; the caller may drop it for followers that nobody waits on (a
//! follower whose clients wait for forwarded writes gains a round trip).
//! Since a follower may answer a write before the leader has counted it, a
//! linearizable read on the leader waits for the highest index it announced
//! (`Node::read_floor`), not only for its own commit index.

use super::message::Body;
use super::progress::ReplicationState;
use super::quorum;
use super::{Node, NodeId, Role};

/// A durable index heard of (follower) or told of (leader) in one term; it
/// says nothing in another term.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DurableInTerm {
    /// Term the index is of.
    term: u64,
    /// Last durable index of the leader's log.
    index: u64,
}

impl DurableInTerm {
    /// The index if it is of `term`, else 0.
    fn of(self, term: u64) -> u64 {
        if self.term == term { self.index } else { 0 }
    }

    /// Raises the index of `term` to `index` (starting afresh in a new term).
    fn raise(&mut self, term: u64, index: u64) {
        *self = DurableInTerm {
            term,
            index: self.of(term).max(index),
        };
    }
}

impl Node {
    /// Whether no membership change is uncommitted in this node's log.
    fn membership_settled(&self) -> bool {
        self.conf_entries
            .last()
            .is_none_or(|(index, _)| *index <= self.log.committed)
    }

    /// Leader, after its own write became durable: tells each follower that
    /// has not acknowledged as far how far the leader's log is durable, when
    /// that is beyond the commit.
    pub(crate) fn tell_followers_durable(&mut self) {
        let stable = self.log.stable;
        if self.role != Role::Leader
            || stable <= self.log.committed
            || self.log.term_at(stable) != Some(self.term)
        {
            return;
        }
        if !self.membership_settled() {
            return;
        }
        let me = self.cfg.id;
        let voters = &self.membership.voters;
        let lagging: Vec<NodeId> = self
            .progress
            .iter()
            .filter(|(_, pr)| pr.state == ReplicationState::Replicate && pr.match_index < stable)
            .map(|(&id, _)| id)
            .filter(|&id| quorum::has_quorum(voters, |v| v == me || v == id))
            .collect();
        if lagging.is_empty() {
            return;
        }
        self.durable_announced.raise(self.term, stable);
        for id in lagging {
            let msg = self.msg(id, Body::Persisted { index: stable });
            self.send(msg);
        }
    }

    /// Leader: the index a linearizable read must wait for. Followers may
    /// have committed up to what this leader announced as durable, before it
    /// heard their acks, and answered their clients.
    pub(crate) fn read_floor(&self) -> u64 {
        self.log.committed.max(self.durable_announced.of(self.term))
    }

    /// Follower: the leader of this term says its log is durable through
    /// `index`.
    pub(crate) fn handle_leader_persisted(&mut self, index: u64) {
        self.leader_durable.raise(self.term, index);
        self.commit_by_leader_durability();
    }

    /// Follower: commits what this node and its leader both hold durably, when
    /// the two make a quorum (the count gives 0 where they do not) and the
    /// entry is of the leader's term. Only this term's leader tells of its
    /// term, so the index heard is that leader's.
    pub(crate) fn commit_by_leader_durability(&mut self) {
        let me = self.cfg.id;
        let Some(leader) = self.leader else {
            return;
        };
        if self.role != Role::Follower || !self.membership_settled() {
            return;
        }
        let (mine, theirs) = (self.log.stable, self.leader_durable.of(self.term));
        let index = quorum::committed_index(&self.membership.voters, |id| {
            if id == me {
                mine
            } else if id == leader {
                theirs
            } else {
                0
            }
        })
        .min(mine);
        if index <= self.log.committed || self.log.term_at(index) != Some(self.term) {
            return;
        }
        self.log.commit_to(index);
        self.commits_on_leader_durable += 1;
    }
}
