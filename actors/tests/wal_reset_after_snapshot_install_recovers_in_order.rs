//! Proves that a WAL that had a snapshot installed over it (a `Reset` record)
//! recovers only the entries written after the reset, even when the old log
//! ran past the snapshot (its segments are removed, they would sort after the
//! new one) and when later segments rotate onto names the old log once used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use corral_actors::storage::{Wal, WalConfig, WalEntry, WalRecord};

fn entry(index: u64, term: u64) -> WalRecord {
    WalRecord::Entry(WalEntry {
        index,
        term,
        payload: vec![term as u8; 64],
    })
}

#[test]
fn entries_after_a_reset_are_all_that_recovery_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.segment_bytes_max = 512;
    let (mut wal, _) = Wal::open(config.clone()).unwrap();
    // An old log of term 1 up to 60, in several segments.
    for i in 1..=60 {
        wal.append(&[entry(i, 1)]).unwrap();
    }
    wal.append(&[WalRecord::HardState(vec![1])]).unwrap();
    wal.sync().unwrap();
    // A snapshot at 30 arrives: the log restarts after it, with term 2.
    let mut batch = vec![WalRecord::Reset { index: 30 }];
    batch.extend((31..=40).map(|i| entry(i, 2)));
    wal.append(&batch).unwrap();
    for i in 41..=80 {
        wal.append(&[entry(i, 2)]).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(config).unwrap();
    assert_eq!(recovered.reset_index, Some(30));
    let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (31..=80).collect::<Vec<_>>());
    assert!(
        recovered.entries.iter().all(|e| e.term == 2),
        "an old entry came back"
    );
    assert_eq!(recovered.hard_state, Some(vec![1]));
}
