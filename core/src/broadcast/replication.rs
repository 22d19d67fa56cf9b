//! Log replication: proposals, pipelined appends under flow control, fast
//! backtracking, heartbeats and the commit rule.

use bytes::Bytes;

use super::membership::ConfChange;
use super::message::{AppendResult, Body, Entry, EntryKind};
use super::progress::ReplicationState;
use super::quorum;
use super::rejects::Rejected;
use super::{Node, NodeId, Role};

/// Why a proposal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Only the leader accepts proposals; try the hinted leader.
    #[error("not the leader (leader hint: {leader:?})")]
    NotLeader {
        /// The leader this node follows, if known.
        leader: Option<NodeId>,
    },
    /// A leader transfer is under way.
    #[error("leadership transfer in progress")]
    Transferring,
    /// Empty batch, or more entries than `max_batch_entries`.
    #[error("batch of {0} entries is empty or over the limit")]
    BadBatch(usize),
    /// An entry exceeds `max_entry_bytes`.
    #[error("entry of {0} bytes over the limit")]
    EntryTooLarge(usize),
    /// Too many uncommitted bytes: slow down.
    #[error("too many uncommitted bytes; retry later")]
    Backpressure,
    /// A membership change is still uncommitted, or this leader has not yet
    /// committed an entry of its term.
    #[error("a membership change is pending")]
    ConfChangePending,
    /// The membership change does not apply, or would remove the leader
    /// (transfer leadership first).
    #[error("invalid membership change: {0}")]
    BadConfChange(String),
}

impl Node {
    /// Proposes a batch of opaque entries; returns the index (zxid) of the last.
    /// Entries proposed between two `ready()` calls are replicated together.
    pub fn propose(&mut self, batch: Vec<Bytes>) -> Result<u64, ProposeError> {
        self.check_can_propose()?;
        if batch.is_empty() || batch.len() > self.cfg.max_batch_entries {
            return Err(ProposeError::BadBatch(batch.len()));
        }
        let mut bytes = 0u64;
        for data in &batch {
            if data.len() as u64 > self.cfg.max_entry_bytes {
                return Err(ProposeError::EntryTooLarge(data.len()));
            }
            bytes += data.len() as u64 + super::message::ENTRY_OVERHEAD_BYTES;
        }
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes.saturating_add(bytes) > self.cfg.max_uncommitted_bytes
        {
            return Err(ProposeError::Backpressure);
        }
        let last = self.append_entries(batch.into_iter().map(EntryKind::Normal).collect());
        self.append_pending = true;
        self.debug_check();
        Ok(last)
    }

