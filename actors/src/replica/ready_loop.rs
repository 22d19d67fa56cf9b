//! The Ready loop (send → persist → apply → answer), applying entries to
//! the tree, publishing the read view, and noticing role changes.

use super::*;
use commit_news::{is_commit_news, is_durable_news};

impl ReplicaState {
    pub(super) fn schedule_flush(&mut self, myself: &ActorRef<ReplicaMsg>) {
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            // Only fails when the actor is stopping.
            let _ = myself.send_message(ReplicaMsg::Flush);
        }
    }

    /// The Ready loop: send → persist → apply → publish (if a reader wants
    /// it) → answer → send the commit news that followers wait on.
    pub(super) fn drive(&mut self, myself: &ActorRef<ReplicaMsg>) {
        let mut results = Vec::new();
        let mut restored = false;
        // Followers whose forwarded writes this drive applies: their clients
        // wait for our commit news.
        let mut waiting: BTreeSet<NodeId> = BTreeSet::new();
        while self.node.has_ready() {
            let ready = self.node.ready();
            // None of them depends on the persist: entries leave before our
            // own write starts, which runs alongside the followers' writes.
            // Commit news is held at least until the local writers' replies
            // are out (see commit_news).
            for msg in ready.messages {
                if is_commit_news(&msg) {
                    self.hold_news(msg);
                } else if is_durable_news(&msg) {
                    self.send_durable_news(msg);
                } else {
                    self.send_consensus(msg);
                }
            }
            if let Some(persist) = ready.persist {
                // Whether the write must leave the event loop free while it
                // runs (see storage_actor): on a leader always, since its
                // followers' acks can commit an entry without its own write,
                // and it proposes what comes in meanwhile; on a follower whose
                // clients wait for forwarded writes, to hear the leader's commit.
                let on_thread = self.node.role() == Role::Leader || !self.forwards.is_empty();
                if self
                    .storage
                    .cast(StorageMsg::Persist { persist, on_thread })
                    .is_err()
                {
                    tracing::error!(node = self.spec.id, "storage is gone: stopping");
                    myself.stop(Some("storage is gone".into()));
                    return;
                }
            }
            if let Some(snapshot) = ready.apply_snapshot {
                if let Err(why) = self.apply_snapshot(&snapshot) {
                    // The log below it is gone: this node cannot go on serving.
                    tracing::error!(node = self.spec.id, error = %why, "stopping: a snapshot does not restore");
                    myself.stop(Some(why));
                    return;
                }
                restored = true;
            }
            results.reserve(ready.committed_entries.len());
            for entry in &ready.committed_entries {
                let (result, origin) = self.apply(entry);
                let forward = match origin {
                    Some(o) if o.node == self.spec.id => {
                        self.forwards.remove(&o.forward_id).map(|d| d.reply)
                    }
                    Some(o) => {
                        waiting.insert(o.node);
                        None
                    }
                    None => None,
                };
                results.push(Applied {
                    index: entry.index,
                    term: entry.term,
                    result,
                    forward,
                });
            }
            self.answer_reads(ready.read_states);
        }
        if restored || !results.is_empty() {
            let applied = self.node.applied_index();
            self.demand.set_applied(applied);
            let hot = super::replica_metrics::hot_metrics();
            hot.applied_index.set(applied as f64);
            hot.committed_index.set(self.node.committed_index() as f64);
        }
        // Only when readers are about (or the role changed): each publish
        // makes the next applies copy the tree's touched paths.
        if restored || self.role_changed() || self.publish_wanted() {
            self.publish();
        }
        // Answered only now that readers know the applied index, so a
        // session's next read sees its own write.
        if restored || !results.is_empty() {
            self.answer_waiters(results);
        }
        self.release_news(myself, &waiting);
        self.observe_role();
        self.maybe_snapshot(myself);
    }

    pub(super) fn role_changed(&self) -> bool {
        self.node.role() != self.seen_role
            || self.node.leader() != self.seen_leader
            || self.node.term() != self.seen_term
    }

    pub(super) fn observe_role(&mut self) {
        if !self.role_changed() {
            return;
        }
        let (role, leader, term) = (self.node.role(), self.node.leader(), self.node.term());
        let id = self.spec.id;
        self.count_role_change(role, leader, term);
        if role == Role::Leader && self.seen_role != Role::Leader {
            tracing::info!("corral node {id} became leader in term {term}");
            metrics::counter!("corral_replica_elections_won_total").increment(1);
            self.fresh_touch_index = None;
            self.housekeeping_index = 0;
            self.heard.clear();
        } else if leader != self.seen_leader {
            match leader {
                Some(l) => tracing::info!("corral node {id} follows leader {l} in term {term}"),
                None => tracing::info!("corral node {id} has no leader in term {term}"),
            }
        }
        if self.seen_leader.is_some() && (self.seen_leader != leader || self.seen_term != term) {
            // Forwards to the old leader (or to this leader in its old term)
            // may be lost, and it may have proposed them: retrying could apply
            // a write twice, so their outcome is unknown to the client
            // (ZooKeeper's ConnectionLoss).
            // Forwards still held for a link to the old leader go unsent.
            self.leader_epoch.advance();
            let pending = std::mem::take(&mut self.forwards);
            for (_, d) in pending {
                self.answer(
                    d.reply,
                    Err(zk_error(
                        ErrorCode::ConnectionLoss,
                        "the leader changed; outcome unknown",
                    )),
                );
            }
        }
        self.seen_role = role;
        self.seen_leader = leader;
        self.seen_term = term;
        metrics::gauge!("corral_replica_term").set(term as f64);
        metrics::gauge!("corral_replica_is_leader").set(if role == Role::Leader {
            1.0
        } else {
            0.0
        });
        // Commands that waited for a leader go now.
        let waiting = std::mem::take(&mut self.deferred);
        for d in waiting {
            self.submit(d);
        }
    }

    pub(super) fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), String> {
        if snapshot.meta.index == 0 && snapshot.data.is_empty() {
            return Ok(());
        }
        let data = DataTree::restore(&snapshot.data)
            .map_err(|e| format!("snapshot at index {}: {e}", snapshot.meta.index))?;
        self.tree = Tree::from_data(data);
        self.tree.set_history_limit(self.spec.watch_history_changes);
        // Watches were this node's; the sessions restore theirs on reconnect.
        self.drop_all_routes();
        self.applied_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        tracing::info!(
            node = self.spec.id,
            index = snapshot.meta.index,
            "state restored from snapshot"
        );
        Ok(())
    }

    /// Applies one committed entry to the tree; also returns the follower
    /// forward the entry carries.
    pub(super) fn apply(
        &mut self,
        entry: &Entry,
    ) -> (Result<Response, ZkError>, Option<EntryOrigin>) {
        let zxid = i64::try_from(entry.index).unwrap_or(i64::MAX);
        let (time_ms, command, origin) = match &entry.kind {
            EntryKind::Normal(bytes) => match postcard::take_from_bytes::<LogCommand>(bytes) {
                Ok((c, rest)) => {
                    // Entries of older leaders end with the command.
                    let origin = postcard::from_bytes::<EntryOrigin>(rest).ok();
                    (c.time_ms, c.command, origin)
                }
                Err(e) => {
                    tracing::error!(node = self.spec.id, index = entry.index, error = %e, "log entry does not decode; applied as a no-op");
                    (self.last_time_ms, Command::Noop, None)
                }
            },
            EntryKind::Noop | EntryKind::ConfChange(_) | EntryKind::Bootstrap(_) => {
                (self.last_time_ms, Command::Noop, None)
            }
        };
        self.last_time_ms = self.last_time_ms.max(time_ms);
        self.applied_since_snapshot += 1;
        self.bytes_since_snapshot += entry.size_bytes();
        let applied = self.tree.apply(&corral_core::tree::Entry {
            zxid,
            time_ms,
            command,
        });
        super::replica_metrics::hot_metrics()
            .applied_entries
            .increment(1);
        // Handed on with a fan-out ticket before the view is published and
        // writers are answered, so a session's writer waits for an entry's
        // events before any reply at or after it.
        self.fan_out(applied.fired);
        (applied.result, origin)
    }

    /// Whether a reader waits for a newer view than the published one, or
    /// read that one (readers are about).
    pub(super) fn publish_wanted(&self) -> bool {
        self.demand.is_wanted() && self.view_tx.borrow().applied < self.node.applied_index()
    }

    pub(super) fn publish(&mut self) {
        self.demand.fulfil();
        let view = View {
            tree: self.tree.view(),
            applied: self.node.applied_index(),
            role: self.node.role(),
            leader: self.node.leader(),
            term: self.node.term(),
            committed: self.node.committed_index(),
        };
        self.view_tx.send_replace(view);
    }
}
