//! Group commit: one `fdatasync` for every WAL record that arrived meanwhile.
//!
//! The WAL is written on a thread of its own. Callers send batches of records over a
//! bounded channel and wait for their acknowledgement; the thread takes one
//! batch, then every other batch already queued, writes them all, syncs once
//! and acknowledges each. Under load the batches grow and the cost of a sync is
//! shared; with one writer the latency is a single write plus a single sync.
//!
//! The channel is bounded (`queue_batches_max`): when the disk falls behind,
//! `append` waits for room, which pushes back on the replica.
//!
//! [`GroupCommitter::write_here`] writes a batch on the caller's thread
//! instead, when nothing is queued: handing a write to the thread costs two
//! context switches (wake it, and be woken when it is durable), which on a
//! host with few cores cost more CPU than the write and add their latency to
//! it. The WAL sits behind a mutex that only one of the two holds at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
#[derive(Debug, Clone, thiserror::Error)]
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

/// The WAL and whether a write or sync of it failed.
#[derive(Debug)]
struct WalSlot {
    /// Taken by [`GroupCommitter::shutdown`].
    wal: Option<Wal>,
    /// After a failed write or sync the file's state is unknown
    /// (fsyncgate): everything from here on is refused.
    failed: bool,
}

/// What the committer thread and [`GroupCommitter::write_here`] share.
#[derive(Debug)]
struct Shared {
    wal: Mutex<WalSlot>,
    /// Jobs sent to the thread and not yet finished.
    queued: AtomicUsize,
    fsync_seconds: metrics::Histogram,
}

/// Handle to the thread that commits WAL records in groups.
#[derive(Debug)]
pub struct GroupCommitter {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl GroupCommitter {
    /// Starts the committer thread owning `wal`, with at most
    /// `queue_batches_max` batches waiting.
    pub fn start(wal: Wal, queue_batches_max: usize) -> Result<Self, StorageError> {
        let (tx, rx) = mpsc::channel(queue_batches_max.max(1));
        let shared = Arc::new(Shared {
            wal: Mutex::new(WalSlot {
                wal: Some(wal),
                failed: false,
            }),
            queued: AtomicUsize::new(0),
            // Registered once: a lookup by name on every sync cost a key allocation.
            fsync_seconds: metrics::histogram!("corral_storage_fsync_seconds"),
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("corral-wal".into())
            .spawn(move || run(&for_thread, rx))
            .map_err(StorageError::io("<wal committer thread>"))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            shared,
        })
    }

    /// Writes `records` and makes them durable on the caller's thread, if
    /// nothing is queued for the committer thread; otherwise gives them back.
    ///
    /// Blocks for the write (a direct write, or a write and an `fdatasync`).
    /// Batches are written in the order of the calls that took them, here or
    /// through [`Self::submit`].
    pub fn write_here(
        &self,
        records: Vec<WalRecord>,
    ) -> Result<Result<Durable, CommitError>, Vec<WalRecord>> {
        // Only the caller queues jobs: if none is left, none arrives meanwhile.
        if self.shared.queued.load(Ordering::Acquire) != 0 {
            return Err(records);
        }
        let Ok(mut slot) = self.shared.wal.lock() else {
            // A thread panicked while writing: the WAL's state is unknown.
            return Ok(Err(CommitError::Stopped));
        };
        let WalSlot { wal, failed } = &mut *slot;
        let (Some(wal), false) = (wal.as_mut(), *failed) else {
            return Ok(Err(CommitError::Stopped));
        };
        let outcome = write_and_sync(wal, [records.as_slice()], &self.shared.fsync_seconds);
        *failed = outcome.is_err();
        Ok(outcome.map_err(|e| CommitError::Wal(e.to_string())))
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
        let (ack, done) = oneshot::channel();
        self.queue(Job::Append(Request {
            records,
            ack: Ack::Await(ack),
        }))
        .await?;
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
        self.queue(Job::Append(Request {
            records,
            ack: Ack::Call(on_durable),
        }))
        .await
    }

