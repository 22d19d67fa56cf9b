//! Starting and stopping one node: storage recovery, the actors, the QUIC
//! endpoint and its accept loop, the tick clock.
//!
//! ```text
//!  start(spec, certs)
//!    ├─ storage::recovery::restore  (snapshot + WAL; corrupt = error)
//!    ├─ Endpoint::server(listen)    (peer + client ALPN on one UDP port)
//!    ├─ PeerActor × peers           (dial with backoff, bounded queues)
//!    ├─ ReplicaActor ─ supervises ─ StorageActor (spawn_linked)
//!    ├─ ticker                      (one Tick per tick_ms, never piling up)
//!    └─ accept loop ─► peer ALPN: inbound reader │ client ALPN: SessionActors
//!
//!  RunningNode::shutdown: stop accepting → leader transfer → finish in-flight
//!                         requests → sync the WAL → close the endpoint
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corral_certs::CertStore;
use corral_core::broadcast::Node;
use corral_transport::{Alpn, CloseCode, Endpoint};
use ractor::{Actor, ActorRef};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::held_forwards::LeaderEpoch;
use crate::peer::{ReplicaSlot, serve_inbound, spawn_peer};
use crate::replica::{ReplicaActor, ReplicaArgs, ReplicaMsg};
use crate::session::{SessionContext, serve_client_link};
use crate::spec::NodeSpec;
use crate::storage::StorageError;
use crate::storage::recovery::restore;
use crate::storage_actor::StorageMsg;
use crate::view::{View, ViewDemand, Views};

