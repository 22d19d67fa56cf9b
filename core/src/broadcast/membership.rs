//! Cluster membership: voters and learners, changed one server at a time.
//!
//! A change takes effect as soon as its entry is in a node's log (committed or
//! not), as in the Raft dissertation; truncating the entry reverts it. The
//! leader only proposes a change once the previous one is committed and it has
//! committed an entry of its own term, which keeps any two successive
//! configurations' majorities overlapping.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::NodeId;

/// Voters and learners of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Nodes that vote and count towards commit quorums.
    pub voters: BTreeSet<NodeId>,
    /// Non-voting observers that receive the log.
    pub learners: BTreeSet<NodeId>,
}

/// One single-server membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChange {
    /// Add a new voter.
    AddVoter(NodeId),
    /// Add a new learner.
    AddLearner(NodeId),
    /// Turn a learner into a voter.
    PromoteLearner(NodeId),
    /// Remove a voter or learner.
    Remove(NodeId),
}

/// Why a membership change is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfChangeError {
    /// The node is already a member in that role.
    #[error("node {0} is already a member")]
    AlreadyMember(NodeId),
    /// The node is not a member (or not a learner, for promotion).
    #[error("node {0} is not a member in the required role")]
    NotMember(NodeId),
    /// Removing it would leave no voter.
    #[error("removing node {0} would leave no voter")]
    LastVoter(NodeId),
    /// Node id 0 is reserved.
    #[error("node id 0 is reserved")]
    ZeroId,
}

impl Membership {
    /// A membership of the given voters and no learners.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Self {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// Whether `id` is a voter or learner.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// Whether `id` votes.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Every member, voters and learners, in id order.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.union(&self.learners).copied()
    }

    /// The membership after `change`, or why it is invalid.
    pub fn apply(&self, change: ConfChange) -> Result<Membership, ConfChangeError> {
        let mut next = self.clone();
        match change {
            ConfChange::AddVoter(id) | ConfChange::AddLearner(id) if id == 0 => {
                return Err(ConfChangeError::ZeroId);
            }
            ConfChange::AddVoter(id) | ConfChange::AddLearner(id) if self.contains(id) => {
                return Err(ConfChangeError::AlreadyMember(id));
            }
            ConfChange::AddVoter(id) => {
                next.voters.insert(id);
            }
            ConfChange::AddLearner(id) => {
                next.learners.insert(id);
            }
            ConfChange::PromoteLearner(id) => {
                if !next.learners.remove(&id) {
                    return Err(ConfChangeError::NotMember(id));
                }
                next.voters.insert(id);
            }
            ConfChange::Remove(id) => {
                if self.voters.len() == 1 && self.voters.contains(&id) {
                    return Err(ConfChangeError::LastVoter(id));
                }
                if !next.voters.remove(&id) && !next.learners.remove(&id) {
                    return Err(ConfChangeError::NotMember(id));
                }
            }
        }
        Ok(next)
    }
}
