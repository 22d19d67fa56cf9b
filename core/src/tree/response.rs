//! What apply and reads answer: one [`Response`] per request, or a [`ZkError`](super::ZkError).

use serde::{Deserialize, Serialize};

use super::acl::Acl;
use super::error::ErrorCode;
use super::session::{SessionId, SessionSecret};
use super::stat::Stat;

/// The result of one op inside a multi (ZooKeeper's `OpResult`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MultiOpResult {
    /// A create succeeded: the actual path and the new node's stat.
    Create {
        /// Path created (with the sequence suffix).
        path: String,
        /// Stat of the new node.
        stat: Stat,
    },
    /// A delete succeeded.
    Delete,
    /// A setData succeeded: the new stat.
    SetData {
        /// Stat after the change.
        stat: Stat,
    },
    /// A check succeeded.
    Check,
    /// The multi failed: `Ok` for ops before the failing one, its error for the failing op,
    /// `RuntimeInconsistency` for the ops after it (ZooKeeper's `ErrorResult`).
    Error(ErrorCode),
}

/// The result of one read inside a multiRead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOpResult {
    /// Children, sorted.
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// Data and stat.
    GetData {
        /// Data.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Stat.
        stat: Stat,
    },
    /// This read failed (others are unaffected).
    Error(ErrorCode),
}

/// A successful answer, one variant per kind of request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Node created: the actual path and its stat.
    Create {
        /// Path created.
        path: String,
        /// Stat of the new node.
        stat: Stat,
    },
    /// Node deleted.
    Delete,
    /// Stat of the node, `None` if it does not exist.
    Exists {
        /// Stat, if the node exists.
        stat: Option<Stat>,
    },
    /// Data and stat.
    GetData {
        /// Data.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Stat.
        stat: Stat,
    },
    /// Data replaced: the new stat.
    SetData {
        /// Stat after the change.
        stat: Stat,
    },
    /// Children, sorted, with the stat when asked.
    GetChildren {
        /// Child names.
        children: Vec<String>,
        /// Stat, for getChildren2.
        stat: Option<Stat>,
    },
    /// Number of descendants.
    AllChildrenNumber {
        /// Count.
        count: i32,
    },
    /// The session's ephemerals under the prefix, sorted.
    Ephemerals {
        /// Paths.
        paths: Vec<String>,
    },
    /// ACL and stat (digests redacted without ADMIN).
    GetAcl {
        /// ACL.
        acl: Vec<Acl>,
        /// Stat.
        stat: Stat,
    },
    /// ACL replaced: the new stat.
    SetAcl {
        /// Stat after the change.
        stat: Stat,
    },
    /// Per-op results of a multi; see [`MultiOpResult::Error`] for a failed one.
    Multi {
        /// One result per op.
        results: Vec<MultiOpResult>,
    },
    /// Per-op results of a multiRead.
    MultiRead {
        /// One result per op.
        results: Vec<ReadOpResult>,
    },
    /// Sync done.
    Sync {
        /// The path given.
        path: String,
    },
    /// Watch added.
    AddWatch,
    /// Watches removed.
    RemoveWatches,
    /// Identity added.
    AddAuth,
    /// Session closed.
    Close,
    /// Session created.
    SessionCreated {
        /// The new session's id.
        session: SessionId,
        /// Its timeout in ms.
        timeout_ms: i64,
        /// Its secret.
        secret: SessionSecret,
    },
    /// A housekeeping or session entry took effect on these sessions or paths.
    Housekeeping {
        /// Sessions expired or touched.
        sessions: Vec<SessionId>,
        /// Nodes deleted.
        paths: Vec<String>,
    },
    /// A no-op entry.
    Noop,
}

impl Response {
    /// The error code of a failed multi (the failing op's), if this is one.
    pub fn multi_error(&self) -> Option<ErrorCode> {
        match self {
            Response::Multi { results } => results.iter().find_map(|r| match r {
                MultiOpResult::Error(c)
                    if *c != ErrorCode::Ok && *c != ErrorCode::RuntimeInconsistency =>
                {
                    Some(*c)
                }
                _ => None,
            }),
            _ => None,
        }
    }
}
