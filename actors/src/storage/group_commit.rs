//! Group commit: one `fdatasync` for every WAL record that arrived meanwhile.
//!
//! The WAL lives on a thread of its own. Callers send batches of records over a
//! bounded channel and wait for their acknowledgement; the thread takes one
//! batch, then every other batch already queued, writes them all, syncs once
//! and acknowledges each. Under load the batches grow and the cost of a sync is
//! shared; with one writer the latency is a single write plus a single sync.
//!
//! The channel is bounded (`queue_batches_max`): when the disk falls behind,
//! `append` waits for room, which pushes back on the replica.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::storage_error::StorageError;
use super::wal::Wal;
use super::wal_record::WalRecord;

/// What the committer thread reports for an acknowledged batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// Index of the last entry in the log once the batch was synced.
    pub last_index: u64,
    /// How long the group took to write and make durable.
    pub sync_latency: Duration,
    /// How many caller batches shared that sync.
    pub batches_in_sync: usize,
}

/// Why an append was not made durable.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The WAL failed; the node must stop, since the log may be incomplete.
    #[error("WAL failure: {0}")]
    Wal(String),
    /// The committer thread has stopped (after an earlier failure or shutdown).
    #[error("the WAL committer has stopped")]
    Stopped,
}

/// Called on the committer thread with a batch's outcome.
pub type OnDurable = Box<dyn FnOnce(Result<Durable, CommitError>) + Send>;

/// Where a batch's outcome goes.
enum Ack {
    /// To a task awaiting [`PendingDurable`].
    Await(oneshot::Sender<Result<Durable, CommitError>>),
    /// Straight from the committer thread: no task to wake in between.
    Call(OnDurable),
}

struct Request {
    records: Vec<WalRecord>,
    ack: Ack,
}

/// What the committer thread is asked to do, in queue order.
enum Job {
    /// Append and sync a batch.
    Append(Request),
    /// Remove the segments wholly at or below this index (covered by a snapshot).
    Compact(u64),
}

/// The acknowledgement of a queued batch, to await.
#[derive(Debug)]
pub struct PendingDurable {
    done: oneshot::Receiver<Result<Durable, CommitError>>,
}

impl PendingDurable {
    /// Resolves once the batch is durable (or the WAL has failed).
    pub async fn durable(self) -> Result<Durable, CommitError> {
        self.done.await.map_err(|_| CommitError::Stopped)?
    }
}

/// Handle to the thread that owns the WAL and commits records in groups.
#[derive(Debug)]
pub struct GroupCommitter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Wal>>,
}

impl GroupCommitter {
    /// Starts the committer thread owning `wal`, with at most
    /// `queue_batches_max` batches waiting.
    pub fn start(wal: Wal, queue_batches_max: usize) -> Result<Self, StorageError> {
        let (tx, rx) = mpsc::channel(queue_batches_max.max(1));
        let thread = std::thread::Builder::new()
            .name("corral-wal".into())
            .spawn(move || run(wal, rx))
            .map_err(StorageError::io("<wal committer thread>"))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Appends `records` and resolves once they are durable.
    ///
    /// Cancel safety: once the batch is queued, dropping the future does not
    /// withdraw it; it is still written, only the acknowledgement is lost.
    pub async fn append(&self, records: Vec<WalRecord>) -> Result<Durable, CommitError> {
        self.submit(records).await?.durable().await
    }

    /// Queues `records` behind every batch queued before, waiting for room in
    /// the queue, and returns the acknowledgement to wait for.
    ///
    /// Batches are written in the order their `submit` calls completed.
    /// Cancel safety: dropping the future before it resolves queues nothing.
    pub async fn submit(&self, records: Vec<WalRecord>) -> Result<PendingDurable, CommitError> {
        let tx = self.tx.as_ref().ok_or(CommitError::Stopped)?;
        let (ack, done) = oneshot::channel();
        tx.send(Job::Append(Request {
            records,
            ack: Ack::Await(ack),
        }))
        .await
        .map_err(|_| CommitError::Stopped)?;
        Ok(PendingDurable { done })
    }

    /// Like [`Self::submit`], but `on_durable` runs on the committer thread
    /// once the batch is durable (or failed): it must be quick and must not
    /// block. Saves a task wake-up per batch on the write path.
    ///
    /// Cancel safety: dropping the future before it resolves queues nothing
    /// (and `on_durable` never runs).
    pub async fn submit_then(
        &self,
        records: Vec<WalRecord>,
        on_durable: OnDurable,
    ) -> Result<(), CommitError> {
        let tx = self.tx.as_ref().ok_or(CommitError::Stopped)?;
        tx.send(Job::Append(Request {
            records,
            ack: Ack::Call(on_durable),
        }))
        .await
        .map_err(|_| CommitError::Stopped)
    }

    /// Removes the WAL segments wholly at or below `index` once every batch
    /// queued before is written (a snapshot covers them).
    ///
    /// Cancel safety: dropping the future before it resolves queues nothing.
    pub async fn compact(&self, index: u64) -> Result<(), CommitError> {
        let tx = self.tx.as_ref().ok_or(CommitError::Stopped)?;
        tx.send(Job::Compact(index))
            .await
            .map_err(|_| CommitError::Stopped)
    }

    /// Stops the thread after everything queued is durable, and returns the WAL.
    pub fn shutdown(mut self) -> Option<Wal> {
        self.tx.take();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(mut wal: Wal, mut rx: mpsc::Receiver<Job>) -> Wal {
    // Registered once: a lookup by name on every sync cost a key allocation.
    let fsync_seconds = metrics::histogram!("corral_storage_fsync_seconds");
    let mut group: Vec<Request> = Vec::new();
    let mut compact_to: Option<u64> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next.take().or_else(|| rx.try_recv().ok()) {
            match job {
                Job::Append(request) => group.push(request),
                Job::Compact(index) => compact_to = Some(compact_to.unwrap_or(0).max(index)),
            }
        }
        if let Some(index) = compact_to.take() {
            // Compaction is an optimisation: a failure leaves old segments behind.
            match wal.compact(index) {
                Ok(removed) => tracing::debug!(index, removed, "WAL compacted"),
                Err(e) => tracing::warn!(index, error = %e, "WAL compaction failed"),
            }
        }
        if group.is_empty() {
            continue;
        }
        let outcome = commit(&mut wal, &group, &fsync_seconds);
        let failed = outcome.is_err();
        for request in group.drain(..) {
            let reply = match &outcome {
                Ok(durable) => Ok(*durable),
                Err(e) => Err(CommitError::Wal(e.to_string())),
            };
            match request.ack {
                // A caller that gave up waiting is not an error.
                Ack::Await(ack) => {
                    let _ = ack.send(reply);
                }
                Ack::Call(on_durable) => on_durable(reply),
            }
        }
        if failed {
            // After a failed write or sync the file's state is unknown
            // (fsyncgate): refuse everything from here on.
            break;
        }
    }
    wal
}

fn commit(
    wal: &mut Wal,
    group: &[Request],
    fsync_seconds: &metrics::Histogram,
) -> Result<Durable, StorageError> {
    // Timed from the first write: with direct writes each one is durable
    // when it returns and the sync has nothing left to do.
    let started = Instant::now();
    for request in group {
        wal.append(&request.records)?;
    }
    wal.sync()?;
    fsync_seconds.record(started.elapsed().as_secs_f64());
    Ok(Durable {
        last_index: wal.last_index(),
        sync_latency: started.elapsed(),
        batches_in_sync: group.len(),
    })
}
