//! Durable storage of a node: the write-ahead log and snapshot files.
//!
//! The WAL is synchronous code on purpose: the StorageActor runs it on a thread
//! of its own, collects every record that arrived while the previous group
//! was being made durable, writes them in one go and syncs once (group
//! commit); on a one-thread runtime it may write a batch in place instead
//! ([`GroupCommitter::write_here`]) when its event loop can wait for the disk. Nothing is acknowledged to the consensus core before that sync
//! returns. Where the filesystem allows it the writes are direct and durable
//! on return (`O_DIRECT | O_DSYNC`, see `segment_file`), and the sync has
//! nothing left to do.
//!
//! ```text
//!  records ──► Wal::append (one write) ──► Wal::sync (fdatasync, or none) ──► ack
//!  start   ──► Wal::open ──► Recovered { hard state, entries } ──► consensus core
//!  install ──► SnapshotStore::save, then WalRecord::Reset{index} + entries (new segment)
//! ```
//!
//! [`recovery::restore`] puts the newest valid snapshot and the WAL together
//! into the core's persisted state (or writes the founding state on an empty
//! directory); the [`StorageActor`](crate::storage_actor) drives the
//! [`GroupCommitter`] at run time.

mod group_commit;
pub mod recovery;
mod segment_file;
mod snapshot_store;
mod storage_error;
mod wal;
mod wal_record;

pub use group_commit::{CommitError, Durable, GroupCommitter, OnDurable, PendingDurable};
pub use snapshot_store::{SnapshotLoad, SnapshotMeta, SnapshotStore, StoredSnapshot};
pub use storage_error::StorageError;
pub use wal::{Recovered, Wal, WalConfig};
pub use wal_record::{WalEntry, WalRecord};
