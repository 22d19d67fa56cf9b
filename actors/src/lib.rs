//! corral-actors: the actors that run one corral node.
//!
//! One node is a supervision tree: a ReplicaActor drives the consensus core and
//! applies committed entries to the data tree; one PeerActor per other replica
//! owns that QUIC link; a StorageActor (linked under the replica) owns the
//! write-ahead log and snapshots; one SessionActor per client session.
//!
//! ```text
//!  peers ──► inbound reader ──┐ (bounded gate)        ┌──► StorageActor (WAL, fdatasync)
//!                             ├──► ReplicaActor ──────┤
//!  clients ► SessionActor ────┘   (consensus + tree)  ├──► PeerActor × n (bounded queues)
//!                 ▲                                   └──► read view (on demand) ┐
//!                 └────────────────── reads, "applied ≥ zxid" ─────────────────┘
//! ```
//!
//! - [`node::start`] recovers storage, binds the QUIC endpoint and starts
//!   everything; [`node::RunningNode::shutdown`] stops it gracefully.
//! - [`replica`]: the Ready loop (persist → send → apply → advance), write
//!   waiters, forwarding to the leader, the leader's housekeeping entries,
//!   background snapshots.
//! - [`storage`] and [`storage_actor`]: the WAL (segments, CRC32C per record,
//!   group commit) and snapshot files; recovery on start.
//! - [`peer`]: links to the other replicas; [`session`]: client sessions.
//! - Metrics (the `metrics` facade; the binary installs the exporter):
//!   [`request_metrics`] for client requests, [`link_metrics`] for QUIC
//!   links; the replica samples its gauges once per tick.
//!
//! The ReplicaActor and StorageActor are ractor actors. PeerActors and
//! SessionActors are tokio tasks fronted by bounded channels: their input
//! comes from the network, and ractor mailboxes are unbounded, so their bound
//! *is* the channel (DESIGN.md, "Actors"). Everything they pass to the
//! replica goes through one bounded gate (a semaphore whose permit travels
//! with the message).
//!
//! Watch events take no ZnodeActor (DESIGN.md plans one per watched znode).
//! Apply queues each event on its session's bounded stream queue
//! (`replica::watch_routes`), as ZooKeeper's WatchManager does, because an
//! event must be queued before any reply that reads past its zxid. With an
//! actor between apply and the sessions, every read of a session that watches
//! would wait for the fan-out to catch up. A herd still never stalls apply:
//! queueing is a non-blocking `try_send`, a full queue closes only that stream
//! (its client resumes and replays), and firing and queueing cost about
//! 0.3–0.4 µs per watcher (3,333 watchers of one znode: 0.8–1.4 ms).

mod exact_encode;
pub mod link_metrics;
pub mod metric_catalog;
pub mod node;
pub mod peer;
pub mod replica;
pub mod request_metrics;
pub mod session;
pub mod spec;
pub mod storage;
pub mod storage_actor;
pub mod view;
pub mod znode;

pub use node::{RunningNode, StartError, start};
pub use spec::{NodeSpec, PeerSpec};
pub use view::{View, Views};
