//! Requests and log entries: what clients send, and what the leader puts in the log.
//!
//! A client [`Request`] travels unchanged from the wire into the log, inside a
//! [`Command::Client`]; the log holds requests, not effects, so versions, ACLs and
//! sequence numbers are all decided when the entry is applied. Session lifecycle and
//! housekeeping are [`Command`]s the leader proposes itself.

use serde::{Deserialize, Serialize};

use super::acl::{Acl, Id};
use super::event::{AddWatchMode, WatcherType};
use super::mode::CreateMode;
use super::session::{SessionId, SessionSecret};

/// A create: ZooKeeper's create, create2, createContainer and createTTL in one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// Path (for sequential modes, the prefix the suffix is appended to).
    pub path: String,
    /// Initial data.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// ACL of the new node.
    pub acl: Vec<Acl>,
    /// Mode.
    pub mode: CreateMode,
    /// TTL in ms: required for the TTL modes, must be `None` otherwise.
    pub ttl_ms: Option<i64>,
}

/// One write inside a multi (ZooKeeper's `Op`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MultiOp {
    /// Create a node.
    Create(CreateRequest),
    /// Delete a node if its version matches (-1: any).
    Delete {
        /// Path.
        path: String,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// Set data if the version matches (-1: any).
    SetData {
        /// Path.
        path: String,
        /// New data.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// Fail the multi unless the node's version matches (-1: only that it exists).
    Check {
        /// Path.
        path: String,
        /// Expected version, -1 for any.
        version: i32,
    },
}

/// One read inside a multiRead (ZooKeeper allows getChildren and getData).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    /// List children.
    GetChildren {
        /// Path.
        path: String,
    },
    /// Read data and stat.
    GetData {
        /// Path.
        path: String,
    },
}

/// Everything a client can ask of the tree (ZooKeeper's client operations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Create a node.
    Create(CreateRequest),
    /// Delete a node (version -1: any).
    Delete {
        /// Path.
        path: String,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// Stat of a node, or none; optionally leave a watch (data if it exists, exist if not).
    Exists {
        /// Path.
        path: String,
        /// Leave a one-shot watch.
        watch: bool,
    },
    /// Data and stat; optionally leave a one-shot data watch.
    GetData {
        /// Path.
        path: String,
        /// Leave a one-shot watch.
        watch: bool,
    },
    /// Replace data (version -1: any).
    SetData {
        /// Path.
        path: String,
        /// New data.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// Children, sorted; optionally with the node's stat and a one-shot child watch.
    GetChildren {
        /// Path.
        path: String,
        /// Leave a one-shot child watch.
        watch: bool,
        /// Also return the node's stat (getChildren2).
        with_stat: bool,
    },
    /// Number of all descendants of a node.
    GetAllChildrenNumber {
        /// Path.
        path: String,
    },
    /// The calling session's ephemerals whose path starts with `prefix` ("/" for all).
    GetEphemerals {
        /// Path prefix.
        prefix: String,
    },
    /// ACL and stat of a node.
    GetAcl {
        /// Path.
        path: String,
    },
    /// Replace the ACL (aversion -1: any).
    SetAcl {
        /// Path.
        path: String,
        /// New ACL.
        acl: Vec<Acl>,
        /// Expected aversion, -1 for any.
        aversion: i32,
    },
    /// Atomic batch of writes: all apply or none.
    Multi(Vec<MultiOp>),
    /// Batch of reads, each answered on its own.
    MultiRead(Vec<ReadOp>),
    /// Wait until this replica has applied everything committed before the sync.
    Sync {
        /// Path (echoed back, as ZooKeeper does).
        path: String,
    },
    /// Add a persistent or persistent-recursive watch.
    AddWatch {
        /// Path.
        path: String,
        /// Mode.
        mode: AddWatchMode,
    },
    /// Remove the session's watches of one type on a path.
    RemoveWatches {
        /// Path.
        path: String,
        /// Which watches.
        watcher_type: WatcherType,
    },
    /// Add a digest identity to the session (`addauth digest user:password`).
    AddAuth {
        /// Scheme; only `digest` is accepted.
        scheme: String,
        /// The credentials, `user:password` for digest.
        #[serde(with = "serde_bytes")]
        auth: Vec<u8>,
    },
    /// End the session, deleting its ephemerals.
    Close,
}

impl Request {
    /// Whether the request changes replicated state and so must go through the log.
    ///
    /// Reads, watch changes and sync may still be put in the log (a linearizable read),
    /// and apply answers them there.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create(_)
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Multi(_)
                | Request::AddAuth { .. }
                | Request::Close
        )
    }
}

/// The payload of a log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client's request, on behalf of `session`.
    Client {
        /// The session that sent it.
        session: SessionId,
        /// What it asked.
        request: Request,
    },
    /// Open a session; its id will be the entry's zxid.
    CreateSession {
        /// Timeout in ms.
        timeout_ms: i64,
        /// Secret chosen by the leader.
        secret: SessionSecret,
        /// Identities proven at connect time (the x509 name).
        identities: Vec<Id>,
    },
    /// Record that these sessions were heard from at the entry's time.
    TouchSessions {
        /// Sessions heard from.
        sessions: Vec<SessionId>,
    },
    /// Expire these sessions if they are still expired at the entry's time.
    ExpireSessions {
        /// Candidates from [`DataTree::expired_sessions`](super::DataTree::expired_sessions).
        sessions: Vec<SessionId>,
    },
    /// Delete these containers if they are still empty and reapable.
    ReapContainers {
        /// Candidates from [`DataTree::containers_to_reap`](super::DataTree::containers_to_reap).
        paths: Vec<String>,
    },
    /// Delete these TTL nodes if they are still childless and expired at the entry's time.
    ReapTtl {
        /// Candidates from [`DataTree::ttl_to_reap`](super::DataTree::ttl_to_reap).
        paths: Vec<String>,
    },
    /// Nothing: a new leader's first entry, or a sync barrier.
    Noop,
}

/// A committed log entry as apply sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The entry's zxid (its log index); strictly increasing.
    pub zxid: i64,
    /// The leader's time in ms since the epoch when it proposed the entry.
    pub time_ms: i64,
    /// What to do.
    pub command: Command,
}
