//! The client protocol (`corral-client/1`): sessions, requests, replies, events.

pub use corral_core::tree::WatchesToRestore;
use corral_core::tree::{Request, Response, SessionId, SessionSecret, WatchedEvent, ZkError};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TransportError};

/// Version of the client protocol this build speaks.
pub const CLIENT_PROTOCOL_VERSION: u32 = 1;

/// The session handshake: the first frame a client sends on its session stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// The client's [`CLIENT_PROTOCOL_VERSION`]; another version is refused.
    pub protocol_version: u32,
    /// Highest zxid this client has seen; a server behind it must not serve it.
    pub last_zxid_seen: i64,
    /// Requested session timeout in ms (the server may clamp it).
    pub timeout_ms: i64,
    /// Session to resume, or 0 for a new session.
    pub session_id: SessionId,
    /// The resumed session's secret (zeros for a new session).
    pub secret: SessionSecret,
    /// Accept a read-only server while no quorum is reachable.
    pub read_only: bool,
}

/// The server's answer to a [`ConnectRequest`] that it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectResponse {
    /// The server's [`CLIENT_PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The negotiated session timeout in ms.
    pub timeout_ms: i64,
    /// The session's id (new or resumed).
    pub session_id: SessionId,
    /// The session's secret, needed to resume it elsewhere.
    pub secret: SessionSecret,
    /// The zxid the server has applied (at least the client's `last_zxid_seen`).
    pub last_zxid: i64,
    /// Whether the server is serving read-only.
    pub read_only: bool,
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMessage {
    /// The session handshake; always the first message.
    Connect(ConnectRequest),
    /// An operation; `xid` is echoed in its reply.
    Request {
        /// The client's request number.
        xid: i32,
        /// The operation, exactly as it goes into the log.
        request: Request,
    },
    /// Heartbeat: keeps the session alive; answered by [`ServerMessage::Pong`].
    Ping,
    /// Re-register watches after a reconnect; not answered. One-shot watches
    /// on znodes changed since `relative_zxid` fire at once; persistent ones
    /// get the events they missed, or [`ServerMessage::ResyncNeeded`].
    SetWatches(WatchesToRestore),
    /// A read answered only after this node has applied everything the
    /// leader had committed when it arrived (ReadIndex): linearizable.
    ReadLinearizable {
        /// The client's request number.
        xid: i32,
        /// The read (getData, exists, getChildren, ...); a write is refused.
        request: Request,
    },
    /// Instead of [`ClientMessage::Connect`], as the first message: ask for
    /// this node's [`NodeStatus`]; the server answers and closes the stream.
    Status,
}

/// What one node says of itself (`corral status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's id.
    pub id: u64,
    /// `leader`, `follower`, `observer`, `candidate` or `pre-candidate`.
    pub role: String,
    /// Whether the node votes (false for an observer).
    pub voter: bool,
    /// Current term.
    pub term: u64,
    /// The leader this node follows, if it knows one.
    pub leader: Option<u64>,
    /// Highest log index known committed.
    pub committed: u64,
    /// Highest log index applied to the tree.
    pub applied: u64,
    /// Last zxid applied to the tree.
    pub last_zxid: i64,
    /// Sessions with a stream open on this node.
    pub sessions: u64,
    /// Znodes in the tree.
    pub znodes: u64,
}

/// Server to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// The session is open.
    Connected(ConnectResponse),
    /// The handshake was refused (version mismatch, expired session, server
    /// behind the client, ...); the server then closes the stream.
    ConnectRefused {
        /// ZooKeeper's error and its subject, when one applies (e.g. SessionExpired).
        error: Option<ZkError>,
        /// A sentence for humans.
        reason: String,
    },
    /// The result of the request numbered `xid`.
    Reply {
        /// The request's number.
        xid: i32,
        /// The zxid the server had applied when it answered.
        zxid: i64,
        /// The result, or ZooKeeper's error with the path.
        result: Result<Response, ZkError>,
    },
    /// A watch fired.
    Event(WatchedEvent),
    /// Answer to [`ClientMessage::Ping`], with the server's applied zxid.
    Pong {
        /// The zxid the server has applied.
        zxid: i64,
    },
    /// The persistent watch on `path` missed events the node no longer keeps:
    /// the client must re-read what it watches. Sent after a reconnect whose
    /// `relative_zxid` is older than the node's event history.
    ResyncNeeded {
        /// The watched path.
        path: String,
        /// The zxid the client had seen.
        last_zxid_seen: i64,
        /// The oldest zxid whose events the node still has.
        oldest_zxid: i64,
    },
    /// Answer to [`ClientMessage::Status`].
    Status(NodeStatus),
}

/// Checks a client's protocol version; the error says both versions.
pub fn check_client_version(theirs: u32) -> Result<()> {
    if theirs == CLIENT_PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(TransportError::VersionMismatch {
            protocol: "client",
            theirs,
            ours: CLIENT_PROTOCOL_VERSION,
        })
    }
}
