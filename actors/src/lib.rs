//! corral-actors: the actors that run one corral node.
//!
//! One node is a supervision tree: a ReplicaActor drives the consensus core and
//! applies committed entries to the data tree; one PeerActor per other replica
//! owns that QUIC link; a StorageActor (linked under the replica) owns the
//! write-ahead log and snapshots; one SessionActor per client session; one
//! ZnodeActor per watched znode, which fans its watch events out.
//!
//! ```text
//!  peers ──► inbound reader ──┐ (bounded gate)        ┌──► StorageActor (WAL, fdatasync)
//!                             ├──► ReplicaActor ──────┤
//!  clients ► SessionActor ────┘   (consensus + tree)  ├──► PeerActor × n (bounded queues)
//!                 ▲ ▲                                 ├──► read view (on demand) ┐
//!                 │ └── events ◄── ZnodeActor × w ◄───┘ (one firing per watched  │
//!                 │                                       znode, bounded queues) │
//!                 └────────────────── reads, "applied ≥ zxid" ───────────────────┘
//! ```
//!
//! - [`node::start`] recovers storage, binds the QUIC endpoint and starts
//!   everything; [`node::RunningNode::shutdown`] stops it gracefully.
//! - [`replica`]: the Ready loop (persist → send → apply → advance), write
//!   waiters, forwarding to the leader, the leader's housekeeping entries,
//!   background snapshots.
//! - [`storage`] and [`storage_actor`]: the WAL (segments, CRC32C per record,
//!   group commit) and snapshot files; recovery on start.
//! - [`peer`]: links to the other replicas; [`session`]: client sessions;
//!   [`znode`]: watch fan-out, one actor per watched znode.
//! - Metrics (the `metrics` facade; the binary installs the exporter):
//!   [`request_metrics`] for client requests, [`link_metrics`] for QUIC
//!   links; the replica samples its gauges once per tick.
//!
//! The ReplicaActor and StorageActor are ractor actors. PeerActors and
//! SessionActors are tokio tasks fronted by bounded channels: their input
//! comes from the network, and ractor mailboxes are unbounded, so their bound
//! *is* the channel (DESIGN.md, "Actors"). A ZnodeActor is a bounded mailbox
//! that apply fills without waiting, with a task only while it holds work, so
//! an idle watched znode costs no task. Everything peers and sessions pass to
//! the replica goes through one bounded gate (a semaphore whose permit travels
//! with the message).
//!
//! Watch events: the core's watch index decides who hears a change; apply
//! hands each watched znode's firing to that znode's ZnodeActor in one
//! message, with a fan-out ticket, and the actor queues the event for each of
//! its watchers' streams ([`znode`], `replica::watch_routes`). A herd of
//! watchers costs apply one message. An event must still reach its session
//! before any reply that reflects a later zxid: the fan-out mark (the zxid
//! below the oldest ticket in flight) tells a watching session's writer when
//! every event up to a reply's zxid is queued, and the writer orders what
//! several actors queued by (zxid, change) (`session/writer.rs`).

mod exact_encode;
pub mod held_forwards;
pub mod link_metrics;
pub mod metric_catalog;
pub mod node;
mod older_peers;
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
