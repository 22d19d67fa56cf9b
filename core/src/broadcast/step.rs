//! Input validation, term handling and dispatch of incoming messages by role
//! (etcd's `Step` → `stepLeader` / `stepCandidate` / `stepFollower`).

use super::message::{AppendResult, Body, Message};
use super::rejects::Rejected;
use super::{Node, Role};

impl Node {
    /// Feeds one message from a peer. Invalid or stale input is refused,
    /// counted in [`Node::rejects`] and otherwise ignored.
    pub fn step(&mut self, msg: Message) -> Result<(), Rejected> {
        let result = self.step_inner(msg);
        if let Err(why) = result {
            self.rejects.count(why);
        }
        self.debug_check();
        result
    }

    fn step_inner(&mut self, msg: Message) -> Result<(), Rejected> {
        if msg.to != self.cfg.id || msg.from == self.cfg.id || msg.from == 0 {
            return Err(Rejected::WrongRecipient);
        }
        // Requests are judged by term and log, never by this node's view of the
        // configuration (as in the Raft dissertation): a node added in an entry
        // we have not seen yet may need our vote or lead us. Peers are
        // authenticated by the transport; an unknown sender here is one whose
        // answer answers nothing we asked (see step_leader and step_candidate).
        if msg.term == 0 {
            return Err(Rejected::StaleTerm);
        }
        // Terms grow by one per election; one near the top of u64 is a lie, and
        // adopting it would overflow the next campaign.
        if msg.term > u64::MAX / 2 {
            return Err(Rejected::AbsurdIndex);
        }
        self.validate_body(&msg)?;
        if msg.term > self.term {
            if !self.accept_higher_term(&msg) {
                return Ok(());
            }
        } else if msg.term < self.term {
            return self.handle_lower_term(&msg);
        }
        match &msg.body {
            Body::PreVote {
                last_index,
                last_term,
            } => {
                self.handle_vote_request(&msg, *last_index, *last_term, true);
                Ok(())
            }
            Body::Vote {
                last_index,
                last_term,
                ..
            } => {
                self.handle_vote_request(&msg, *last_index, *last_term, false);
                Ok(())
            }
            _ => match self.role {
                Role::Leader => self.step_leader(msg),
                Role::Candidate | Role::PreCandidate => self.step_candidate(msg),
                Role::Follower => self.step_follower(msg),
            },
        }
    }

