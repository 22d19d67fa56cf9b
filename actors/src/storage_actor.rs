//! StorageActor: makes the consensus core's persist batches durable.
//!
//! ```text
//!  ReplicaActor ──Persist{snapshot?, entries, hard state, token, on_thread}──► StorageActor
//!     snapshot? ──► SnapshotStore::save (synced) + WalRecord::Reset
//!     entries, hard state ──► GroupCommitter: written here (see below), or on
//!                             its thread (one write + one fdatasync per group)
//!  ReplicaActor ◄──Persisted(token)── sent once the write is durable
//! ```
//!
//! On a one-thread runtime (a node given one core's worth) a batch is
//! written on this actor's thread unless the replica asks for the committer
//! thread: handing a write over costs two context switches, and a follower
//! whose ack waits for its own write gains nothing from them. The replica
//! asks for the thread where its event loop must stay free during the write:
//! on a leader, always (two followers' acks commit an entry without the
//! leader's own write, and it proposes what comes in meanwhile), and on a
//! follower whose clients wait for forwarded writes (the leader's commit
//! answers them while the follower's own write runs). A write here first
//! lets the tasks already woken run, so that the acks and replies already
//! due leave before it blocks.
//!
//! The core hands out one persist batch at a time and only the next once the
//! token came back, so this mailbox holds at most one batch plus compactions.
//! A failed write or sync is fatal (the WAL's state is unknown): the actor
//! stops with an error and its supervisor, the replica, stops the node.

use corral_core::broadcast::Persist;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::replica::ReplicaMsg;
use crate::storage::recovery::{encode_hard_state, encode_membership};
use crate::storage::{GroupCommitter, OnDurable, SnapshotMeta, SnapshotStore, Wal, WalRecord};

/// WAL batches queued for the committer thread at most.
const WAL_QUEUE_BATCHES_MAX: usize = 64;

/// Messages of the StorageActor.
#[derive(Debug)]
pub enum StorageMsg {
    /// Make this batch durable, then send `Persisted(token)` to the replica.
    Persist {
        /// The batch.
        persist: Persist,
        /// Write it on the committer thread even on a one-thread runtime.
        on_thread: bool,
    },
    /// A snapshot covers the log up to this index: remove WAL segments below it.
    Compact(u64),
    /// Sync and stop the WAL thread; answered once everything queued is durable.
    Shutdown(RpcReplyPort<()>),
}

/// What the StorageActor starts with.
#[derive(Debug)]
pub struct StorageArgs {
    /// The open WAL.
    pub wal: Wal,
    /// The snapshot directory.
    pub snapshots: SnapshotStore,
    /// Where acknowledgements go.
    pub replica: ActorRef<ReplicaMsg>,
}

/// The StorageActor.
#[derive(Debug)]
pub struct StorageActor;

/// Its state.
#[derive(Debug)]
pub struct StorageState {
    committer: Option<GroupCommitter>,
    /// Whether batches may be written on this actor's thread (a one-thread runtime).
    write_here: bool,
    snapshots: SnapshotStore,
    replica: ActorRef<ReplicaMsg>,
}

impl Actor for StorageActor {
    type Msg = StorageMsg;
    type State = StorageState;
    type Arguments = StorageArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<StorageMsg>,
        args: StorageArgs,
    ) -> Result<StorageState, ActorProcessingErr> {
        let committer = GroupCommitter::start(args.wal, WAL_QUEUE_BATCHES_MAX)?;
        let write_here = tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::CurrentThread;
        Ok(StorageState {
            committer: Some(committer),
            write_here,
            snapshots: args.snapshots,
            replica: args.replica,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<StorageMsg>,
        message: StorageMsg,
        state: &mut StorageState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            StorageMsg::Persist { persist, on_thread } => state.persist(persist, on_thread).await?,
            StorageMsg::Compact(index) => {
                if let Some(c) = &state.committer {
                    c.compact(index).await?;
                }
            }
            StorageMsg::Shutdown(reply) => {
                if let Some(c) = state.committer.take() {
                    // Joins the thread after it synced everything queued.
                    let _ = tokio::task::spawn_blocking(move || c.shutdown()).await;
                }
                let _ = reply.send(());
                myself.stop(Some("shutdown".into()));
            }
        }
        Ok(())
    }
}

impl StorageState {
    async fn persist(
        &mut self,
        persist: Persist,
        on_thread: bool,
    ) -> Result<(), ActorProcessingErr> {
        let Persist {
            snapshot,
            entries,
            hard_state,
            token,
        } = persist;
        let mut records = Vec::with_capacity(entries.len() + 2);
        if let Some(snapshot) = snapshot {
            let meta = SnapshotMeta {
                index: snapshot.meta.index,
                term: snapshot.meta.term,
                consensus: encode_membership(&snapshot.meta.membership),
            };
            let store = self.snapshots.clone();
            let data = snapshot.data.clone();
            tokio::task::spawn_blocking(move || store.save(&meta, &data)).await??;
            records.push(WalRecord::Reset {
                index: snapshot.meta.index,
            });
        }
        // Shared with the log and encoded on the WAL thread straight into
        // its frame: no copy here.
        records.extend(entries.into_iter().map(WalRecord::Pending));
        if let Some(hs) = &hard_state {
            records.push(encode_hard_state(hs));
        }
        let committer = self.committer.as_ref().ok_or("storage is shut down")?;
        let replica = self.replica.clone();
        // Runs where the write ran: the replica hears of the sync directly.
        let on_durable: OnDurable = Box::new(move |outcome| match outcome {
            // The sync's latency is recorded once per fdatasync by the committer.
            Ok(_) => {
                let _ = replica.send_message(ReplicaMsg::Persisted(token));
            }
            Err(e) => {
                tracing::error!(error = %e, "WAL write failed: the node stops");
                replica.stop(Some(format!("WAL write failed: {e}")));
            }
        });
        let records = if self.write_here && !on_thread {
            // The connections woken to send this batch's appends go first.
            BackOfTheQueue::default().await;
            match committer.write_here(records) {
                Ok(outcome) => {
                    on_durable(outcome);
                    return Ok(());
                }
                // Something is still queued for the thread: behind it.
                Err(records) => records,
            }
        } else {
            records
        };
        committer.submit_then(records, on_durable).await?;
        Ok(())
    }
}

/// Resolves on its second poll, having woken its task on the first: the task
/// goes to the back of the run queue, behind the tasks woken before it (not
/// after the next I/O poll, as `tokio::task::yield_now` defers).
#[derive(Debug, Default)]
struct BackOfTheQueue {
    woken: bool,
}

impl std::future::Future for BackOfTheQueue {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.woken {
            return std::task::Poll::Ready(());
        }
        self.woken = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
