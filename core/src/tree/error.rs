//! ZooKeeper's error codes, and the error a client sees: a code plus the path it concerns.
//!
//! The numeric values are ZooKeeper's (`KeeperException.Code`), so the wire protocol can
//! carry them unchanged and ZooKeeper users recognise them.

use serde::{Deserialize, Serialize};

/// ZooKeeper's error codes (`KeeperException.Code`), with ZooKeeper's numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ErrorCode {
    /// Everything is fine (0); appears in the results of a failed multi for ops before the failure.
    Ok,
    /// A system or server-side error (-1).
    SystemError,
    /// A runtime inconsistency was found (-2); ops after the failing one in a failed multi.
    RuntimeInconsistency,
    /// A data inconsistency was found (-3).
    DataInconsistency,
    /// Connection to the server has been lost (-4).
    ConnectionLoss,
    /// Error while marshalling or unmarshalling data (-5).
    MarshallingError,
    /// Operation is unimplemented (-6).
    Unimplemented,
    /// Operation timeout (-7).
    OperationTimeout,
    /// Invalid arguments (-8): bad path, oversize data, bad TTL, ...
    BadArguments,
    /// Unknown session, internal (-12).
    UnknownSession,
    /// No quorum of the new config is connected (-13).
    NewConfigNoQuorum,
    /// Another reconfiguration is in progress (-14).
    ReconfigInProgress,
    /// Generic API error (-100).
    ApiError,
    /// The node does not exist (-101).
    NoNode,
    /// Not authenticated (-102).
    NoAuth,
    /// Version conflict (-103).
    BadVersion,
    /// Ephemeral nodes may not have children (-108).
    NoChildrenForEphemerals,
    /// The node already exists (-110).
    NodeExists,
    /// The node has children (-111).
    NotEmpty,
    /// The session has been expired by the server (-112).
    SessionExpired,
    /// Invalid callback specified (-113).
    InvalidCallback,
    /// Invalid ACL specified (-114).
    InvalidAcl,
    /// Client authentication failed (-115).
    AuthFailed,
    /// Session moved to another server (-118).
    SessionMoved,
    /// State-changing request passed to a read-only server (-119).
    NotReadOnly,
    /// Attempt to create an ephemeral node on a local session (-120).
    EphemeralOnLocalSession,
    /// Attempt to remove a watcher that does not exist (-121).
    NoWatcher,
    /// Request not completed within the max allowed time (-122).
    RequestTimeout,
    /// Reconfiguration is disabled (-123).
    ReconfigDisabled,
    /// The session was closed because it requires SASL authentication (-124).
    SessionClosedRequireSaslAuth,
    /// A quota was exceeded (-125).
    QuotaExceeded,
    /// The request was throttled (-127).
    Throttled,
}

impl ErrorCode {
    /// Every code, for tables and round-trip tests.
    pub const ALL: [ErrorCode; 32] = [
        ErrorCode::Ok,
        ErrorCode::SystemError,
        ErrorCode::RuntimeInconsistency,
        ErrorCode::DataInconsistency,
        ErrorCode::ConnectionLoss,
        ErrorCode::MarshallingError,
        ErrorCode::Unimplemented,
        ErrorCode::OperationTimeout,
        ErrorCode::BadArguments,
        ErrorCode::UnknownSession,
        ErrorCode::NewConfigNoQuorum,
        ErrorCode::ReconfigInProgress,
        ErrorCode::ApiError,
        ErrorCode::NoNode,
        ErrorCode::NoAuth,
        ErrorCode::BadVersion,
        ErrorCode::NoChildrenForEphemerals,
        ErrorCode::NodeExists,
        ErrorCode::NotEmpty,
        ErrorCode::SessionExpired,
        ErrorCode::InvalidCallback,
        ErrorCode::InvalidAcl,
        ErrorCode::AuthFailed,
        ErrorCode::SessionMoved,
        ErrorCode::NotReadOnly,
        ErrorCode::EphemeralOnLocalSession,
        ErrorCode::NoWatcher,
        ErrorCode::RequestTimeout,
        ErrorCode::ReconfigDisabled,
        ErrorCode::SessionClosedRequireSaslAuth,
        ErrorCode::QuotaExceeded,
        ErrorCode::Throttled,
    ];

