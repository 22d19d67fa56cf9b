//! ReplicaActor: drives the consensus core, applies committed entries to the
//! tree, publishes the read view and answers the writes waiting on them.
//!
//! ```text
//!   Tick (tokio interval) ─┐
//!   Consensus(msg) ────────┤                 ┌─► StorageActor: Persist (WAL + fdatasync)
//!   Submit(cmd) (sessions) ┼─► Node (core) ──┼─► peers: messages (bounded queues)
//!   Forward / Result ──────┤     ready()     ├─► Tree::apply ─► View (watch) ─► waiters
//!   Persisted(token) ──────┘                 └─► background snapshot ─► compact
//! ```
//!
//! Inputs only mark the node dirty; a `Flush` message queued behind them runs
//! the Ready loop once, so every proposal that arrived meanwhile goes out in one
//! append and one WAL write. Writes wait in `waiters` keyed by (index, term):
//! when that index is applied with that term the write's result is the answer;
//! with another term the write was lost with a leader change. Waiters are
//! answered only after the view that contains their entry is published, so a
//! session's next read sees its own write.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use corral_core::broadcast::{
    Entry, EntryKind, Message, Node, NodeId, ProposeError, Role, Snapshot,
};
use corral_core::tree::{Command, DataTree, ErrorCode, Response, SessionId, Tree, ZkError};
use corral_transport::wire::{ForwardOutcome, PeerMessage};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::spec::NodeSpec;
use crate::storage::recovery::encode_membership;
use crate::storage::{SnapshotMeta as StoredSnapshotMeta, SnapshotStore};
use crate::storage_actor::{StorageActor, StorageArgs, StorageMsg};
use crate::view::View;

/// A permit of the bounded gate in front of the replica's mailbox; dropped
/// when the message is handled.
pub type Gate = Option<OwnedSemaphorePermit>;

/// What a submitted command became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The entry's zxid, or the applied zxid when it never reached the log.
    pub zxid: i64,
    /// Apply's answer, or why the command was not applied.
    pub result: Result<Response, ZkError>,
}

/// The payload of a `Normal` log entry: the leader's time and the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCommand {
    /// The leader's clock when it proposed the entry (ms since the epoch).
    pub time_ms: i64,
    /// What to apply.
    pub command: Command,
}

/// Messages of the ReplicaActor.
#[derive(Debug)]
pub enum ReplicaMsg {
    /// One consensus tick.
    Tick,
    /// Run the Ready loop (queued behind the inputs that made the node dirty).
    Flush,
    /// A consensus message from a peer.
    Consensus(Message, Gate),
    /// A follower asks this node (as leader) to propose a command.
    Forward {
        /// The follower.
        from: NodeId,
        /// Its number for the forward.
        forward_id: u64,
        /// The command.
        command: Command,
        /// Mailbox permit.
        gate: Gate,
    },
    /// The leader's answer to one of our forwards.
    ForwardResult {
        /// Our number for the forward.
        forward_id: u64,
        /// What became of it.
        outcome: ForwardOutcome,
        /// Mailbox permit.
        gate: Gate,
    },
    /// Sessions a follower heard from.
    SessionHeartbeats {
        /// The sessions.
        sessions: Vec<SessionId>,
        /// Mailbox permit.
        gate: Gate,
    },
    /// A local session's command for the log; answered once applied here.
    Submit {
        /// The command.
        command: Command,
        /// Mailbox permit.
        gate: Gate,
        /// The answer.
        reply: RpcReplyPort<Submitted>,
    },
    /// The StorageActor made a persist batch durable.
    Persisted(corral_core::broadcast::PersistToken),
    /// A background snapshot at `index` is on disk.
    SnapshotSaved {
        /// Its last index.
        index: u64,
        /// The tree's bytes (kept by the core to send to laggards).
        data: Bytes,
    },
    /// A background snapshot failed (the log is simply not compacted).
    SnapshotFailed(String),
    /// Stop serving: a leader hands leadership to a caught-up voter first.
    Shutdown(RpcReplyPort<()>),
}