/// Requests in flight on the node at most (the graceful stop waits for them).
const INFLIGHT_MAX: u32 = 1 << 20;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The WAL or a snapshot is unreadable or corrupt: the node must not start.
    #[error("storage")]
    Storage(#[from] StorageError),
    /// The restored state is unusable by the consensus core.
    #[error("consensus state")]
    Consensus(#[from] corral_core::broadcast::StartError),
    /// The QUIC endpoint could not be set up.
    #[error("transport")]
    Transport(#[from] corral_transport::TransportError),
    /// The node's certificate does not name this node.
    #[error("field `tls.cert`: {0}")]
    Identity(String),
    /// An actor failed to start.
    #[error("actor start: {0}")]
    Spawn(String),
}

/// A running node.
#[derive(Debug)]
pub struct RunningNode {
    spec: Arc<NodeSpec>,
    replica: ActorRef<ReplicaMsg>,
    storage: ActorRef<StorageMsg>,
    replica_done: JoinHandle<()>,
    view: Views,
    endpoint: Endpoint,
    /// The socket peers are dialled from.
    peer_dialer: Endpoint,
    draining_tx: watch::Sender<bool>,
    accepting: Arc<AtomicBool>,
    inflight: Arc<Semaphore>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts a node; returns once it is serving (peers may still be unreachable).
pub async fn start(spec: NodeSpec, certs: Arc<CertStore>) -> Result<RunningNode, StartError> {
    let spec = Arc::new(spec);
    let id = spec.id;
    let ours = certs.current().identity.clone();
    if ours != corral_certs::Identity::Node(id) {
        return Err(StartError::Identity(format!(
            "the certificate names {ours}, but this node's id is {id}"
        )));
    }
    let restored = {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || {
            restore(
                &spec.data_dir,
                spec.wal_segment_bytes_max,
                spec.frame_bytes_max.saturating_mul(2),
                &spec.membership(),
            )
        })
        .await
        .map_err(|e| StartError::Spawn(e.to_string()))??
    };
    if restored.torn_tail_bytes > 0 {
        tracing::warn!(
            node = id,
            bytes = restored.torn_tail_bytes,
            "WAL had a torn tail (a write cut by a crash); it was truncated"
        );
    }
    for (path, why) in &restored.rejected_snapshots {
        tracing::warn!(node = id, path = %path.display(), error = %why, "snapshot rejected; using an older one");
    }
    tracing::info!(
        node = id,
        bootstrapped = restored.bootstrapped,
        snapshot_index = restored.state.snapshot.meta.index,
        entries = restored.state.entries.len(),
        "storage recovered"
    );
    crate::metric_catalog::describe();
    let seed: u64 = rand::random();
    let core = Node::new(spec.consensus_config(), restored.state, seed)?;
    let endpoint = Endpoint::server(spec.listen, certs.clone(), spec.link_config())?;
    // Peers are dialled from a socket of their own, which hears at once that
    // a peer's process is gone (ICMP port unreachable, see
    // `Endpoint::client`); the listening socket stays deaf to those, which
    // every departed client would cause.
    let peer_dialer = Endpoint::client(
        std::net::SocketAddr::new(spec.listen.ip(), 0),
        certs,
        spec.peer_dial_link_config(),
    )?;

    let mut peers = BTreeMap::new();
    let leader_epoch = LeaderEpoch::default();
    let replica_slot = ReplicaSlot::default();
    for peer in &spec.peers {
        let queue = spawn_peer(
            id,
            peer.clone(),
            peer_dialer.clone(),
            spec.peer_queue_len_max,
            leader_epoch.clone(),
            replica_slot.clone(),
        );
        peers.insert(peer.id, queue);
    }
    let initial = View {
        tree: corral_core::tree::DataTree::new(spec.tree_limits()),
        applied: 0,
        role: core.role(),
        leader: None,
        term: core.term(),
        committed: core.committed_index(),
    };
    let (view_tx, view_rx) = watch::channel(initial);
    let demand = Arc::new(ViewDemand::default());
    let heard = Arc::new(Mutex::new(BTreeSet::new()));

    // The replica starts the StorageActor linked under it (a storage failure
    // stops the replica, and with it the node).
    let (storage_tx, storage_rx) = tokio::sync::oneshot::channel();
    let tick_pending = Arc::new(AtomicBool::new(false));
    let (fanout, fanout_rx) = crate::znode::fanout_mark::FanoutMark::new();
    let args = ReplicaArgs {
        fanout,
        tick_pending: tick_pending.clone(),
        spec: spec.clone(),
        node: core,
        view_tx,
        demand: demand.clone(),
        wal: restored.wal,
        storage_ref: Some(storage_tx),
        snapshots: restored.snapshots,
        peers,
        leader_epoch,
        heard: heard.clone(),
    };
    let (replica, replica_done) = Actor::spawn(None, ReplicaActor, args)
        .await
        .map_err(|e| StartError::Spawn(e.to_string()))?;
    // Set once, here: the slot is new.
    let _ = replica_slot.set(replica.clone());
    let storage = storage_rx
        .await
        .map_err(|_| StartError::Spawn("the storage actor did not start".into()))?;

    let views = Views::new(view_rx, demand, replica.clone());
    let gate = Arc::new(Semaphore::new(spec.replica_mailbox_max.max(1)));
    let (draining_tx, draining_rx) = watch::channel(false);
    let inflight = Arc::new(Semaphore::new(INFLIGHT_MAX as usize));
    let accepting = Arc::new(AtomicBool::new(true));
    let ctx = SessionContext {
        spec: spec.clone(),
        replica: replica.clone(),
        view: views.clone(),
        gate: gate.clone(),
        sessions: Arc::new(Semaphore::new(spec.sessions_max.max(1))),
        heard,
        draining: draining_rx,
        inflight: inflight.clone(),
        fanout: fanout_rx,
    };
    let tasks = vec![
        tokio::spawn(tick(spec.tick_ms, replica.clone(), tick_pending)),
        tokio::spawn(accept_loop(
            spec.clone(),
            endpoint.clone(),
            replica.clone(),
            gate,
            ctx,
            accepting.clone(),
        )),
    ];
    tracing::info!(
        "corral node {id} ready: listening on {} (cluster {}, {})",
        endpoint
            .local_addr()
            .map_or_else(|_| spec.listen.to_string(), |a| a.to_string()),
        spec.cluster_id,
        if spec.observer { "observer" } else { "voter" }
    );
    Ok(RunningNode {
        spec,
        replica,
        storage,
        replica_done,
        view: views,
        endpoint,
        peer_dialer,
        draining_tx,
        accepting,
        inflight,
        tasks,
    })
}

impl RunningNode {
    /// The read views (role, leader, applied index, tree).
    pub fn view(&self) -> Views {
        self.view.clone()
    }

    /// New descriptors of the node's sockets (the one it serves on and the
    /// one it dials peers from), to poll for datagrams waiting.
    pub fn readiness_fds(&self) -> std::io::Result<Vec<std::os::fd::OwnedFd>> {
        Ok(vec![
            self.endpoint.readiness_fd()?,
            self.peer_dialer.readiness_fd()?,
        ])
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.spec.id
    }

    /// Resolves when the replica stops (a fatal storage error, or a stop).
    ///
    /// Cancel safety: cancel-safe.
    pub async fn stopped(&mut self) {
        let _ = (&mut self.replica_done).await;
    }

    /// Whether the replica is still running.
    pub fn is_running(&self) -> bool {
        !self.replica_done.is_finished()
    }

    /// Graceful stop: refuse new sessions and requests, hand leadership over,
    /// answer what is in flight (bounded by `drain`), sync the WAL, close links.
    pub async fn shutdown(mut self, drain: Duration) {
        let id = self.spec.id;
        tracing::info!("corral node {id} stopping");
        self.accepting.store(false, Ordering::SeqCst);
        let _ = self.draining_tx.send(true);
        // Leader transfer (bounded by two election timeouts inside the replica).
        let _ = tokio::time::timeout(drain, async {
            ractor::call!(self.replica, ReplicaMsg::Shutdown)
        })
        .await;
        // In-flight requests finish (every permit back) or the drain time ends.
        let _ = tokio::time::timeout(drain, self.inflight.acquire_many(INFLIGHT_MAX)).await;
        let _ = tokio::time::timeout(drain, async {
            ractor::call!(self.storage, StorageMsg::Shutdown)
        })
        .await;
        self.replica.stop(Some("shutdown".into()));
        let _ = tokio::time::timeout(drain, &mut self.replica_done).await;
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.endpoint.close();
        self.peer_dialer.close();
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            tokio::join!(self.endpoint.wait_idle(), self.peer_dialer.wait_idle())
        })
        .await;
        tracing::info!("corral node {id} stopped");
    }

    /// Stops at once, as a crash would (nothing is synced beyond what was
    /// acknowledged); for tests.
    pub async fn kill(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.endpoint.close();
        self.peer_dialer.close();
        self.storage.stop(Some("killed".into()));
        self.replica.stop(Some("killed".into()));
        let _ = (&mut self.replica_done).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// Sends one Tick per `tick_ms`, but never a second while one is unhandled
/// (a busy replica must not find a pile of ticks in its mailbox).
async fn tick(tick_ms: u64, replica: ActorRef<ReplicaMsg>, pending: Arc<AtomicBool>) {
    let mut interval = tokio::time::interval(Duration::from_millis(tick_ms.max(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if pending.swap(true, Ordering::AcqRel) {
            continue;
        }
        if replica.send_message(ReplicaMsg::Tick).is_err() {
            return;
        }
    }
}

async fn accept_loop(
    spec: Arc<NodeSpec>,
    endpoint: Endpoint,
    replica: ActorRef<ReplicaMsg>,
    gate: Arc<Semaphore>,
    ctx: SessionContext,
    accepting: Arc<AtomicBool>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let spec = spec.clone();
        let replica = replica.clone();
        let gate = gate.clone();
        let ctx = ctx.clone();
        let accepting = accepting.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let link = match incoming.establish().await {
                Ok(link) => link,
                Err(e) => {
                    tracing::warn!(node = spec.id, %remote, error = %e, "refused a connection");
                    return;
                }
            };
            match link.alpn() {
                Alpn::Peer => {
                    let Some(from) = link.node_id() else { return };
                    if spec.peer(from).is_none() {
                        tracing::warn!(node = spec.id, peer = from, %remote, "a node that is not a member tried to join: refused");
                        link.close(CloseCode::Refused, "not a member of this cluster");
                        return;
                    }
                    serve_inbound(spec.id, link, replica, gate).await;
                }
                Alpn::Client => {
                    if !accepting.load(Ordering::SeqCst) {
                        link.close(CloseCode::Shutdown, "the node is shutting down");
                        return;
                    }
                    metrics::gauge!("corral_client_connections").increment(1.0);
                    serve_client_link(link, ctx).await;
                    metrics::gauge!("corral_client_connections").decrement(1.0);
                }
            }
        });
    }
}
