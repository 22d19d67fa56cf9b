//! Work done on ticks: session liveness and expiry, container and TTL
//! reaping as leader entries, request deadlines, background snapshots, and
//! the leader transfer of a graceful stop.

use super::*;

impl ReplicaState {
    pub(super) fn on_tick(&mut self) {
        let heard: BTreeSet<SessionId> = std::mem::take(
            &mut *self
                .heard_local
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.heard.extend(heard);
        self.expire_requests();
        self.expire_reads();
        // Liveness travels client → follower → leader → log: each hop gets a
        // small share of the shortest session timeout.
        let touch_ticks = u64::try_from(self.spec.session_timeout_ms_min / 8)
            .unwrap_or(1)
            .max(1)
            / self.spec.tick_ms.max(1);
        let touch_now = self.ticks % touch_ticks.max(1) == 0;
        match self.node.role() {
            Role::Leader => self.housekeeping(touch_now),
            _ => {
                if touch_now && !self.heard.is_empty() {
                    if let Some(leader) = self.node.leader().filter(|l| *l != self.spec.id) {
                        let sessions: Vec<SessionId> =
                            std::mem::take(&mut self.heard).into_iter().collect();
                        self.send_peer(leader, PeerMessage::SessionHeartbeats { sessions });
                    }
                }
            }
        }
        if let Some((_, deadline)) = &self.shutdown {
            let done = self.node.role() != Role::Leader || self.ticks >= *deadline;
            if done {
                if let Some((reply, _)) = self.shutdown.take() {
                    let _ = reply.send(());
                }
            }
        }
    }

    /// Answers requests that waited too long for a leader or a forward.
    pub(super) fn expire_requests(&mut self) {
        let now = self.ticks;
        let expired: Vec<u64> = self
            .forwards
            .iter()
            .filter(|(_, d)| d.deadline_tick <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(d) = self.forwards.remove(&id) {
                self.answer(
                    d.reply,
                    Err(zk_error(
                        ErrorCode::ConnectionLoss,
                        "the leader did not answer",
                    )),
                );
            }
        }
        if now % 20 == 0 {
            // Entries truncated by a leader change are refilled by the next
            // leader's entries; this only catches a log that stays idle.
            let zxid = self.tree.data().last_zxid();
            let (late, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.waiters)
                .into_iter()
                .partition(|w| w.deadline_tick <= now);
            self.waiters = keep;
            for w in late {
                let _ = w.reply.send(Submitted {
                    zxid,
                    result: Err(zk_error(
                        ErrorCode::ConnectionLoss,
                        "the write did not commit in time",
                    )),
                });
            }
        }
        while self
            .deferred
            .front()
            .is_some_and(|d| d.deadline_tick <= now)
        {
            if let Some(d) = self.deferred.pop_front() {
                self.answer(
                    d.reply,
                    Err(zk_error(ErrorCode::ConnectionLoss, "no leader")),
                );
            }
        }
        if !self.deferred.is_empty()
            && (self.node.role() == Role::Leader || self.node.leader().is_some())
        {
            let waiting = std::mem::take(&mut self.deferred);
            for d in waiting {
                self.submit(d);
            }
        }
    }

    /// Leader: session liveness, expiry, container and TTL reaping, as entries.
    pub(super) fn housekeeping(&mut self, touch_now: bool) {
        let applied = self.node.applied_index();
        let Some(fresh) = self.fresh_touch_index else {
            // A new leader gives every session a fresh timeout before expiring any.
            let all: Vec<SessionId> = self.tree.data().sessions().map(|s| s.id).collect();
            let mut last = None;
            if all.is_empty() {
                last = Some(self.node.last_index());
            }
            for chunk in all.chunks(TOUCH_BATCH_MAX) {
                match self.propose(Command::TouchSessions {
                    sessions: chunk.to_vec(),
                }) {
                    Ok((index, _)) => last = Some(index),
                    Err(_) => return,
                }
            }
            self.fresh_touch_index = last;
            return;
        };
        if applied < fresh {
            return;
        }
        if touch_now && !self.heard.is_empty() {
            let sessions: Vec<SessionId> = std::mem::take(&mut self.heard).into_iter().collect();
            for chunk in sessions.chunks(TOUCH_BATCH_MAX) {
                let _ = self.propose(Command::TouchSessions {
                    sessions: chunk.to_vec(),
                });
            }
        }
        if applied < self.housekeeping_index {
            return;
        }
        let now = now_ms();
        let data = self.tree.data();
        let expired: Vec<SessionId> = data
            .expired_sessions(now)
            .into_iter()
            .filter(|s| !self.heard.contains(s))
            .collect();
        let containers = data.containers_to_reap(now);
        let ttls = data.ttl_to_reap(now);
        let mut commands = Vec::new();
        if !expired.is_empty() {
            tracing::info!(
                node = self.spec.id,
                count = expired.len(),
                "expiring sessions"
            );
            commands.push(Command::ExpireSessions { sessions: expired });
        }
        if !containers.is_empty() {
            commands.push(Command::ReapContainers { paths: containers });
        }
        if !ttls.is_empty() {
            commands.push(Command::ReapTtl { paths: ttls });
        }
        for command in commands {
            if let Ok((index, _)) = self.propose(command) {
                self.housekeeping_index = index;
            }
        }
    }

    /// Starts a background snapshot once enough was applied since the last one.
    pub(super) fn maybe_snapshot(&mut self, myself: &ActorRef<ReplicaMsg>) {
        if self.snapshot_in_progress
            || (self.applied_since_snapshot < self.spec.snapshot_entries
                && self.bytes_since_snapshot < self.spec.snapshot_bytes)
        {
            return;
        }
        let index = self.node.applied_index();
        let Some(term) = self.node.term_at(index) else {
            return;
        };
        if index <= self.node.snapshot_meta().index {
            return;
        }
        self.snapshot_in_progress = true;
        self.applied_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        let view = self.tree.view();
        let meta = StoredSnapshotMeta {
            index,
            term,
            consensus: encode_membership(self.node.membership()),
        };
        let store = self.snapshots.clone();
        let replica = myself.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let data = view.snapshot();
            let msg = match store.save(&meta, &data) {
                Ok(_) => {
                    metrics::histogram!("corral_snapshot_duration_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::gauge!("corral_snapshot_size_bytes").set(data.len() as f64);
                    metrics::counter!("corral_snapshots_taken_total").increment(1);
                    ReplicaMsg::SnapshotSaved {
                        index,
                        data: Bytes::from(data),
                    }
                }
                Err(e) => ReplicaMsg::SnapshotFailed(e.to_string()),
            };
            let _ = replica.send_message(msg);
        });
    }

    pub(super) fn begin_shutdown(&mut self, reply: RpcReplyPort<()>) {
        let deadline = self.ticks + u64::from(self.spec.election_timeout_ticks) * 2;
        if self.node.role() == Role::Leader {
            let target = self
                .node
                .membership()
                .voters
                .iter()
                .filter(|id| **id != self.spec.id)
                .filter_map(|id| self.node.follower_progress(*id).map(|(m, _)| (m, *id)))
                .max();
            if let Some((_, target)) = target {
                match self.node.transfer_leadership(target) {
                    Ok(()) => {
                        tracing::info!(
                            "corral node {} transfers leadership to node {target}",
                            self.spec.id
                        );
                        self.shutdown = Some((reply, deadline));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(node = self.spec.id, error = %e, "leader transfer refused")
                    }
                }
            }
        }
        let _ = reply.send(());
    }
}