/// What the replica starts with.
#[derive(Debug)]
pub struct ReplicaArgs {
    /// The node's spec.
    pub spec: Arc<NodeSpec>,
    /// The consensus core, restored from storage.
    pub node: Node,
    /// Where views are published.
    pub view_tx: watch::Sender<View>,
    /// The open WAL, handed to the StorageActor this actor starts and supervises.
    pub wal: crate::storage::Wal,
    /// Receives the StorageActor's ref once it is started.
    pub storage_ref: Option<tokio::sync::oneshot::Sender<ActorRef<StorageMsg>>>,
    /// The snapshot directory (background snapshots are written here).
    pub snapshots: SnapshotStore,
    /// One bounded queue per peer.
    pub peers: BTreeMap<NodeId, mpsc::Sender<PeerMessage>>,
    /// Sessions local clients were heard from since the last tick.
    pub heard: Arc<Mutex<BTreeSet<SessionId>>>,
    /// Set by the ticker when it sends a Tick, cleared when it is handled.
    pub tick_pending: Arc<std::sync::atomic::AtomicBool>,
}

/// The ReplicaActor.
#[derive(Debug)]
pub struct ReplicaActor;

struct Waiter {
    term: u64,
    reply: RpcReplyPort<Submitted>,
    deadline_tick: u64,
}

struct Deferred {
    command: Command,
    reply: RpcReplyPort<Submitted>,
    deadline_tick: u64,
}

/// Results of recently applied entries, for forwards answered after apply.
const RECENT_RESULTS_MAX: usize = 4_096;
/// Commands waiting for a leader at most.
const DEFERRED_MAX: usize = 65_536;
/// Sessions per TouchSessions entry.
const TOUCH_BATCH_MAX: usize = 50_000;