    /// Proposes one membership change; returns its index.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<u64, ProposeError> {
        self.check_can_propose()?;
        let pending = self
            .conf_entries
            .last()
            .is_some_and(|(i, _)| *i > self.log.committed);
        if pending || self.log.term_at(self.log.committed) != Some(self.term) {
            return Err(ProposeError::ConfChangePending);
        }
        if change == ConfChange::Remove(self.cfg.id) {
            return Err(ProposeError::BadConfChange(
                "remove the leader: transfer first".into(),
            ));
        }
        self.membership
            .apply(change)
            .map_err(|e| ProposeError::BadConfChange(e.to_string()))?;
        let last = self.append_entries(vec![EntryKind::ConfChange(change)]);
        self.append_pending = true;
        self.debug_check();
        Ok(last)
    }

    fn check_can_propose(&self) -> Result<(), ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader,
            });
        }
        if self.transfer.is_some() {
            return Err(ProposeError::Transferring);
        }
        Ok(())
    }

    /// Leader: appends new entries of its term; returns the last index.
    pub(crate) fn append_entries(&mut self, kinds: Vec<EntryKind>) -> u64 {
        let first = self.log.last_index() + 1;
        let term = self.term;
        let mut has_conf = false;
        let entries = kinds.into_iter().enumerate().map(|(k, kind)| {
            has_conf |= kind.is_conf();
            Entry {
                index: first + k as u64,
                term,
                kind,
            }
        });
        let entries: Vec<Entry> = entries.collect();
        self.uncommitted_bytes += entries.iter().map(Entry::size_bytes).sum::<u64>();
        self.log.append(entries);
        self.mark_durable_change();
        if has_conf {
            self.rebuild_membership_from(first);
        }
        self.log.last_index()
    }

    /// Leader: sends appends to every follower that can take one and has
    /// something new (commit news goes by `broadcast_commit`).
    pub(crate) fn broadcast_append(&mut self) {
        let ids: Vec<NodeId> = self.progress.keys().copied().collect();
        for id in ids {
            self.send_append(id, false);
        }
        if self.progress.is_empty() {
            // Alone: commit as soon as our own write is durable.
            self.maybe_commit();
        }
    }

    /// Leader: sends `id` what it is missing, within the flow-control window.
    pub(crate) fn send_append(&mut self, id: NodeId, allow_empty: bool) {
        let (max_msgs, max_bytes) = (self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        loop {
            let Some(pr) = self.progress.get(&id) else {
                return;
            };
            if !pr.can_send(max_msgs, max_bytes) {
                return;
            }
            let next = pr.next_index;
            let Some(prev_term) = self.log.term_at(next - 1) else {
                // The entries it needs are compacted away.
                self.start_snapshot_transfer(id);
                return;
            };
            let entries = self.log.slice_from(
                next,
                self.cfg.max_entries_per_msg,
                self.cfg.max_size_per_msg_bytes,
            );
            if entries.is_empty() && !allow_empty {
                return;
            }
            let last = entries.last().map_or(next - 1, |e| e.index);
            let bytes: u64 = entries.iter().map(Entry::size_bytes).sum();
            let was_probe = matches!(pr.state, ReplicationState::Probe { .. });
            let body = Body::Append {
                prev_index: next - 1,
                prev_term,
                entries,
                commit: self.log.committed,
            };
            let msg = self.msg(id, body);
            self.send(msg);
            if let Some(pr) = self.progress.get_mut(&id) {
                pr.sent(last, bytes);
            }
            // Pipelining: in replicate state keep filling the window.
            if was_probe || last == next - 1 || last >= self.log.last_index() {
                return;
            }
        }
    }

    /// Follower: handles an append from the leader of this term.
    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) -> Result<(), Rejected> {
        let committed = self.log.committed;
        if prev_index < committed {
            // Already have (and committed) that prefix: report where we are.
            let reply = self.msg(
                from,
                Body::AppendResponse(AppendResult::Success {
                    match_index: committed,
                }),
            );
            self.send(reply);
            return Ok(());
        }
        if self.log.term_at(prev_index) != Some(prev_term) {
            self.reject_append(from, prev_index);
            return Ok(());
        }
        let last_new = prev_index + entries.len() as u64;
        if let Some(k) = self.log.find_conflict(&entries) {
            let first = entries[k].index;
            if first <= committed {
                // A leader rewriting committed entries: refuse, do not panic.
                return Err(Rejected::AbsurdIndex);
            }
            if first <= self.log.last_index() {
                self.log.truncate_from(first);
            }
            let has_conf = entries[k..].iter().any(|e| e.kind.is_conf());
            let truncated_conf = self.conf_entries.last().is_some_and(|(i, _)| *i >= first);
            self.log.append(entries.into_iter().skip(k));
            self.mark_durable_change();
            if has_conf || truncated_conf {
                self.rebuild_membership_from(first);
            }
        }
        self.log.commit_to(commit.min(last_new).max(committed));
        let reply = self.msg(
            from,
            Body::AppendResponse(AppendResult::Success {
                match_index: last_new,
            }),
        );
        self.send(reply);
        Ok(())
    }

    /// Follower: commit news. Silent when the log holds (`prev_index`,
    /// `prev_term`); otherwise answered as an empty append would be.
    pub(crate) fn handle_commit(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        commit: u64,
    ) {
        let committed = self.log.committed;
        if prev_index < committed {
            // We know more than this says.
            return;
        }
        if self.log.term_at(prev_index) == Some(prev_term) {
            // Everything up to prev_index matches the leader's log.
            self.log.commit_to(commit.min(prev_index).max(committed));
            return;
        }
        self.reject_append(from, prev_index);
    }

    /// Follower: tells the leader our log does not hold its entry at
    /// `prev_index`, with a hint where to probe next.
    fn reject_append(&mut self, from: NodeId, prev_index: u64) {
        let (conflict_index, conflict_term) = self.log.conflict_hint(prev_index);
        let result = AppendResult::Reject {
            rejected_index: prev_index,
            conflict_index,
            conflict_term,
        };
        let reply = self.msg(from, Body::AppendResponse(result));
        self.send(reply);
    }

    /// Leader: handles a follower's answer to an append.
    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        result: AppendResult,
    ) -> Result<(), Rejected> {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else {
            return Err(Rejected::UnknownSender);
        };
        match result {
            AppendResult::Success { match_index } => {
                if match_index > last {
                    return Err(Rejected::AbsurdIndex);
                }
                if pr.acknowledge(match_index) {
                    self.maybe_commit();
                    self.maybe_send_timeout_now(from);
                }
            }
            AppendResult::Reject {
                rejected_index,
                conflict_index,
                conflict_term,
            } => {
                if rejected_index > last {
                    return Err(Rejected::AbsurdIndex);
                }
                if conflict_term.is_none() && conflict_index <= pr.match_index {
                    // The follower's log ends before what it acknowledged: it
                    // lost a durable tail (a torn last record cut on restart).
                    // Forget the match and probe from where its log ends.
                    pr.match_index = conflict_index.saturating_sub(1);
                    pr.become_probe();
                    self.send_append(from, false);
                    return Ok(());
                }
                let stale = match pr.state {
                    ReplicationState::Replicate => rejected_index <= pr.match_index,
                    ReplicationState::Probe { .. } => rejected_index + 1 != pr.next_index,
                    ReplicationState::Snapshot { .. } => true,
                };
                if stale {
                    return Ok(());
                }
                let hint = conflict_term
                    .and_then(|t| self.log.last_index_of_term(t).map(|i| i + 1))
                    .unwrap_or(conflict_index);
                let Some(pr) = self.progress.get_mut(&from) else {
                    return Ok(());
                };
                pr.become_probe();
                pr.next_index =
                    hint.clamp(pr.match_index + 1, rejected_index.max(pr.match_index + 1));
            }
        }
        self.send_append(from, false);
        Ok(())
    }

    /// Leader: the commit rule. Commits the highest index a majority of voters
    /// has durably, but only if it is of the current term.
    pub(crate) fn maybe_commit(&mut self) {
        let me = self.cfg.id;
        let stable = self.log.stable;
        let index = quorum::committed_index(&self.membership.voters, |id| {
            if id == me {
                stable
            } else {
                self.progress.get(&id).map_or(0, |p| p.match_index)
            }
        });
        if index <= self.log.committed || self.log.term_at(index) != Some(self.term) {
            return;
        }
        let old = self.log.committed;
        self.log.commit_to(index);
        let freed: u64 = (old + 1..=index)
            .filter_map(|i| self.log.entry(i))
            .map(Entry::size_bytes)
            .sum();
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(freed);
        if !self.membership.is_voter(me)
            && self.conf_entries.last().is_none_or(|(i, _)| *i <= index)
        {
            // Our own removal is committed: hand over by stepping down.
            let term = self.term;
            self.become_follower(term, None);
            return;
        }
        self.on_commit_in_term();
        self.broadcast_commit();
    }

    /// Leader: tells every follower the new commit index. One sent all it
    /// has gets bare commit news, which draws no answer (the appends in
    /// flight are answered anyway); the others get an append.
    fn broadcast_commit(&mut self) {
        let last = self.log.last_index();
        let ids: Vec<NodeId> = self.progress.keys().copied().collect();
        for id in ids {
            let sent_all = self
                .progress
                .get(&id)
                .filter(|pr| pr.state == ReplicationState::Replicate && pr.next_index > last)
                .map(|pr| pr.next_index - 1);
            let news = sent_all.and_then(|prev| Some((prev, self.log.term_at(prev)?)));
            match news {
                Some((prev_index, prev_term)) => {
                    let body = Body::Commit {
                        prev_index,
                        prev_term,
                        commit: self.log.committed,
                    };
                    let msg = self.msg(id, body);
                    self.send(msg);
                }
                None => self.send_append(id, true),
            }
        }
    }

    /// Leader: sends heartbeats (commit propagation and ReadIndex confirmation).
    pub(crate) fn broadcast_heartbeat(&mut self) {
        let round = self.reads.round();
        let ids: Vec<NodeId> = self.progress.keys().copied().collect();
        let stall_rounds =
            (self.cfg.election_timeout_ticks / self.cfg.heartbeat_interval_ticks / 2).max(2);
        for id in ids {
            let Some(pr) = self.progress.get_mut(&id) else {
                continue;
            };
            // Appends out and nothing back for half an election timeout: assume
            // they were lost (a slow disk answers late, not never) and fall back
            // to probing from the match.
            if pr.state == ReplicationState::Replicate && pr.has_inflight() {
                pr.stalled_rounds += 1;
                if pr.stalled_rounds >= stall_rounds {
                    pr.become_probe();
                }
            }
            let commit = pr.match_index.min(self.log.committed);
            let msg = self.msg(
                id,
                Body::Heartbeat {
                    commit,
                    read_round: round,
                },
            );
            self.send(msg);
        }
    }

    /// Follower: a heartbeat from the leader.
    pub(crate) fn handle_heartbeat(&mut self, from: NodeId, commit: u64, read_round: u64) {
        // The leader sends min(our match, its commit), so this is in our log.
        if commit <= self.log.last_index() {
            self.log.commit_to(commit);
        }
        let reply = self.msg(from, Body::HeartbeatResponse { read_round });
        self.send(reply);
    }

    /// Leader: a heartbeat answer; unpause probing, resume a stalled snapshot,
    /// and count the ReadIndex confirmation.
    pub(crate) fn handle_heartbeat_response(&mut self, from: NodeId, read_round: u64) {
        let last = self.log.last_index();
        if let Some(pr) = self.progress.get_mut(&from) {
            match pr.state {
                ReplicationState::Probe { .. } => {
                    pr.state = ReplicationState::Probe { paused: false }
                }
                ReplicationState::Snapshot { .. } => self.resend_snapshot_chunk(from),
                ReplicationState::Replicate => {}
            }
        }
        if self
            .progress
            .get(&from)
            .is_some_and(|p| p.match_index < last)
        {
            self.send_append(from, false);
        }
        self.confirm_read_round(from, read_round);
    }
}
