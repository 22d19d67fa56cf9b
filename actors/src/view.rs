//! The read view: what sessions read from, swapped after every applied batch.
//!
//! The tree's maps are persistent (`imbl`), so a [`View`] is an O(1) clone that
//! later applies never change. The replica publishes one on a
//! `tokio::sync::watch` channel; readers take the newest without waiting on the
//! log, and can wait for "applied ≥ zxid".

use corral_core::broadcast::{NodeId, Role};
use corral_core::tree::DataTree;
use tokio::sync::watch;

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

/// Waits until the published view has applied at least `index`; returns it.
///
/// Cancel safety: cancel-safe. Returns `None` if the replica has stopped.
pub async fn wait_applied(rx: &mut watch::Receiver<View>, index: u64) -> Option<View> {
    rx.wait_for(|v| v.applied >= index)
        .await
        .ok()
        .map(|v| v.clone())
}