    /// Removes the WAL segments wholly at or below `index` once every batch
    /// queued before is written (a snapshot covers them).
    ///
    /// Cancel safety: dropping the future before it resolves queues nothing.
    pub async fn compact(&self, index: u64) -> Result<(), CommitError> {
        self.queue(Job::Compact(index)).await
    }

    /// Sends a job to the thread, counted as queued until the thread is done with it.
    async fn queue(&self, job: Job) -> Result<(), CommitError> {
        let tx = self.tx.as_ref().ok_or(CommitError::Stopped)?;
        // Counted first: the thread may finish it before `send` returns.
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        if tx.send(job).await.is_err() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(CommitError::Stopped);
        }
        Ok(())
    }

    /// Stops the thread after everything queued is durable, and returns the
    /// WAL (none if the thread panicked).
    pub fn shutdown(mut self) -> Option<Wal> {
        self.tx.take();
        self.thread.take()?.join().ok()?;
        self.shared.wal.lock().ok()?.wal.take()
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

fn run(shared: &Shared, mut rx: mpsc::Receiver<Job>) {
    let mut group: Vec<Request> = Vec::new();
    let mut compact_to: Option<u64> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = 0;
        let mut next = Some(first);
        while let Some(job) = next.take().or_else(|| rx.try_recv().ok()) {
            jobs += 1;
            match job {
                Job::Append(request) => group.push(request),
                Job::Compact(index) => compact_to = Some(compact_to.unwrap_or(0).max(index)),
            }
        }
        let outcome = write_group(shared, &group, compact_to.take());
        let failed = outcome.is_err();
        // Done with them before any caller hears of it: a caller that writes
        // its next batch on being told finds the queue empty.
        shared.queued.fetch_sub(jobs, Ordering::AcqRel);
        for request in group.drain(..) {
            let reply = outcome.clone();
            match request.ack {
                // A caller that gave up waiting is not an error.
                Ack::Await(ack) => {
                    let _ = ack.send(reply);
                }
                Ack::Call(on_durable) => on_durable(reply),
            }
        }
        if failed {
            // Refused from here on: the WAL's state is unknown.
            break;
        }
    }
}

/// Compacts (if asked) and writes one group under the WAL's lock; an empty
/// group is not written.
fn write_group(
    shared: &Shared,
    group: &[Request],
    compact_to: Option<u64>,
) -> Result<Durable, CommitError> {
    let Ok(mut slot) = shared.wal.lock() else {
        return Err(CommitError::Stopped);
    };
    let WalSlot { wal, failed } = &mut *slot;
    let (Some(wal), false) = (wal.as_mut(), *failed) else {
        return Err(CommitError::Stopped);
    };
    if let Some(index) = compact_to {
        // Compaction is an optimisation: a failure leaves old segments behind.
        match wal.compact(index) {
            Ok(removed) => tracing::debug!(index, removed, "WAL compacted"),
            Err(e) => tracing::warn!(index, error = %e, "WAL compaction failed"),
        }
    }
    if group.is_empty() {
        return Ok(Durable {
            last_index: wal.last_index(),
            sync_latency: Duration::ZERO,
            batches_in_sync: 0,
        });
    }
    let batches = group.iter().map(|r| r.records.as_slice());
    let outcome = write_and_sync(wal, batches, &shared.fsync_seconds);
    // After a failed write or sync the file's state is unknown (fsyncgate).
    *failed = outcome.is_err();
    outcome.map_err(|e| CommitError::Wal(e.to_string()))
}

/// Writes the batches in order, makes them durable, and records how long
/// that took in `fsync_seconds`.
fn write_and_sync<'a>(
    wal: &mut Wal,
    batches: impl IntoIterator<Item = &'a [WalRecord]>,
    fsync_seconds: &metrics::Histogram,
) -> Result<Durable, StorageError> {
    // Timed from the first write: with direct writes each one is durable
    // when it returns and the sync has nothing left to do.
    let started = Instant::now();
    let mut batches_in_sync = 0;
    for records in batches {
        wal.append(records)?;
        batches_in_sync += 1;
    }
    wal.sync()?;
    fsync_seconds.record(started.elapsed().as_secs_f64());
    Ok(Durable {
        last_index: wal.last_index(),
        sync_latency: started.elapsed(),
        batches_in_sync,
    })
}
