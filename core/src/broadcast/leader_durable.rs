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

/// What a follower heard of its leader's durable log in one term.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LeaderDurable {
    /// Term the news is of.
    term: u64,
    /// The leader that sent it.
    leader: NodeId,
    /// Last index of the leader's log that is durable.
    index: u64,
}

/// What a leader told its followers of its durable log in one term.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Announced {
    /// Term of the announcement.
    term: u64,
    /// Highest index announced.
    index: u64,
}

impl Node {
    /// Whether `leader` and `follower` together make a quorum, with no
    /// membership change uncommitted in this node's log.
    fn pair_is_quorum(&self, leader: NodeId, follower: NodeId) -> bool {
        let settled = self
            .conf_entries
            .last()
            .is_none_or(|(index, _)| *index <= self.log.committed);
        settled && quorum::has_quorum(&self.membership.voters, |id| id == leader || id == follower)
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
        let me = self.cfg.id;
        let lagging: Vec<NodeId> = self
            .progress
            .iter()
            .filter(|(_, pr)| pr.state == ReplicationState::Replicate && pr.match_index < stable)
            .map(|(&id, _)| id)
            .filter(|&id| self.pair_is_quorum(me, id))
            .collect();
        if lagging.is_empty() {
            return;
        }
        if self.durable_announced.term != self.term {
            self.durable_announced = Announced::default();
        }
        self.durable_announced = Announced {
            term: self.term,
            index: self.durable_announced.index.max(stable),
        };
        for id in lagging {
            let msg = self.msg(id, Body::Persisted { index: stable });
            self.send(msg);
        }
    }

    /// Leader: the index a linearizable read must wait for. Followers may
    /// have committed up to what this leader announced as durable, before it
    /// heard their acks, and answered their clients.
    pub(crate) fn read_floor(&self) -> u64 {
        let announced = if self.durable_announced.term == self.term {
            self.durable_announced.index
        } else {
            0
        };
        self.log.committed.max(announced)
    }

    /// Follower: the leader of this term says its log is durable through
    /// `index`.
    pub(crate) fn handle_leader_persisted(&mut self, from: NodeId, index: u64) {
        let heard = &mut self.leader_durable;
        if heard.term != self.term || heard.leader != from {
            *heard = LeaderDurable {
                term: self.term,
                leader: from,
                index: 0,
            };
        }
        heard.index = heard.index.max(index);
        self.commit_by_leader_durability();
    }

    /// Follower: commits what this node and its leader both hold durably, when
    /// the two make a quorum and the entry is of the leader's term.
    pub(crate) fn commit_by_leader_durability(&mut self) {
        let heard = self.leader_durable;
        let me = self.cfg.id;
        if self.role != Role::Follower
            || heard.term != self.term
            || self.leader != Some(heard.leader)
            || !self.pair_is_quorum(heard.leader, me)
        {
            return;
        }
        let mine = self.log.stable;
        let index = quorum::committed_index(&self.membership.voters, |id| {
            if id == me {
                mine
            } else if id == heard.leader {
                heard.index
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
