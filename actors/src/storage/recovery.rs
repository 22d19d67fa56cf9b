//! Start-up: the newest valid snapshot, then the WAL replayed over it, turned
//! into the consensus core's [`PersistedState`].
//!
//! ```text
//!  snapshots/ ──load_newest──► Snapshot { meta (index, term, membership), tree bytes }
//!  wal/       ──Wal::open────► hard state + entries (torn tail cut, mid-log CRC = error)
//!                 entries ≤ snapshot index dropped; the rest must follow it
//!  nothing at all ──► bootstrap: entry 1 = founding membership, written and synced first
//! ```
//!
//! The encodings used here are the node's on-disk format: a WAL entry's payload
//! is the postcard of the core's [`EntryKind`], a hard state record the postcard
//! of [`HardState`], and a snapshot's consensus metadata the postcard of the
//! [`Membership`] at its index.

use std::path::Path;

use bytes::Bytes;
use corral_core::broadcast::{
    Entry, EntryKind, HardState, Membership, PersistedState, Snapshot, SnapshotMeta,
};

use super::snapshot_store::SnapshotStore;
use super::storage_error::StorageError;
use super::wal::{Wal, WalConfig};
use super::wal_record::WalRecord;

/// Largest snapshot file believed when reading (a bound, not a target).
pub const SNAPSHOT_FILE_BYTES_MAX: u64 = 8 << 30;

/// Snapshot files kept after a new one is written.
pub const SNAPSHOTS_KEPT: usize = 2;

/// What a node restarts from.
#[derive(Debug)]
pub struct Restored {
    /// The consensus core's persisted state.
    pub state: PersistedState,
    /// The open WAL, positioned after its last record.
    pub wal: Wal,
    /// The snapshot directory.
    pub snapshots: SnapshotStore,
    /// Bytes cut from a torn WAL tail.
    pub torn_tail_bytes: u64,
    /// Snapshot files that failed their checks (newer than the one used).
    pub rejected_snapshots: Vec<(std::path::PathBuf, String)>,
    /// Whether the data directory was empty and the founding state was written.
    pub bootstrapped: bool,
}

/// Encodes a hard state record.
pub fn encode_hard_state(hard_state: &HardState) -> WalRecord {
    WalRecord::HardState(postcard::to_allocvec(hard_state).unwrap_or_default())
}

/// Encodes the consensus metadata stored beside a snapshot.
pub fn encode_membership(membership: &Membership) -> Vec<u8> {
    postcard::to_allocvec(membership).unwrap_or_default()
}

/// Opens the data directory: `wal/` and `snapshots/` under `data_dir`.
///
/// A CRC failure in the middle of the WAL, a record that does not decode or a
/// log that does not follow its snapshot is an error: the node must not start.
pub fn restore(
    data_dir: &Path,
    segment_bytes_max: u64,
    record_bytes_max: u32,
    founding: &Membership,
) -> Result<Restored, StorageError> {
    let snapshots = SnapshotStore::new(
        data_dir.join("snapshots"),
        SNAPSHOTS_KEPT,
        SNAPSHOT_FILE_BYTES_MAX,
    );
    let load = snapshots.load_newest()?;
    let wal_dir = data_dir.join("wal");
    let wal_config = WalConfig {
        dir: wal_dir.clone(),
        segment_bytes_max,
        record_bytes_max,
        preallocate_bytes: super::wal::PREALLOCATE_BYTES,
        direct_io: true,
    };
    let (mut wal, recovered) = Wal::open(wal_config)?;
    let inconsistent = |reason: String| StorageError::Corrupt {
        path: wal_dir.clone(),
        offset: 0,
        reason,
    };
    let snapshot = match load.snapshot {
        Some(stored) => {
            let membership: Membership =
                postcard::from_bytes(&stored.meta.consensus).map_err(|e| {
                    StorageError::Corrupt {
                        path: stored.path.clone(),
                        offset: 0,
                        reason: format!("snapshot membership does not decode: {e}"),
                    }
                })?;
            Snapshot {
                meta: SnapshotMeta {
                    index: stored.meta.index,
                    term: stored.meta.term,
                    membership,
                },
                data: Bytes::from(stored.data),
            }
        }
        None => Snapshot::default(),
    };
    let fresh = snapshot.meta.index == 0
        && recovered.entries.is_empty()
        && recovered.hard_state.is_none()
        && recovered.reset_index.is_none();
    if fresh {
        let state = PersistedState::bootstrap(founding.clone());
        let mut records: Vec<WalRecord> = state
            .entries
            .iter()
            .cloned()
            .map(WalRecord::Pending)
            .collect();
        records.push(encode_hard_state(&state.hard_state));
        wal.append(&records)?;
        wal.sync()?;
        return Ok(Restored {
            state,
            wal,
            snapshots,
            torn_tail_bytes: recovered.torn_tail_bytes,
            rejected_snapshots: load.rejected,
            bootstrapped: true,
        });
    }
    let hard_state = match &recovered.hard_state {
        Some(bytes) => postcard::from_bytes::<HardState>(bytes)
            .map_err(|e| inconsistent(format!("hard state does not decode: {e}")))?,
        None => HardState::default(),
    };
    let mut entries = Vec::with_capacity(recovered.entries.len());
    for stored in recovered.entries {
        if stored.index <= snapshot.meta.index {
            continue;
        }
        let expected = snapshot.meta.index + 1 + entries.len() as u64;
        if stored.index != expected {
            return Err(inconsistent(format!(
                "entry {} follows snapshot {} (expected entry {expected}): the log has a gap",
                stored.index, snapshot.meta.index
            )));
        }
        let kind: EntryKind = postcard::from_bytes(&stored.payload)
            .map_err(|e| inconsistent(format!("entry {} does not decode: {e}", stored.index)))?;
        entries.push(Entry {
            index: stored.index,
            term: stored.term,
            kind,
        });
    }
    let mut hard_state = hard_state;
    // The commit index is a hint; it may not point past what is stored.
    let last = entries
        .last()
        .map_or(snapshot.meta.index, |e: &Entry| e.index);
    hard_state.commit = hard_state.commit.clamp(snapshot.meta.index, last);
    Ok(Restored {
        state: PersistedState {
            hard_state,
            snapshot,
            entries,
        },
        wal,
        snapshots,
        torn_tail_bytes: recovered.torn_tail_bytes,
        rejected_snapshots: load.rejected,
        bootstrapped: false,
    })
}