/// The replica's state.
pub struct ReplicaState {
    spec: Arc<NodeSpec>,
    node: Node,
    tree: Tree,
    view_tx: watch::Sender<View>,
    storage: ActorRef<StorageMsg>,
    snapshots: SnapshotStore,
    peers: BTreeMap<NodeId, mpsc::Sender<PeerMessage>>,
    heard_local: Arc<Mutex<BTreeSet<SessionId>>>,
    tick_pending: Arc<std::sync::atomic::AtomicBool>,
    /// Leader: sessions heard from (locally or via followers) since the last touch.
    heard: BTreeSet<SessionId>,
    flush_scheduled: bool,
    waiters: BTreeMap<u64, Vec<Waiter>>,
    forwards: BTreeMap<u64, Deferred>,
    next_forward_id: u64,
    deferred: VecDeque<Deferred>,
    recent: VecDeque<(u64, u64, Result<Response, ZkError>)>,
    ticks: u64,
    last_time_ms: i64,
    seen_role: Role,
    seen_leader: Option<NodeId>,
    seen_term: u64,
    /// Leader: index of the entry giving every session a fresh timeout.
    fresh_touch_index: Option<u64>,
    /// Leader: housekeeping proposed up to this index is not repeated before it applies.
    housekeeping_index: u64,
    applied_since_snapshot: u64,
    bytes_since_snapshot: u64,
    snapshot_in_progress: bool,
    shutdown: Option<(RpcReplyPort<()>, u64)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn zk_error(code: ErrorCode, subject: &str) -> ZkError {
    ZkError::new(code, subject)
}

impl Actor for ReplicaActor {
    type Msg = ReplicaMsg;
    type State = ReplicaState;
    type Arguments = ReplicaArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ReplicaMsg>,
        mut args: ReplicaArgs,
    ) -> Result<ReplicaState, ActorProcessingErr> {
        let (storage, _) = Actor::spawn_linked(
            None,
            StorageActor,
            StorageArgs {
                wal: args.wal,
                snapshots: args.snapshots.clone(),
                replica: myself.clone(),
            },
            myself.get_cell(),
        )
        .await?;
        if let Some(tx) = args.storage_ref.take() {
            let _ = tx.send(storage.clone());
        }
        let tree = Tree::new(args.spec.tree_limits());
        let role = args.node.role();
        let term = args.node.term();
        Ok(ReplicaState {
            tree,
            view_tx: args.view_tx,
            storage,
            snapshots: args.snapshots,
            peers: args.peers,
            heard_local: args.heard,
            tick_pending: args.tick_pending,
            heard: BTreeSet::new(),
            flush_scheduled: false,
            waiters: BTreeMap::new(),
            forwards: BTreeMap::new(),
            next_forward_id: 1,
            deferred: VecDeque::new(),
            recent: VecDeque::new(),
            ticks: 0,
            last_time_ms: 0,
            seen_role: role,
            seen_leader: None,
            seen_term: term,
            fresh_touch_index: None,
            housekeeping_index: 0,
            applied_since_snapshot: 0,
            bytes_since_snapshot: 0,
            snapshot_in_progress: false,
            shutdown: None,
            node: args.node,
            spec: args.spec,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<ReplicaMsg>,
        state: &mut ReplicaState,
    ) -> Result<(), ActorProcessingErr> {
        // Apply what the restored log already holds as committed.
        state.drive(&myself);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ReplicaMsg>,
        message: ReplicaMsg,
        state: &mut ReplicaState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ReplicaMsg::Tick => {
                state
                    .tick_pending
                    .store(false, std::sync::atomic::Ordering::Release);
                state.node.tick();
                state.ticks += 1;
                state.on_tick();
                state.drive(&myself);
            }
            ReplicaMsg::Flush => {
                state.flush_scheduled = false;
                state.drive(&myself);
            }
            ReplicaMsg::Consensus(msg, _gate) => {
                if let Err(why) = state.node.step(msg) {
                    metrics::counter!("corral_replica_rejected_messages_total", "why" => why.name())
                        .increment(1);
                }
                state.schedule_flush(&myself);
            }
            ReplicaMsg::Forward {
                from,
                forward_id,
                command,
                gate: _gate,
            } => {
                let outcome = match state.propose(command) {
                    Ok((zxid, term)) => ForwardOutcome::Proposed { zxid, term },
                    Err(ProposeError::NotLeader { leader }) => ForwardOutcome::NotLeader { leader },
                    Err(ProposeError::Backpressure | ProposeError::Transferring) => {
                        ForwardOutcome::Busy
                    }
                    Err(e) => ForwardOutcome::Refused {
                        reason: e.to_string(),
                    },
                };
                state.send_peer(
                    from,
                    PeerMessage::ForwardResult {
                        forward_id,
                        outcome,
                    },
                );
                state.schedule_flush(&myself);
            }
            ReplicaMsg::ForwardResult {
                forward_id,
                outcome,
                gate: _gate,
            } => state.on_forward_result(forward_id, outcome),
            ReplicaMsg::SessionHeartbeats { sessions, gate: _ } => {
                if state.node.role() == Role::Leader {
                    state.heard.extend(sessions);
                }
            }
            ReplicaMsg::Submit {
                command,
                gate: _gate,
                reply,
            } => {
                let deadline_tick = state.ticks + state.request_timeout_ticks();
                state.submit(Deferred {
                    command,
                    reply,
                    deadline_tick,
                });
                state.schedule_flush(&myself);
            }
            ReplicaMsg::Persisted(token) => {
                state.node.persisted(token);
                state.drive(&myself);
            }
            ReplicaMsg::SnapshotSaved { index, data } => {
                state.snapshot_in_progress = false;
                match state.node.compact(index, data) {
                    Ok(()) => {
                        tracing::info!(
                            node = state.spec.id,
                            index,
                            "snapshot taken; log compacted"
                        );
                        let _ = state.storage.cast(StorageMsg::Compact(index));
                    }
                    Err(e) => {
                        tracing::debug!(node = state.spec.id, error = %e, "snapshot not used")
                    }
                }
            }
            ReplicaMsg::SnapshotFailed(why) => {
                state.snapshot_in_progress = false;
                tracing::warn!(node = state.spec.id, error = %why, "background snapshot failed");
            }
            ReplicaMsg::Shutdown(reply) => {
                state.begin_shutdown(reply);
                state.drive(&myself);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ReplicaMsg>,
        event: SupervisionEvent,
        state: &mut ReplicaState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(_, why) => {
                tracing::error!(node = state.spec.id, error = %why, "storage failed: stopping the node");
                myself.stop(Some(format!("storage failed: {why}")));
            }
            SupervisionEvent::ActorTerminated(_, _, why) => {
                tracing::info!(node = state.spec.id, reason = ?why, "storage stopped");
                myself.stop(Some("storage stopped".into()));
            }
            _ => {}
        }
        Ok(())
    }
}

impl ReplicaState {
    fn request_timeout_ticks(&self) -> u64 {
        // Long enough for a few elections; a client retries after it.
        let ticks = 10_000 / self.spec.tick_ms.max(1);
        ticks.max(u64::from(self.spec.election_timeout_ticks) * 4)
    }

    fn schedule_flush(&mut self, myself: &ActorRef<ReplicaMsg>) {
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            // Only fails when the actor is stopping.
            let _ = myself.send_message(ReplicaMsg::Flush);
        }
    }

    /// Proposes a command as leader; returns its (index, term).
    fn propose(&mut self, command: Command) -> Result<(u64, u64), ProposeError> {
        if self.node.role() != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.node.leader(),
            });
        }
        let entry = LogCommand {
            time_ms: now_ms().max(self.last_time_ms),
            command,
        };
        let bytes = postcard::to_allocvec(&entry).unwrap_or_default();
        let index = self.node.propose(vec![Bytes::from(bytes)])?;
        metrics::counter!("corral_replica_proposals_total").increment(1);
        Ok((index, self.node.term()))
    }

    /// A local session's command: propose it, forward it, or keep it until a leader is known.
    fn submit(&mut self, d: Deferred) {
        if self.shutdown.is_some() && self.node.role() == Role::Leader {
            // Transferring: the next leader takes it.
            self.defer(d);
            return;
        }
        match self.node.role() {
            Role::Leader => match self.propose(d.command.clone()) {
                Ok((index, term)) => {
                    self.waiters.entry(index).or_default().push(Waiter {
                        term,
                        reply: d.reply,
                        deadline_tick: d.deadline_tick,
                    });
                }
                Err(ProposeError::Transferring | ProposeError::NotLeader { .. }) => self.defer(d),
                Err(ProposeError::Backpressure) => self.answer(
                    d.reply,
                    Err(zk_error(ErrorCode::Throttled, "the leader is busy")),
                ),
                Err(e) => self.answer(
                    d.reply,
                    Err(zk_error(ErrorCode::BadArguments, &e.to_string())),
                ),
            },
            _ => match self.node.leader() {
                Some(leader) if leader != self.spec.id && self.peers.contains_key(&leader) => {
                    let forward_id = self.next_forward_id;
                    self.next_forward_id += 1;
                    let msg = PeerMessage::Forward {
                        forward_id,
                        command: d.command.clone(),
                    };
                    if self.send_peer(leader, msg) {
                        self.forwards.insert(forward_id, d);
                    } else {
                        self.defer(d);
                    }
                }
                _ => self.defer(d),
            },
        }
    }

    fn defer(&mut self, d: Deferred) {
        if self.deferred.len() >= DEFERRED_MAX {
            self.answer(
                d.reply,
                Err(zk_error(
                    ErrorCode::Throttled,
                    "too many requests wait for a leader",
                )),
            );
        } else {
            self.deferred.push_back(d);
        }
    }

    fn answer(&self, reply: RpcReplyPort<Submitted>, result: Result<Response, ZkError>) {
        let zxid = self.tree.data().last_zxid();
        // The session may have gone: nobody to answer.
        let _ = reply.send(Submitted { zxid, result });
    }

    fn on_forward_result(&mut self, forward_id: u64, outcome: ForwardOutcome) {
        let Some(d) = self.forwards.remove(&forward_id) else {
            return;
        };
        match outcome {
            ForwardOutcome::Proposed { zxid, term } => {
                if zxid <= self.node.applied_index() {
                    let found = self
                        .recent
                        .iter()
                        .find(|(i, _, _)| *i == zxid)
                        .map(|(_, t, r)| (*t, r.clone()));
                    let result = match found {
                        Some((t, r)) if t == term => r,
                        _ => Err(zk_error(
                            ErrorCode::ConnectionLoss,
                            "write lost in a leader change",
                        )),
                    };
                    let _ = d.reply.send(Submitted {
                        zxid: i64::try_from(zxid).unwrap_or(i64::MAX),
                        result,
                    });
                } else {
                    self.waiters.entry(zxid).or_default().push(Waiter {
                        term,
                        reply: d.reply,
                        deadline_tick: d.deadline_tick,
                    });
                }
            }
            ForwardOutcome::NotLeader { .. } | ForwardOutcome::Busy => self.defer(d),
            ForwardOutcome::Refused { reason } => {
                self.answer(d.reply, Err(zk_error(ErrorCode::BadArguments, &reason)));
            }
        }
    }

    /// Queues `msg` for peer `to`; false if there is no such peer or its queue is full.
    fn send_peer(&self, to: NodeId, msg: PeerMessage) -> bool {
        let Some(queue) = self.peers.get(&to) else {
            return false;
        };
        match queue.try_send(msg) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("corral_peer_dropped_messages_total").increment(1);
                false
            }
        }
    }

    /// The Ready loop: persist → send → apply → publish → answer.
    fn drive(&mut self, myself: &ActorRef<ReplicaMsg>) {
        let mut published = false;
        while self.node.has_ready() {
            let ready = self.node.ready();
            if let Some(persist) = ready.persist {
                if self.storage.cast(StorageMsg::Persist(persist)).is_err() {
                    tracing::error!(node = self.spec.id, "storage is gone: stopping");
                    myself.stop(Some("storage is gone".into()));
                    return;
                }
            }
            for msg in ready.messages {
                let to = msg.to;
                self.send_peer(to, PeerMessage::Consensus(msg));
            }
            let mut results = Vec::new();
            if let Some(snapshot) = ready.apply_snapshot {
                if let Err(why) = self.apply_snapshot(&snapshot) {
                    // The log below it is gone: this node cannot go on serving.
                    tracing::error!(node = self.spec.id, error = %why, "stopping: a snapshot does not restore");
                    myself.stop(Some(why));
                    return;
                }
            }
            for entry in &ready.committed_entries {
                let result = self.apply(entry);
                results.push((entry.index, entry.term, result));
            }
            self.publish();
            published = true;
            self.answer_waiters(results);
        }
        if !published && self.role_changed() {
            self.publish();
        }
        self.observe_role();
        self.maybe_snapshot(myself);
    }

    fn role_changed(&self) -> bool {
        self.node.role() != self.seen_role
            || self.node.leader() != self.seen_leader
            || self.node.term() != self.seen_term
    }

    fn observe_role(&mut self) {
        if !self.role_changed() {
            return;
        }
        let (role, leader, term) = (self.node.role(), self.node.leader(), self.node.term());
        let id = self.spec.id;
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
        if self.seen_leader != leader && self.seen_leader.is_some() {
            // Forwards to the old leader may never be answered, and it may have
            // proposed them: retrying could apply a write twice, so their
            // outcome is unknown to the client (ZooKeeper's ConnectionLoss).
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

    fn apply_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), String> {
        if snapshot.meta.index == 0 && snapshot.data.is_empty() {
            return Ok(());
        }
        let data = DataTree::restore(&snapshot.data)
            .map_err(|e| format!("snapshot at index {}: {e}", snapshot.meta.index))?;
        self.tree = Tree::from_data(data);
        self.applied_since_snapshot = 0;
        self.bytes_since_snapshot = 0;
        tracing::info!(
            node = self.spec.id,
            index = snapshot.meta.index,
            "state restored from snapshot"
        );
        Ok(())
    }

    /// Applies one committed entry to the tree.
    fn apply(&mut self, entry: &Entry) -> Result<Response, ZkError> {
        let zxid = i64::try_from(entry.index).unwrap_or(i64::MAX);
        let (time_ms, command) = match &entry.kind {
            EntryKind::Normal(bytes) => match postcard::from_bytes::<LogCommand>(bytes) {
                Ok(c) => (c.time_ms, c.command),
                Err(e) => {
                    tracing::error!(node = self.spec.id, index = entry.index, error = %e, "log entry does not decode; applied as a no-op");
                    (self.last_time_ms, Command::Noop)
                }
            },
            EntryKind::Noop | EntryKind::ConfChange(_) | EntryKind::Bootstrap(_) => {
                (self.last_time_ms, Command::Noop)
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
        metrics::counter!("corral_replica_applied_entries_total").increment(1);
        applied.result
    }

    fn publish(&mut self) {
        let view = View {
            tree: self.tree.view(),
            applied: self.node.applied_index(),
            role: self.node.role(),
            leader: self.node.leader(),
            term: self.node.term(),
            committed: self.node.committed_index(),
        };
        metrics::gauge!("corral_replica_applied_index").set(view.applied as f64);
        metrics::gauge!("corral_replica_committed_index").set(view.committed as f64);
        self.view_tx.send_replace(view);
    }

    fn answer_waiters(&mut self, results: Vec<(u64, u64, Result<Response, ZkError>)>) {
        for (index, term, result) in results {
            if let Some(waiters) = self.waiters.remove(&index) {
                for w in waiters {
                    let result = if w.term == term {
                        result.clone()
                    } else {
                        Err(zk_error(
                            ErrorCode::ConnectionLoss,
                            "write lost in a leader change",
                        ))
                    };
                    let _ = w.reply.send(Submitted {
                        zxid: i64::try_from(index).unwrap_or(i64::MAX),
                        result,
                    });
                }
            }
            if self.recent.len() >= RECENT_RESULTS_MAX {
                self.recent.pop_front();
            }
            self.recent.push_back((index, term, result));
        }
        // Entries skipped by a snapshot: their writers cannot learn the result.
        let applied = self.node.applied_index();
        while let Some(entry) = self.waiters.first_entry() {
            if *entry.key() > applied {
                break;
            }
            for w in entry.remove() {
                self.answer(
                    w.reply,
                    Err(zk_error(
                        ErrorCode::ConnectionLoss,
                        "write outcome unknown (snapshot installed)",
                    )),
                );
            }
        }
    }

    fn on_tick(&mut self) {
        let heard: BTreeSet<SessionId> = std::mem::take(
            &mut *self
                .heard_local
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.heard.extend(heard);
        self.expire_requests();
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
    fn expire_requests(&mut self) {
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
            for waiters in self.waiters.values_mut() {
                let (late, keep): (Vec<_>, Vec<_>) =
                    waiters.drain(..).partition(|w| w.deadline_tick <= now);
                *waiters = keep;
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
            self.waiters.retain(|_, w| !w.is_empty());
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
    fn housekeeping(&mut self, touch_now: bool) {
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
    fn maybe_snapshot(&mut self, myself: &ActorRef<ReplicaMsg>) {
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
            let data = view.snapshot();
            let msg = match store.save(&meta, &data) {
                Ok(_) => ReplicaMsg::SnapshotSaved {
                    index,
                    data: Bytes::from(data),
                },
                Err(e) => ReplicaMsg::SnapshotFailed(e.to_string()),
            };
            let _ = replica.send_message(msg);
        });
    }

    fn begin_shutdown(&mut self, reply: RpcReplyPort<()>) {
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
