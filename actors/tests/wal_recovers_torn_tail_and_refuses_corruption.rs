//! Proves the WAL's recovery rules: a record cut short at the tail (a crash in
//! mid-write) is dropped and everything before it survives; a damaged record
//! anywhere before the tail stops the start with an error naming the file.
//! Both for segments written by appending to the file's end and for segments
//! preallocated with zeros, where a torn write leaves zeros after it. The
//! preallocated segments are written directly (`O_DIRECT`, whole blocks)
//! where the filesystem allows; the appended ones through the page cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use corral_actors::storage::{StorageError, Wal, WalConfig, WalEntry, WalRecord};

fn entry(index: u64, term: u64) -> WalRecord {
    WalRecord::Entry(WalEntry {
        index,
        term,
        payload: vec![index as u8; 100],
    })
}

fn write_entries(config: &WalConfig, indexes: std::ops::RangeInclusive<u64>) {
    let (mut wal, _) = Wal::open(config.clone()).unwrap();
    for i in indexes {
        wal.append(&[entry(i, 1)]).unwrap();
    }
    wal.sync().unwrap();
}

fn only_segment(config: &WalConfig) -> PathBuf {
    let mut files: Vec<_> = fs::read_dir(&config.dir)
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    files.pop().unwrap()
}

#[test]
fn entries_and_hard_state_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (mut wal, recovered) = Wal::open(config.clone()).unwrap();
    assert_eq!(recovered, Default::default());
    wal.append(&[entry(1, 1), entry(2, 1), WalRecord::HardState(vec![9, 9])])
        .unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (wal, recovered) = Wal::open(config).unwrap();
    assert_eq!(recovered.entries.len(), 2);
    assert_eq!(recovered.hard_state, Some(vec![9, 9]));
    assert_eq!(wal.last_index(), 2);
}

/// A configuration that appends to the end of the file (no preallocation,
/// through the page cache), so a segment's length is the length of its
/// records.
fn appending(dir: PathBuf) -> WalConfig {
    let mut config = WalConfig::new(dir);
    config.preallocate_bytes = 0;
    config.direct_io = false;
    config
}

/// The segment of entries 1..=3 written with and without preallocation: the
/// preallocated file's bytes and the length of its records.
fn preallocated_three(root: &std::path::Path) -> (WalConfig, PathBuf, Vec<u8>, usize) {
    let config = WalConfig::new(root.join("preallocated"));
    write_entries(&config, 1..=3);
    let plain = appending(root.join("plain"));
    write_entries(&plain, 1..=3);
    let records_len = fs::read(only_segment(&plain)).unwrap().len();
    let path = only_segment(&config);
    let padded = fs::read(&path).unwrap();
    assert!(
        padded.len() > records_len,
        "the segment was not preallocated"
    );
    assert_eq!(
        padded[..records_len],
        fs::read(only_segment(&plain)).unwrap()[..]
    );
    assert!(padded[records_len..].iter().all(|&b| b == 0));
    (config, path, padded, records_len)
}

#[test]
fn preallocated_zeros_are_not_records_and_appends_go_on_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (config, path, _, records_len) = preallocated_three(dir.path());
    let (mut wal, recovered) = Wal::open(config.clone()).unwrap();
    assert_eq!(recovered.entries.len(), 3);
    assert_eq!(recovered.torn_tail_bytes, 0);
    wal.append(&[entry(4, 1)]).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(config).unwrap();
    let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![1, 2, 3, 4]);
    // Entry 4 went right after entry 3, inside the preallocated space.
    let bytes = fs::read(&path).unwrap();
    assert!(
        bytes[records_len..records_len + records_len / 3]
            .iter()
            .any(|&b| b != 0)
    );
}

#[test]
fn a_torn_write_into_preallocated_space_recovers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (config, path, padded, records_len) = preallocated_three(dir.path());
    let record_bytes = records_len / 3;
    for cut in (records_len - record_bytes)..records_len {
        let mut torn = padded.clone();
        torn[cut..records_len].fill(0);
        fs::write(&path, &torn).unwrap();
        let (mut wal, recovered) = Wal::open(config.clone()).unwrap();
        let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, vec![1, 2], "cut at byte {cut}");
        // Nothing of the record written is preallocated space, not a tear.
        let first = records_len - record_bytes;
        assert_eq!(
            recovered.torn_tail_bytes > 0,
            cut > first,
            "cut at byte {cut}"
        );
        wal.append(&[entry(3, 2)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, again) = Wal::open(config.clone()).unwrap();
        assert_eq!(again.entries.len(), 3, "cut at byte {cut}");
        assert_eq!(again.entries[2].term, 2);
        assert_eq!(again.torn_tail_bytes, 0);
    }
}

