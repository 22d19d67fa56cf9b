//! The ZooKeeper data tree as a pure state machine (issue [tree]).
//!
//! Vocabulary shared with the wire protocol lives in small files: [`path`] rules,
//! [`Stat`], [`Acl`]s, [`CreateMode`]s, [`Request`]s and log [`Entry`]s, [`Response`]s,
//! [`ZkError`]s and watch [`events`](WatchedEvent).

mod acl;
mod error;
mod event;
mod limits;
mod mode;
pub mod path;
mod request;
mod response;
mod session;
mod stat;

pub use acl::{
    Acl, AclList, Id, InvalidAcl, Perms, SCHEME_AUTH, SCHEME_DIGEST, SCHEME_WORLD, SCHEME_X509,
    check_acl, fixup_acl, generate_digest, redact_digests,
};
pub use error::{ErrorCode, ZkError};
pub use event::{AddWatchMode, EventType, Notification, WatchKind, WatchedEvent, WatcherType};
pub use limits::Limits;
pub use mode::{CONTAINER_EPHEMERAL_OWNER, CreateMode, EphemeralType, TTL_MS_MAX};
pub use request::{Command, CreateRequest, Entry, MultiOp, ReadOp, Request};
pub use response::{MultiOpResult, ReadOpResult, Response};
pub use session::{Session, SessionId, SessionSecret};
pub use stat::Stat;
