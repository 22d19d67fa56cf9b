//! The read view: what sessions read from, published when a reader wants it.
//!
//! The tree's maps are persistent (`imbl`), so a [`View`] is an O(1) clone that
//! later applies never change. The replica publishes one on a
//! `tokio::sync::watch` channel, but only when a reader asked for something
//! newer than the published view, or read the published one since it came
//! out: every publish makes the next applies copy the tree paths they touch,
//! so a stream of writes nobody reads publishes nothing, while under reads
//! each applied batch is published as it comes (a read after a write then
//! finds it without asking). Readers go through [`Views`]: [`Views::current`]
//! answers with a view holding everything applied so far (asking the replica
//! to publish when the published one is behind), [`Views::at_least`] with one
//! that has applied a given index.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use corral_core::broadcast::{NodeId, Role};
use corral_core::tree::DataTree;
use ractor::ActorRef;
use tokio::sync::watch;

use crate::replica::ReplicaMsg;

/// One published state of this replica.
#[derive(Debug, Clone)]
pub struct View {
    /// The tree as of `applied`.
    pub tree: DataTree,
    /// Highest log index applied to `tree`.
    pub applied: u64,
    /// This node's role.
    pub role: Role,
    /// The leader this node follows, if known.
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Highest index known committed.
    pub committed: u64,
}

impl View {
    /// Whether this node leads its term.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
}

/// What the replica and its readers share about publishing.
#[derive(Debug, Default)]
pub struct ViewDemand {
    /// The replica's applied index, stored before the writes it applied are
    /// answered.
    applied: AtomicU64,
    /// A reader waits for a newer view than the published one.
    wanted: AtomicBool,
    /// The published view was read: readers are about, so the next applies
    /// publish a view without being asked (as a mixed workload wants).
    read: AtomicBool,
}

impl ViewDemand {
    /// Records the replica's applied index (before answering the writes in it).
    pub(crate) fn set_applied(&self, index: u64) {
        self.applied.store(index, Ordering::Release);
    }

    /// Whether a reader waits for a newer view, or read the published one;
    /// both are cleared by the replica just before it publishes.
    pub(crate) fn is_wanted(&self) -> bool {
        self.wanted.load(Ordering::Acquire) || self.read.load(Ordering::Relaxed)
    }

    /// Clears the wish and the read mark, just before a publish.
    pub(crate) fn fulfil(&self) {
        self.read.store(false, Ordering::Relaxed);
        self.wanted.store(false, Ordering::Release);
    }

    /// Marks the published view read (a store only when not marked yet).
    fn mark_read(&self) {
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
    }
}

/// A reader's handle on the replica's views.
#[derive(Debug, Clone)]
pub struct Views {
    rx: watch::Receiver<View>,
    demand: Arc<ViewDemand>,
    replica: ActorRef<ReplicaMsg>,
}

impl Views {
    /// A handle on the views published on `rx` by `replica`, sharing `demand` with it.
    pub(crate) fn new(
        rx: watch::Receiver<View>,
        demand: Arc<ViewDemand>,
        replica: ActorRef<ReplicaMsg>,
    ) -> Self {
        Self {
            rx,
            demand,
            replica,
        }
    }

    /// The replica's applied index: what [`Views::current`] reaches.
    pub fn applied(&self) -> u64 {
        self.demand.applied.load(Ordering::Acquire)
    }

    /// The replica's applied index as a zxid (for answers that read nothing).
    pub fn applied_zxid(&self) -> i64 {
        i64::try_from(self.applied()).unwrap_or(i64::MAX)
    }

    /// The newest published view, which may lag what is applied (roles,
    /// terms and leaders are published as they change).
    pub fn published(&self) -> View {
        self.rx.borrow().clone()
    }

    /// The published views as a channel: role, term and leader changes come
    /// through it at once; a newer tree only when some reader asks for one.
    pub fn subscribe(&self) -> watch::Receiver<View> {
        self.rx.clone()
    }

    /// A view holding everything the replica had applied when called.
    ///
    /// Cancel safety: cancel-safe. Returns `None` if the replica has stopped.
    pub async fn current(&mut self) -> Option<View> {
        let index = self.applied();
        self.at_least(index).await
    }

    /// A view that has applied at least `index`; waits for apply if needed.
    ///
    /// Cancel safety: cancel-safe. Returns `None` if the replica has stopped.
    pub async fn at_least(&mut self, index: u64) -> Option<View> {
        loop {
            {
                let view = self.rx.borrow_and_update();
                if view.applied >= index {
                    self.demand.mark_read();
                    return Some(view.clone());
                }
            }
            // One request in the replica's mailbox at most: whoever sets the
            // flag sends it, and the replica clears it when it publishes.
            if !self.demand.wanted.swap(true, Ordering::AcqRel)
                && self.replica.send_message(ReplicaMsg::Publish).is_err()
            {
                return None;
            }
            self.rx.changed().await.ok()?;
        }
    }
}
