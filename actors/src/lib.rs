//! corral-actors: the ractor actors that run one corral node.
//!
//! One node is a supervision tree: a ReplicaActor drives the consensus core and
//! applies committed entries to the data tree; one PeerActor per other replica
//! owns that QUIC link; a StorageActor owns the write-ahead log and snapshots;
//! one SessionActor per client connection; one ZnodeActor per watched znode.
//!
//! ```text
//!  peers ──► PeerActor ──┐                       ┌──► StorageActor (WAL, fsync)
//!                        ├──► ReplicaActor ──────┤
//!  clients ► SessionActor┘   (consensus + tree)  └──► read view ──► SessionActor
//! ```
//!
//! Today the crate holds the storage layer ([`storage`]); the actors arrive with
//! the replication issue.

pub mod storage;
