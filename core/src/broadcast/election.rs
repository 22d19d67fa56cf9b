//! Time and elections: ticks, pre-vote and vote rounds, role changes,
//! check-quorum and leader transfer.

use super::message::{Body, EntryKind};
use super::progress::Progress;
use super::quorum::{self, VoteResult};
use super::{Node, NodeId, Role};

/// Why a leader transfer cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// Only the leader transfers leadership.
    #[error("not the leader")]
    NotLeader,
    /// The target is not a voter (or is this node).
    #[error("node {0} cannot take over: not another voter")]
    NotVoter(NodeId),
}

/// Elections after a report that the leader's process is gone whose
/// timeouts last a few ticks, so a split vote is retried at once; then the
/// full election timeout applies again.
const QUICK_CAMPAIGNS: u8 = 4;

impl Node {
    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
        self.debug_check();
    }

    fn tick_election(&mut self) {
        self.election_elapsed_ticks = self.election_elapsed_ticks.saturating_add(1);
        // A node that cannot campaign keeps counting, so its leader lease runs out
        // and it can vote for a candidate once the leader is gone.
        if self.election_elapsed_ticks >= self.randomized_election_timeout_ticks
            && self.promotable()
        {
            self.election_elapsed_ticks = 0;
            self.quick_campaigns = self.quick_campaigns.saturating_sub(1);
            if self.cfg.pre_vote {
                self.campaign_pre_vote();
            } else {
                self.campaign_now(false);
            }
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.cfg.election_timeout_ticks {
            self.election_elapsed_ticks = 0;
            if self.cfg.check_quorum && !self.quorum_recently_active() {
                let term = self.term;
                self.become_follower(term, None);
                return;
            }
            self.transfer = None;
        }
        if self.heartbeat_elapsed_ticks >= self.cfg.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Check-quorum: whether a majority of voters (self included) was heard from
    /// since the last round; resets the marks for the next round.
    fn quorum_recently_active(&mut self) -> bool {
        let me = self.cfg.id;
        let ok = quorum::has_quorum(&self.membership.voters, |id| {
            id == me || self.progress.get(&id).is_some_and(|p| p.recent_active)
        });
        for pr in self.progress.values_mut() {
            pr.recent_active = false;
        }
        ok
    }

    /// Whether this node may campaign: a voter, not leading already.
    fn promotable(&self) -> bool {
        self.membership.is_voter(self.cfg.id) && self.role != Role::Leader
    }

    /// Whether a live leader was heard within the election timeout (votes are
    /// then ignored, which stops partitioned nodes from deposing it).
    pub(crate) fn in_leader_lease(&self) -> bool {
        self.cfg.check_quorum
            && self.leader.is_some()
            && self.election_elapsed_ticks < self.cfg.election_timeout_ticks
    }

    pub(crate) fn reset_election_timeout(&mut self) {
        let ticks = if self.quick_campaigns > 0 && self.leader.is_none() {
            // A split vote after the leader's process went: try again within
            // a few ticks, not a whole election timeout.
            let spread = self.gone_spread_ticks();
            spread + self.rng.range(1, 2 * spread + 1)
        } else {
            let base = u64::from(self.cfg.election_timeout_ticks);
            self.rng.range(base, 2 * base)
        };
        self.randomized_election_timeout_ticks = u32::try_from(ticks).unwrap_or(u32::MAX);
    }

    /// Ticks over which followers told of their leader's end spread their
    /// campaigns: a few heartbeats, and well inside the election timeout.
    fn gone_spread_ticks(&self) -> u64 {
        u64::from(
            self.cfg
                .heartbeat_interval_ticks
                .saturating_mul(3)
                .min(self.cfg.election_timeout_ticks / 3)
                .max(1),
        )
    }

    /// Notes that a leader is known again: elections go back to the full timeout.
    pub(crate) fn end_quick_campaigns(&mut self) {
        if self.quick_campaigns > 0 {
            self.quick_campaigns = 0;
            self.reset_election_timeout();
        }
    }

    fn reset_term_state(&mut self, term: u64) {
        if term != self.term {
            self.term = term;
            self.vote = None;
            self.mark_durable_change();
        }
        self.leader = None;
        self.election_elapsed_ticks = 0;
        self.heartbeat_elapsed_ticks = 0;
        self.reset_election_timeout();
        self.votes.clear();
        self.progress.clear();
        self.transfer = None;
        self.reads.clear();
        self.uncommitted_bytes = 0;
        self.append_pending = false;
    }

    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        if leader.is_some() {
            self.quick_campaigns = 0;
        }
        self.reset_term_state(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn campaign_pre_vote(&mut self) {
        let term = self.term;
        self.reset_term_state(term);
        self.role = Role::PreCandidate;
        self.request_votes(true, false);
    }

    /// Starts a real election in the next term (directly when asked by
    /// `TimeoutNow`, or after a won pre-vote).
    pub(crate) fn campaign_now(&mut self, transfer: bool) {
        if !self.promotable() {
            return;
        }
        let term = self.term + 1;
        self.reset_term_state(term);
        self.role = Role::Candidate;
        self.vote = Some(self.cfg.id);
        self.mark_durable_change();
        self.request_votes(false, transfer);
    }

    fn request_votes(&mut self, pre_vote: bool, transfer: bool) {
        let me = self.cfg.id;
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        if pre_vote {
            // A pre-vote changes nothing durable: count our own at once.
            self.record_vote(me, true);
        } else {
            // Our own vote counts only once it is durable.
            let own = self.msg(me, Body::VoteResponse { granted: true });
            self.send(own);
        }
        let voters: Vec<NodeId> = self
            .membership
            .voters
            .iter()
            .copied()
            .filter(|&id| id != me)
            .collect();
        for id in voters {
            let mut msg = if pre_vote {
                self.msg(
                    id,
                    Body::PreVote {
                        last_index,
                        last_term,
                    },
                )
            } else {
                self.msg(
                    id,
                    Body::Vote {
                        last_index,
                        last_term,
                        transfer,
                    },
                )
            };
            if pre_vote {
                msg.term = self.term + 1;
            }
            self.send(msg);
        }
    }

    /// Counts a (pre-)vote and acts once the outcome is certain.
    pub(crate) fn record_vote(&mut self, from: NodeId, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        match quorum::vote_result(&self.membership.voters, &self.votes) {
            VoteResult::Won if self.role == Role::PreCandidate => self.campaign_now(false),
            // Not before our own vote is in: it is released once our term
            // and vote are durable. A leader whose term could be lost in a
            // crash could win the same term again after restarting and
            // write other entries at the indexes it already sent.
            VoteResult::Won if self.votes.get(&self.cfg.id) == Some(&true) => self.become_leader(),
            VoteResult::Won => {}
            VoteResult::Lost => {
                let term = self.term;
                self.become_follower(term, None);
            }
            VoteResult::Pending => {}
        }
    }

    /// Answers a vote or pre-vote request (terms already reconciled).
    pub(crate) fn handle_vote_request(
        &mut self,
        msg: &super::Message,
        last_index: u64,
        last_term: u64,
        pre_vote: bool,
    ) {
        let transfer = matches!(msg.body, Body::Vote { transfer: true, .. });
        let can_vote = self.vote == Some(msg.from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && msg.term > self.term);
        let log_ok =
            self.cfg.test_break_vote_log_check || self.log.is_up_to_date(last_index, last_term);
        let lease_ok = transfer || !self.in_leader_lease();
        let granted = can_vote && log_ok && lease_ok;
        if granted && !pre_vote {
            if self.vote != Some(msg.from) {
                self.vote = Some(msg.from);
                self.mark_durable_change();
            }
            self.election_elapsed_ticks = 0;
        }
        let mut reply = if pre_vote {
            self.msg(msg.from, Body::PreVoteResponse { granted })
        } else {
            self.msg(msg.from, Body::VoteResponse { granted })
        };
        if pre_vote && granted {
            reply.term = msg.term;
        }
        self.send(reply);
    }

    fn become_leader(&mut self) {
        let term = self.term;
        let me = self.cfg.id;
        self.quick_campaigns = 0;
        self.reset_term_state(term);
        self.role = Role::Leader;
        self.leader = Some(me);
        let next = self.log.last_index() + 1;
        for id in self.membership.members().filter(|&id| id != me) {
            self.progress.insert(id, Progress::new(next));
        }
        // Commit only through an entry of our own term: append one right away.
        self.append_entries(vec![EntryKind::Noop]);
        self.broadcast_append();
    }

    /// Reports that `id`'s process is gone: its host refused our datagrams
    /// (ICMP port unreachable). A follower of `id` ends its lease on `id` at
    /// once, so it grants the other followers' votes, and campaigns within
    /// the next few ticks (up to three heartbeat intervals, and a third of
    /// the election timeout) instead of waiting out its election timeout, the
    /// way a ZooKeeper follower looks for a new leader as soon as its
    /// leader's socket is reset. The few ticks are random, so that followers
    /// told at the same moment seldom split the vote; when they still do,
    /// the next few elections (up to four) also start within a few ticks,
    /// until a leader is known. Anything else ignores the report. Returns
    /// whether a campaign is due.
    ///
    /// Safe whatever the report's truth: a campaign is what the election
    /// timer would start anyway. If `id` still leads, its next message
    /// cancels the campaign, or the nodes in its lease refuse it.
    pub fn peer_gone(&mut self, id: NodeId) -> bool {
        let campaign = self.role == Role::Follower && self.leader == Some(id) && self.promotable();
        if campaign {
            self.leader = None;
            self.quick_campaigns = QUICK_CAMPAIGNS;
            let spread = self.gone_spread_ticks();
            let wait = u32::try_from(self.rng.range(1, spread + 1)).unwrap_or(1);
            self.election_elapsed_ticks =
                self.randomized_election_timeout_ticks.saturating_sub(wait);
        }
        self.debug_check();
        campaign
    }

    /// Starts handing leadership to `target`: catch it up, then send it
    /// `TimeoutNow`. Proposals are refused until the transfer ends (it is
    /// abandoned after an election timeout).
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), TransferError> {
        if self.role != Role::Leader {
            return Err(TransferError::NotLeader);
        }
        if target == self.cfg.id || !self.membership.is_voter(target) {
            return Err(TransferError::NotVoter(target));
        }
        self.transfer = Some(target);
        self.election_elapsed_ticks = 0;
        self.maybe_send_timeout_now(target);
        self.debug_check();
        Ok(())
    }

    /// Sends `TimeoutNow` if `id` is the transfer target and has the whole log;
    /// otherwise makes sure it is being caught up.
    pub(crate) fn maybe_send_timeout_now(&mut self, id: NodeId) {
        if self.transfer != Some(id) {
            return;
        }
        let caught_up = self
            .progress
            .get(&id)
            .is_some_and(|p| p.match_index == self.log.last_index());
        if caught_up {
            let msg = self.msg(id, super::Body::TimeoutNow);
            self.send(msg);
        } else {
            self.send_append(id, false);
        }
    }

    /// Whether a leader transfer is under way.
    pub fn transfer_in_progress(&self) -> bool {
        self.transfer.is_some()
    }
}