#[test]
fn a_flipped_byte_before_the_tail_of_a_preallocated_segment_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (config, path, padded, records_len) = preallocated_three(dir.path());
    // Every byte of the first two records, and one in the zeros after the last.
    let flips = (0..2 * (records_len / 3)).chain([records_len + 100]);
    for i in flips {
        let mut bad = padded.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        match Wal::open(config.clone()) {
            Err(StorageError::Corrupt { path: p, .. }) => assert_eq!(p, path),
            other => panic!("flip at byte {i}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn a_tail_cut_at_every_byte_of_the_last_record_recovers_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = appending(dir.path().join("wal"));
    write_entries(&config, 1..=3);
    let path = only_segment(&config);
    let full = fs::read(&path).unwrap();
    let record_bytes = full.len() / 3;
    for cut in (full.len() - record_bytes)..full.len() {
        fs::write(&path, &full[..cut]).unwrap();
        let (mut wal, recovered) = Wal::open(config.clone()).unwrap();
        let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
        assert_eq!(indexes, vec![1, 2], "cut at byte {cut}");
        assert_eq!(recovered.torn_tail_bytes, (cut - 2 * record_bytes) as u64);
        // The log goes on from the cut: the next append is readable.
        wal.append(&[entry(3, 2)]).unwrap();
        wal.sync().unwrap();
        drop(wal);
        let (_, again) = Wal::open(config.clone()).unwrap();
        assert_eq!(again.entries.len(), 3);
        assert_eq!(again.entries[2].term, 2);
        assert_eq!(again.torn_tail_bytes, 0);
    }
}

#[test]
fn a_flipped_byte_before_the_tail_is_reported_and_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = appending(dir.path().to_path_buf());
    write_entries(&config, 1..=10);
    let path = only_segment(&config);
    let full = fs::read(&path).unwrap();
    let record_bytes = full.len() / 10;
    // Every byte of the first nine records.
    for i in 0..(9 * record_bytes) {
        let mut bad = full.clone();
        bad[i] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        match Wal::open(config.clone()) {
            Err(StorageError::Corrupt {
                path: p, offset, ..
            }) => {
                assert_eq!(p, path);
                assert!(offset as usize <= i, "offset {offset} past the flip at {i}");
            }
            other => panic!("flip at byte {i}: expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn an_entry_at_or_below_the_last_replaces_the_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (mut wal, _) = Wal::open(config.clone()).unwrap();
    wal.append(&[entry(1, 1), entry(2, 1), entry(3, 1), entry(2, 5)])
        .unwrap();
    wal.sync().unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(config).unwrap();
    let got: Vec<(u64, u64)> = recovered
        .entries
        .iter()
        .map(|e| (e.index, e.term))
        .collect();
    assert_eq!(got, vec![(1, 1), (2, 5)]);
}

#[test]
fn compaction_removes_old_segments_and_keeps_the_hard_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.segment_bytes_max = 1024;
    let (mut wal, _) = Wal::open(config.clone()).unwrap();
    wal.append(&[WalRecord::HardState(vec![1])]).unwrap();
    for i in 1..=100 {
        wal.append(&[entry(i, 1)]).unwrap();
    }
    wal.sync().unwrap();
    let before = wal.segment_count();
    assert!(before > 5, "expected several segments, got {before}");
    let removed = wal.compact(60).unwrap();
    assert!(removed > 0);
    drop(wal);
    let (_, recovered) = Wal::open(config).unwrap();
    assert_eq!(recovered.hard_state, Some(vec![1]));
    let first = recovered.entries.first().unwrap().index;
    assert!(
        first <= 61,
        "entry 61 was compacted away (first is {first})"
    );
    assert_eq!(recovered.entries.last().unwrap().index, 100);
}

#[test]
fn an_oversize_record_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WalConfig::new(dir.path());
    config.record_bytes_max = 64;
    let (mut wal, _) = Wal::open(config.clone()).unwrap();
    let err = wal.append(&[entry(1, 1)]).unwrap_err();
    assert!(matches!(err, StorageError::RecordTooLarge { .. }), "{err}");
    assert_eq!(wal.last_index(), 0);
    drop(wal);
    let (_, recovered) = Wal::open(config).unwrap();
    assert!(recovered.entries.is_empty());
}

#[test]
fn direct_and_buffered_writes_lay_down_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut direct = WalConfig::new(dir.path().join("direct"));
    direct.preallocate_bytes = 0;
    let plain = appending(dir.path().join("plain"));
    // Records that end inside a block, on a block boundary and across one.
    for config in [&direct, &plain] {
        let (mut wal, _) = Wal::open(config.clone()).unwrap();
        for i in 1..=50 {
            let payload = vec![i as u8; 37 * i as usize];
            let record = WalRecord::Entry(WalEntry {
                index: i,
                term: 1,
                payload,
            });
            wal.append(&[record]).unwrap();
        }
        wal.sync().unwrap();
    }
    let plain_bytes = fs::read(only_segment(&plain)).unwrap();
    let direct_bytes = fs::read(only_segment(&direct)).unwrap();
    assert_eq!(direct_bytes[..plain_bytes.len()], plain_bytes[..]);
    assert!(direct_bytes[plain_bytes.len()..].iter().all(|&b| b == 0));
    let (_, recovered) = Wal::open(direct).unwrap();
    assert_eq!(recovered.entries.len(), 50);
    assert_eq!(recovered.entries[49].payload, vec![50u8; 37 * 50]);
}

#[test]
fn a_segment_written_through_the_page_cache_goes_on_with_direct_writes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = appending(dir.path().to_path_buf());
    write_entries(&plain, 1..=3);
    let before = fs::read(only_segment(&plain)).unwrap();
    assert_ne!(before.len() % 4096, 0, "the records should end mid-block");
    let direct = WalConfig::new(dir.path());
    for next in 4..=6 {
        let (mut wal, recovered) = Wal::open(direct.clone()).unwrap();
        assert_eq!(recovered.entries.len() as u64, next - 1);
        assert_eq!(recovered.torn_tail_bytes, 0);
        wal.append(&[entry(next, 1)]).unwrap();
        wal.sync().unwrap();
    }
    let (_, recovered) = Wal::open(plain).unwrap();
    let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![1, 2, 3, 4, 5, 6]);
    let after = fs::read(only_segment(&direct)).unwrap();
    assert_eq!(after[..before.len()], before[..]);
}
