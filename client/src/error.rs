//! The client's errors: ZooKeeper's codes for what the server refused, and
//! connection loss for what the network did.

use std::net::SocketAddr;

use corral_core::tree::{ErrorCode, ZkError};

/// Anything a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the operation with ZooKeeper's error (NoNode,
    /// BadVersion, NodeExists, ...), naming the path.
    #[error(transparent)]
    Zk(#[from] ZkError),
    /// The link to the server was lost before the reply arrived: the operation
    /// may or may not have taken effect (ZooKeeper's ConnectionLoss).
    #[error("connection to {server} lost: {reason}")]
    ConnectionLoss {
        /// The server the session was connected to.
        server: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// No endpoint accepted a session; each attempt's error is listed.
    #[error("cannot connect to any of {endpoints}: {attempts}")]
    NoServer {
        /// The endpoints tried, comma-separated.
        endpoints: String,
        /// Each attempt's failure, `; `-separated.
        attempts: String,
    },
    /// A server refused the session handshake (version, expired session, ...).
    #[error("{server} refused the session: {reason}")]
    SessionRefused {
        /// The refusing server.
        server: SocketAddr,
        /// ZooKeeper's error, when one applies (e.g. SessionExpired).
        code: Option<ErrorCode>,
        /// The server's reason.
        reason: String,
    },
    /// The client configuration is unusable; the message names the setting.
    #[error("client configuration: {0}")]
    Config(String),
    /// Loading the CA, certificate or key failed.
    #[error(transparent)]
    Certs(#[from] corral_certs::CertError),
    /// The QUIC/TLS layer failed (handshake, refused certificate, ...).
    #[error(transparent)]
    Transport(#[from] corral_transport::TransportError),
    /// The server broke the client protocol (a reply of the wrong kind, an
    /// unknown xid, a message out of place).
    #[error("protocol error from {server}: {what}")]
    Protocol {
        /// The server.
        server: SocketAddr,
        /// What was wrong.
        what: String,
    },
    /// The session was closed by this client.
    #[error("the session is closed")]
    Closed,
    /// The session expired (the cluster said so on resume, or no node could
    /// be reached within its timeout): its ephemerals and watches are gone.
    /// Open a new session with [`Client::connect`](crate::Client::connect).
    #[error("the session expired: {reason}")]
    SessionExpired {
        /// Why the client considers the session expired.
        reason: String,
    },
    /// A persistent watch stream fell behind: its bounded buffer was full when
    /// an event arrived, so the stream ended (events after the last one read
    /// were dropped). Re-read the watched data and watch again.
    #[error("the watch on {path} overflowed its buffer of {buffer_max} items and ended")]
    WatchOverflow {
        /// The watched path.
        path: String,
        /// The stream's buffer size ([`ClientConfig::watch_buffer_max`](crate::ClientConfig::watch_buffer_max)).
        buffer_max: usize,
    },
    /// A node a recipe held for this session (a lock's, a leadership's, a
    /// membership's) was deleted by someone else while held.
    #[error("{path}, held by this session, was deleted by another")]
    NodeLost {
        /// The node.
        path: String,
    },
    /// The watch was removed by [`Client::remove_watches`](crate::Client::remove_watches)
    /// before it fired.
    #[error("the watch on {path} was removed")]
    WatchRemoved {
        /// The watched path.
        path: String,
    },
}

impl Error {
    /// ZooKeeper's code for this error, where one fits (`ConnectionLoss` for
    /// every network failure).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Zk(e) => Some(e.code),
            Error::ConnectionLoss { .. } | Error::NoServer { .. } | Error::Transport(_) => {
                Some(ErrorCode::ConnectionLoss)
            }
            Error::SessionRefused { code, .. } => *code,
            Error::Protocol { .. } => Some(ErrorCode::MarshallingError),
            Error::Closed | Error::SessionExpired { .. } => Some(ErrorCode::SessionExpired),
            Error::WatchRemoved { .. } => Some(ErrorCode::NoWatcher),
            Error::NodeLost { .. } => Some(ErrorCode::NoNode),
            Error::Config(_) | Error::Certs(_) | Error::WatchOverflow { .. } => None,
        }
    }

    /// Whether the outcome of the failed operation is unknown: the request may
    /// have been applied (connection loss) or not.
    pub fn is_connection_loss(&self) -> bool {
        matches!(self, Error::ConnectionLoss { .. })
    }

    /// Whether the session is over (expired or closed): every later call fails too.
    pub fn is_session_ended(&self) -> bool {
        matches!(self, Error::SessionExpired { .. } | Error::Closed)
            || matches!(
                self,
                Error::SessionRefused {
                    code: Some(ErrorCode::SessionExpired),
                    ..
                }
            )
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
