//! Proves the group committer's contract: every acknowledged batch is in the
//! log after a restart, acknowledgements report a log that already holds the
//! batch, and concurrent writers all get through a bounded queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use corral_actors::storage::{GroupCommitter, Wal, WalConfig, WalEntry, WalRecord};

const WRITERS: u64 = 16;
const BATCHES_PER_WRITER: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_are_all_durable_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (wal, _) = Wal::open(config.clone()).unwrap();
    let committer = Arc::new(GroupCommitter::start(wal, 4).unwrap());
    let next_index = Arc::new(tokio::sync::Mutex::new(1u64));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let committer = committer.clone();
        let next_index = next_index.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..BATCHES_PER_WRITER {
                // Submitting under the lock keeps indexes in log order; the
                // wait for durability happens outside it, so syncs are shared.
                let (pending, index) = {
                    let mut next = next_index.lock().await;
                    let index = *next;
                    *next += 1;
                    let record = WalRecord::Entry(WalEntry {
                        index,
                        term: 1,
                        payload: vec![w as u8; 100],
                    });
                    (committer.submit(vec![record]).await.unwrap(), index)
                };
                let durable = pending.durable().await.unwrap();
                assert!(
                    durable.last_index >= index,
                    "acked {index} with log at {}",
                    durable.last_index
                );
            }
        }));
    }
    let all = async {
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("writers finished in time");
    let committer = Arc::into_inner(committer).unwrap();
    let wal = committer.shutdown().unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(config).unwrap();
    let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
    let expected: Vec<u64> = (1..=WRITERS * BATCHES_PER_WRITER).collect();
    assert_eq!(indexes, expected);
}

/// The callback form (what the StorageActor uses): each callback runs once,
/// after its batch is in the log, and every acknowledged batch survives a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_run_once_their_batch_is_durable() {
    const BATCHES: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (wal, _) = Wal::open(config.clone()).unwrap();
    let committer = GroupCommitter::start(wal, 4).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for index in 1..=BATCHES {
        let record = WalRecord::Entry(WalEntry {
            index,
            term: 1,
            payload: vec![7; 100],
        });
        let tx = tx.clone();
        let on_durable: corral_actors::storage::OnDurable = Box::new(move |outcome| {
            let durable = outcome.unwrap();
            tx.send((index, durable.last_index)).unwrap();
        });
        committer
            .submit_then(vec![record], on_durable)
            .await
            .unwrap();
    }
    drop(tx);
    let mut acked = Vec::new();
    let all = async {
        while let Some((index, last_index)) = rx.recv().await {
            assert!(
                last_index >= index,
                "acked {index} with log at {last_index}"
            );
            acked.push(index);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("every callback ran in time");
    assert_eq!(acked, (1..=BATCHES).collect::<Vec<_>>());
    drop(committer.shutdown().unwrap());
    let (_, recovered) = Wal::open(config).unwrap();
    assert_eq!(recovered.entries.len() as u64, BATCHES);
}

/// Writing on the caller's thread: a batch is written there only when
/// nothing waits for the committer thread (otherwise it is handed back, to
/// queue behind), and batches written either way are in the log in the
/// order they were taken, after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_written_here_and_on_the_thread_keep_their_order() {
    const BATCHES: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (wal, _) = Wal::open(config.clone()).unwrap();
    let committer = GroupCommitter::start(wal, 4).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (mut here, mut handed_back) = (0, 0);
    for index in 1..=BATCHES {
        let record = WalRecord::Entry(WalEntry {
            index,
            term: 1,
            payload: vec![3; 100],
        });
        // Every third batch goes to the thread; the others try here first.
        let records = if index % 3 == 0 {
            vec![record]
        } else {
            match committer.write_here(vec![record]) {
                Ok(outcome) => {
                    let durable = outcome.unwrap();
                    assert_eq!(durable.last_index, index, "written here in order");
                    here += 1;
                    continue;
                }
                Err(records) => {
                    handed_back += 1;
                    records
                }
            }
        };
        assert_eq!(records.len(), 1, "a handed-back batch is whole");
        let tx = tx.clone();
        let on_durable: corral_actors::storage::OnDurable = Box::new(move |outcome| {
            let durable = outcome.unwrap();
            tx.send((index, durable.last_index)).unwrap();
        });
        committer.submit_then(records, on_durable).await.unwrap();
    }
    drop(tx);
    let all = async {
        while let Some((index, last_index)) = rx.recv().await {
            assert!(
                last_index >= index,
                "acked {index} with log at {last_index}"
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .expect("every callback ran in time");
    assert!(here > 0, "some batches were written on the caller's thread");
    assert!(
        here + handed_back == BATCHES - BATCHES / 3,
        "every other batch was tried here"
    );
    drop(committer.shutdown().unwrap());
    let (_, recovered) = Wal::open(config).unwrap();
    let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (1..=BATCHES).collect::<Vec<_>>());
}

/// While a batch waits for the committer thread, `write_here` hands its
/// batch back untouched instead of writing ahead of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_not_written_here_ahead_of_a_queued_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = WalConfig::new(dir.path());
    let (wal, _) = Wal::open(config.clone()).unwrap();
    let committer = GroupCommitter::start(wal, 4).unwrap();
    let entry = |index| {
        WalRecord::Entry(WalEntry {
            index,
            term: 1,
            payload: vec![1; 64 << 10],
        })
    };
    // A callback that blocks the thread until told: the batch stays queued.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let on_durable: corral_actors::storage::OnDurable = Box::new(move |outcome| {
        outcome.unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
    });
    committer
        .submit_then(vec![entry(1)], on_durable)
        .await
        .unwrap();
    let Err(back) = committer.write_here(vec![entry(2)]) else {
        panic!("written here while batch 1 was still the thread's");
    };
    assert_eq!(back.len(), 1);
    release_tx.send(()).unwrap();
    committer.append(back).await.unwrap();
    drop(committer.shutdown().unwrap());
    let (_, recovered) = Wal::open(config).unwrap();
    let indexes: Vec<u64> = recovered.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![1, 2]);
}