    /// ZooKeeper's numeric value of this code.
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::Ok => 0,
            ErrorCode::SystemError => -1,
            ErrorCode::RuntimeInconsistency => -2,
            ErrorCode::DataInconsistency => -3,
            ErrorCode::ConnectionLoss => -4,
            ErrorCode::MarshallingError => -5,
            ErrorCode::Unimplemented => -6,
            ErrorCode::OperationTimeout => -7,
            ErrorCode::BadArguments => -8,
            ErrorCode::UnknownSession => -12,
            ErrorCode::NewConfigNoQuorum => -13,
            ErrorCode::ReconfigInProgress => -14,
            ErrorCode::ApiError => -100,
            ErrorCode::NoNode => -101,
            ErrorCode::NoAuth => -102,
            ErrorCode::BadVersion => -103,
            ErrorCode::NoChildrenForEphemerals => -108,
            ErrorCode::NodeExists => -110,
            ErrorCode::NotEmpty => -111,
            ErrorCode::SessionExpired => -112,
            ErrorCode::InvalidCallback => -113,
            ErrorCode::InvalidAcl => -114,
            ErrorCode::AuthFailed => -115,
            ErrorCode::SessionMoved => -118,
            ErrorCode::NotReadOnly => -119,
            ErrorCode::EphemeralOnLocalSession => -120,
            ErrorCode::NoWatcher => -121,
            ErrorCode::RequestTimeout => -122,
            ErrorCode::ReconfigDisabled => -123,
            ErrorCode::SessionClosedRequireSaslAuth => -124,
            ErrorCode::QuotaExceeded => -125,
            ErrorCode::Throttled => -127,
        }
    }

    /// The code with ZooKeeper's numeric value `code`, if there is one.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// ZooKeeper's message for this code (`KeeperException.getCodeMessage`).
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::Ok => "ok",
            ErrorCode::SystemError => "SystemError",
            ErrorCode::RuntimeInconsistency => "RuntimeInconsistency",
            ErrorCode::DataInconsistency => "DataInconsistency",
            ErrorCode::ConnectionLoss => "ConnectionLoss",
            ErrorCode::MarshallingError => "MarshallingError",
            ErrorCode::Unimplemented => "Unimplemented",
            ErrorCode::OperationTimeout => "OperationTimeout",
            ErrorCode::BadArguments => "BadArguments",
            ErrorCode::UnknownSession => "Unknown session",
            ErrorCode::NewConfigNoQuorum => "No quorum of new config is connected",
            ErrorCode::ReconfigInProgress => "Another reconfiguration is in progress",
            ErrorCode::ApiError => "APIError",
            ErrorCode::NoNode => "NoNode",
            ErrorCode::NoAuth => "NoAuth",
            ErrorCode::BadVersion => "BadVersion",
            ErrorCode::NoChildrenForEphemerals => "NoChildrenForEphemerals",
            ErrorCode::NodeExists => "NodeExists",
            ErrorCode::NotEmpty => "Directory not empty",
            ErrorCode::SessionExpired => "Session expired",
            ErrorCode::InvalidCallback => "Invalid callback",
            ErrorCode::InvalidAcl => "InvalidACL",
            ErrorCode::AuthFailed => "AuthFailed",
            ErrorCode::SessionMoved => "Session moved",
            ErrorCode::NotReadOnly => "Not a read-only call",
            ErrorCode::EphemeralOnLocalSession => "Ephemeral node on local session",
            ErrorCode::NoWatcher => "No such watcher",
            ErrorCode::RequestTimeout => "Request timeout",
            ErrorCode::ReconfigDisabled => "Reconfig is disabled",
            ErrorCode::SessionClosedRequireSaslAuth => {
                "Session closed because client failed to authenticate"
            }
            ErrorCode::QuotaExceeded => "Quota has exceeded",
            ErrorCode::Throttled => "Op throttled due to high load",
        }
    }
}

/// An error a client can cause: ZooKeeper's code and the path (or other subject) it concerns.
///
/// Displays as ZooKeeper's `KeeperException` message does: `NoNode for /a/b`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("KeeperErrorCode = {} for {path}", code.message())]
pub struct ZkError {
    /// ZooKeeper's error code.
    pub code: ErrorCode,
    /// The path the error concerns (or, for session errors, the session in hex).
    pub path: String,
}

impl ZkError {
    /// An error with `code` about `path`.
    pub fn new(code: ErrorCode, path: impl Into<String>) -> ZkError {
        ZkError {
            code,
            path: path.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_zookeeper_number() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ErrorCode::from_code(-9999), None);
    }

    #[test]
    fn message_names_the_path() {
        let e = ZkError::new(ErrorCode::NoNode, "/a/b");
        assert_eq!(e.to_string(), "KeeperErrorCode = NoNode for /a/b");
    }
}
