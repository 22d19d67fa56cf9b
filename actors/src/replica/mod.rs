//! ReplicaActor: drives the consensus core, applies committed entries to the
//! tree, publishes the read view and answers the writes waiting on them.
//!
//! ```text
//!   Tick (tokio interval) ─┐
//!   Consensus(msg) ────────┤                 ┌─► StorageActor: Persist (WAL + fdatasync)
//!   Submit(cmd) (sessions) ┼─► Node (core) ──┼─► peers: messages (bounded queues)
//!   Forward / Result ──────┤     ready()     ├─► Tree::apply ─► waiters (View on demand)
//!   Persisted(token) ──────┘                 └─► background snapshot ─► compact
//! ```
//!
//! Inputs only mark the node dirty; a `Flush` message queued behind them runs
//! the Ready loop once, so every proposal that arrived meanwhile goes out in one
//! append and one WAL write. Writes wait in `waiters` for (index, term):
//! when that index is applied with that term the write's result is the answer;
//! with another term the write was lost with a leader change. A follower's
//! forwarded write waits in `forwards` until it applies the entry that names
//! that forward (an [`EntryOrigin`] after the command), as ZooKeeper's
//! followers match committed requests to their own. Writes are answered only
//! after the applied index that contains their entry is shared with readers
//! ([`crate::view::Views`]), so a session's next read sees its own write. A
//! view is published only when a reader wants a newer one than the last.

mod commit_news;
mod housekeeping;
mod linear_reads;
mod ready_loop;
mod replica_metrics;
mod watch_routes;
mod write_path;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use corral_core::broadcast::{
    Body, Entry, EntryKind, Message, Node, NodeId, ProposeError, Role, Snapshot,
};
use corral_core::tree::{
    Command, DataTree, ErrorCode, Request, Response, SessionId, Tree, ZkError,
};
use corral_transport::wire::{ForwardOutcome, PeerMessage};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::spec::NodeSpec;
use crate::storage::recovery::encode_membership;
use crate::storage::{SnapshotMeta as StoredSnapshotMeta, SnapshotStore};
use crate::storage_actor::{StorageActor, StorageArgs, StorageMsg};
use crate::view::{View, ViewDemand};

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

/// The follower forward a log entry carries, encoded after its [`LogCommand`]
/// (older nodes read the command and ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryOrigin {
    /// The follower that forwarded the command.
    pub node: NodeId,
    /// Its number for the forward.
    pub forward_id: u64,
}