    /// Rejects sizes and indexes that no correct peer sends.
    fn validate_body(&self, msg: &Message) -> Result<(), Rejected> {
        match &msg.body {
            Body::Append {
                prev_index,
                prev_term,
                entries,
                ..
            } => {
                // Peers may be configured a little differently; twice our own
                // limit is beyond any of them.
                if entries.len() as u64 > self.cfg.max_entries_per_msg.saturating_mul(2) {
                    return Err(Rejected::Oversize);
                }
                let mut expect = prev_index.checked_add(1).ok_or(Rejected::AbsurdIndex)?;
                // Terms never decrease along a log, starting from prev_term.
                let mut prev_term = *prev_term;
                for e in entries {
                    if e.size_bytes()
                        > self.cfg.max_entry_bytes + super::message::ENTRY_OVERHEAD_BYTES
                    {
                        return Err(Rejected::Oversize);
                    }
                    if e.index != expect || e.term > msg.term || e.term < prev_term {
                        return Err(Rejected::Malformed);
                    }
                    prev_term = e.term;
                    expect = expect.checked_add(1).ok_or(Rejected::AbsurdIndex)?;
                }
                Ok(())
            }
            Body::Snapshot {
                meta,
                offset,
                total_bytes,
                data,
            } => {
                if data.len() as u64 > self.cfg.snapshot_chunk_bytes
                    || *total_bytes > self.cfg.max_snapshot_bytes
                {
                    return Err(Rejected::Oversize);
                }
                if offset.saturating_add(data.len() as u64) > *total_bytes
                    || meta.term > msg.term
                    || meta.index == u64::MAX
                {
                    return Err(Rejected::AbsurdIndex);
                }
                Ok(())
            }
            Body::ReadIndex { context } | Body::ReadIndexResponse { context, .. } => {
                if context.len() as u64 > self.cfg.max_read_context_bytes {
                    return Err(Rejected::Oversize);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A message from a higher term. Returns whether to go on handling it.
    fn accept_higher_term(&mut self, msg: &Message) -> bool {
        match msg.body {
            // A pre-vote request carries the term the sender would campaign in;
            // nobody changes term for it.
            Body::PreVote { .. } => {}
            // A granted pre-vote answers our own future term.
            Body::PreVoteResponse { granted: true } => {}
            Body::Vote { transfer, .. } => {
                if self.in_leader_lease() && !transfer {
                    // Check-quorum: while we hear a leader, a higher-term vote
                    // request comes from a disrupted node; ignore it.
                    return false;
                }
                self.become_follower(msg.term, None);
            }
            Body::Append { .. }
            | Body::Commit { .. }
            | Body::Heartbeat { .. }
            | Body::Snapshot { .. }
            | Body::Persisted { .. } => {
                self.become_follower(msg.term, Some(msg.from));
            }
            _ => {
                // A response or request from a newer term: step down and drop it.
                self.become_follower(msg.term, None);
                return false;
            }
        }
        true
    }

    /// A message from a lower term: tell a stale leader or pre-candidate about the
    /// current term so it steps down; drop the rest.
    fn handle_lower_term(&mut self, msg: &Message) -> Result<(), Rejected> {
        match msg.body {
            Body::Append { .. }
            | Body::Commit { .. }
            | Body::Heartbeat { .. }
            | Body::Snapshot { .. }
            | Body::Persisted { .. } => {
                let reply = self.msg(
                    msg.from,
                    Body::AppendResponse(AppendResult::Reject {
                        rejected_index: 0,
                        conflict_index: 0,
                        conflict_term: None,
                    }),
                );
                self.send(reply);
            }
            Body::PreVote { .. } => {
                let reply = self.msg(msg.from, Body::PreVoteResponse { granted: false });
                self.send(reply);
            }
            _ => {}
        }
        Err(Rejected::StaleTerm)
    }

    fn step_leader(&mut self, msg: Message) -> Result<(), Rejected> {
        let from = msg.from;
        let Some(pr) = self.progress.get_mut(&from) else {
            return Err(Rejected::UnknownSender);
        };
        pr.recent_active = true;
        match msg.body {
            Body::AppendResponse(result) => self.handle_append_response(from, result),
            Body::HeartbeatResponse { read_round } => {
                self.handle_heartbeat_response(from, read_round);
                Ok(())
            }
            Body::SnapshotResponse {
                index,
                received_bytes,
            } => self.handle_snapshot_response(from, index, received_bytes),
            Body::ReadIndex { context } => self.handle_read_index_request(from, context),
            _ => Err(Rejected::Unexpected),
        }
    }

    fn step_candidate(&mut self, msg: Message) -> Result<(), Rejected> {
        match msg.body {
            Body::Append { .. }
            | Body::Commit { .. }
            | Body::Heartbeat { .. }
            | Body::Snapshot { .. }
            | Body::Persisted { .. } => {
                // Someone won this term.
                self.become_follower(msg.term, Some(msg.from));
                self.step_follower(msg)
            }
            Body::PreVoteResponse { .. } | Body::VoteResponse { .. }
                if !self.membership.is_voter(msg.from) =>
            {
                Err(Rejected::UnknownSender)
            }
            Body::PreVoteResponse { granted } if self.role == Role::PreCandidate => {
                if msg.term == self.term + 1 || !granted {
                    self.record_vote(msg.from, granted);
                }
                Ok(())
            }
            Body::VoteResponse { granted } if self.role == Role::Candidate => {
                self.record_vote(msg.from, granted);
                Ok(())
            }
            _ => Err(Rejected::Unexpected),
        }
    }

    fn step_follower(&mut self, msg: Message) -> Result<(), Rejected> {
        let from = msg.from;
        match msg.body {
            Body::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.follow(from);
                self.handle_append(from, prev_index, prev_term, entries, commit)
            }
            Body::Commit {
                prev_index,
                prev_term,
                commit,
            } => {
                self.follow(from);
                self.handle_commit(from, prev_index, prev_term, commit);
                Ok(())
            }
            Body::Heartbeat { commit, read_round } => {
                self.follow(from);
                self.handle_heartbeat(from, commit, read_round);
                Ok(())
            }
            Body::Snapshot {
                meta,
                offset,
                total_bytes,
                data,
            } => {
                self.follow(from);
                self.handle_snapshot_chunk(from, meta, offset, total_bytes, data)
            }
            Body::Persisted { index } => {
                self.follow(from);
                self.handle_leader_persisted(index);
                Ok(())
            }
            Body::TimeoutNow => {
                if self.leader != Some(from) {
                    return Err(Rejected::Unexpected);
                }
                self.campaign_now(true);
                Ok(())
            }
            Body::ReadIndexResponse { index, context } => {
                self.handle_read_index_response(index, context)
            }
            _ => Err(Rejected::Unexpected),
        }
    }

    /// Notes that `leader` leads this term and is alive.
    fn follow(&mut self, leader: super::NodeId) {
        self.leader = Some(leader);
        self.election_elapsed_ticks = 0;
        self.end_quick_campaigns();
    }
}