/// Messages of the ReplicaActor.
#[derive(Debug)]
pub enum ReplicaMsg {
    /// One consensus tick.
    Tick,
    /// Run the Ready loop (queued behind the inputs that made the node dirty).
    Flush,
    /// Send the commit news held back (see `commit_news`).
    SendNews,
    /// A consensus message from a peer.
    Consensus(Message, Gate),
    /// A follower asks this node (as leader) to propose commands: the
    /// forwards that arrived together, in order.
    Forward {
        /// The follower.
        from: NodeId,
        /// Its number for each forward, and the command.
        forwards: Vec<(u64, Command)>,
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
    /// Local sessions' commands for the log, in order; each answered once
    /// applied here.
    Submit {
        /// The commands and where to answer each.
        commands: Vec<(Command, RpcReplyPort<Submitted>)>,
        /// Mailbox permit.
        gate: Gate,
    },
    /// A session's watch operation, evaluated between two applies.
    Watch {
        /// The session.
        session: SessionId,
        /// What to do.
        op: crate::session::WatchOp,
        /// Mailbox permit.
        gate: Gate,
        /// The answer, at the zxid it was evaluated.
        reply: RpcReplyPort<Submitted>,
    },
    /// A linearizable read: answered with the index this node must apply
    /// before reading, once the leader confirmed it with a quorum.
    ReadIndex {
        /// Mailbox permit.
        gate: Gate,
        /// The index to reach, or why there is none.
        reply: RpcReplyPort<Result<u64, ZkError>>,
    },
    /// Route a session's watch events to a stream's bounded queue.
    RouteEvents {
        /// The session.
        session: SessionId,
        /// The stream's number.
        stream: u64,
        /// Its event queue.
        events: crate::session::EventRoute,
        /// Mailbox permit.
        gate: Gate,
    },
    /// A session stream ended: stop routing to it and drop its watches.
    Unroute {
        /// The session.
        session: SessionId,
        /// The stream's number.
        stream: u64,
        /// Mailbox permit.
        gate: Gate,
    },
    /// The StorageActor made a persist batch durable.
    Persisted(corral_core::broadcast::PersistToken),
    /// A peer's process is gone: its host refused our datagrams (ICMP port
    /// unreachable, see `Link::remote_gone`).
    PeerGone(NodeId),
    /// A background snapshot at `index` is on disk.
    SnapshotSaved {
        /// Its last index.
        index: u64,
        /// The tree's bytes (kept by the core to send to laggards).
        data: Bytes,
    },
    /// A reader waits for a newer view than the published one.
    Publish,
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
    /// Readers' wish for a newer view, and the applied index they compare with.
    pub demand: Arc<ViewDemand>,
    /// The open WAL, handed to the StorageActor this actor starts and supervises.
    pub wal: crate::storage::Wal,
    /// Receives the StorageActor's ref once it is started.
    pub storage_ref: Option<tokio::sync::oneshot::Sender<ActorRef<StorageMsg>>>,
    /// The snapshot directory (background snapshots are written here).
    pub snapshots: SnapshotStore,
    /// One bounded queue per peer.
    pub peers: BTreeMap<NodeId, mpsc::Sender<crate::peer::Outgoing>>,
    /// Advanced on each change of leader or term: the peer queues drop the
    /// forwards they hold from before.
    pub leader_epoch: crate::held_forwards::LeaderEpoch,
    /// Sessions local clients were heard from since the last tick.
    pub heard: Arc<Mutex<BTreeSet<SessionId>>>,
    /// Set by the ticker when it sends a Tick, cleared when it is handled.
    pub tick_pending: Arc<std::sync::atomic::AtomicBool>,
    /// The fan-out watermark the session writers wait on.
    pub fanout: Arc<crate::znode::fanout_mark::FanoutMark>,
}

/// The ReplicaActor.
#[derive(Debug)]
pub struct ReplicaActor;

/// An applied entry's outcome, to answer once the view holding it is published.
struct Applied {
    index: u64,
    term: u64,
    result: Result<Response, ZkError>,
    /// The reply of this node's forward the entry carried.
    forward: Option<RpcReplyPort<Submitted>>,
}

struct Waiter {
    index: u64,
    term: u64,
    reply: RpcReplyPort<Submitted>,
    deadline_tick: u64,
}

struct Deferred {
    command: Command,
    reply: RpcReplyPort<Submitted>,
    deadline_tick: u64,
}

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
    demand: Arc<ViewDemand>,
    storage: ActorRef<StorageMsg>,
    snapshots: SnapshotStore,
    peers: BTreeMap<NodeId, mpsc::Sender<crate::peer::Outgoing>>,
    leader_epoch: crate::held_forwards::LeaderEpoch,
    heard_local: Arc<Mutex<BTreeSet<SessionId>>>,
    tick_pending: Arc<std::sync::atomic::AtomicBool>,
    /// Leader: sessions heard from (locally or via followers) since the last touch.
    heard: BTreeSet<SessionId>,
    flush_scheduled: bool,
    /// Writers waiting for their entry, in index order.
    waiters: VecDeque<Waiter>,
    forwards: BTreeMap<u64, Deferred>,
    next_forward_id: u64,
    deferred: VecDeque<Deferred>,
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
    /// Where each local session's watch events go.
    routes: HashMap<SessionId, watch_routes::Route>,
    /// The ZnodeActor of each watched znode.
    znodes: HashMap<String, crate::znode::ZnodeRef>,
    /// Znodes that may have lost their last watch in the current operation.
    maybe_unwatched: Vec<String>,
    /// Firings handed to ZnodeActors and not yet fanned out.
    fanout: Arc<crate::znode::fanout_mark::FanoutMark>,
    /// Linearizable reads waiting for their index, by context number.
    reads: BTreeMap<u64, linear_reads::PendingRead>,
    next_read_id: u64,
    /// Leader: when the log reached each index, for follower lag in seconds.
    log_clock: replica_metrics::LogClock,
    /// Leader: commit news waiting for an append to ride on.
    news: commit_news::HeldNews,
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
        let mut tree = Tree::new(args.spec.tree_limits());
        tree.set_history_limit(args.spec.watch_history_changes);
        let role = args.node.role();
        let term = args.node.term();
        Ok(ReplicaState {
            tree,
            view_tx: args.view_tx,
            demand: args.demand,
            storage,
            snapshots: args.snapshots,
            peers: args.peers,
            leader_epoch: args.leader_epoch,
            heard_local: args.heard,
            tick_pending: args.tick_pending,
            heard: BTreeSet::new(),
            flush_scheduled: false,
            waiters: VecDeque::new(),
            forwards: BTreeMap::new(),
            // Random, so an entry forwarded before a restart never names a
            // forward of this run.
            next_forward_id: rand::random::<u64>() >> 1,
            deferred: VecDeque::new(),
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
            routes: HashMap::new(),
            znodes: HashMap::new(),
            maybe_unwatched: Vec::new(),
            fanout: args.fanout,
            reads: BTreeMap::new(),
            next_read_id: 1,
            log_clock: replica_metrics::LogClock::default(),
            news: commit_news::HeldNews::default(),
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
                state.sample_metrics();
            }
            ReplicaMsg::Flush => {
                state.flush_scheduled = false;
                state.drive(&myself);
            }
            ReplicaMsg::SendNews => state.send_held_news(),
            ReplicaMsg::PeerGone(id) => {
                if state.node.peer_gone(id) {
                    tracing::info!(
                        node = state.spec.id,
                        leader = id,
                        "the leader's process is gone: campaigning without waiting for the election timeout"
                    );
                    metrics::counter!("corral_replica_leader_gone_total").increment(1);
                }
                // The Ready loop sees the leader gone, as any role change.
                state.schedule_flush(&myself);
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
                forwards,
                gate: _gate,
            } => {
                for (forward_id, command) in &forwards {
                    state.propose_forward(from, *forward_id, command);
                }
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
                commands,
                gate: _gate,
            } => {
                let deadline_tick = state.ticks + state.request_timeout_ticks();
                for (command, reply) in commands {
                    state.submit(Deferred {
                        command,
                        reply,
                        deadline_tick,
                    });
                }
                state.schedule_flush(&myself);
            }
            ReplicaMsg::Watch {
                session,
                op,
                gate: _gate,
                reply,
            } => {
                let answer = state.watch_op(session, op);
                let _ = reply.send(answer);
            }
            ReplicaMsg::Publish => {
                if state.publish_wanted() {
                    state.publish();
                }
            }
            ReplicaMsg::ReadIndex { gate: _gate, reply } => {
                state.start_read(reply);
                state.schedule_flush(&myself);
            }
            ReplicaMsg::RouteEvents {
                session,
                stream,
                events,
                gate: _gate,
            } => state.route_events(session, stream, events),
            ReplicaMsg::Unroute {
                session,
                stream,
                gate: _gate,
            } => state.unroute(session, stream),
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
