//! The ZooKeeper data tree as a pure, deterministic state machine (issue \[tree\]).
//!
//! ```text
//!  wire / log                    apply (replica.rs)                      out
//!  ──────────                    ──────────────────                      ───
//!  Entry{zxid,time,Command} ──►  Tree::apply ──► DataTree write ops ──►  Result<Response, ZkError>
//!                                     │          (write_ops, session_ops)
//!                                     └────────► WatchIndex::fire  ──►  Vec<Notification>
//!  Request (read) ───────────►  DataTree::read on a view (O(1) clone) ─► Response + WatchRegistration
//!  DataTree ◄──── snapshot / restore (postcard + CRC32C) ────► bytes
//! ```
//!
//! - [`DataTree`] is the replicated state: znodes in persistent maps (copy-on-write
//!   shard tables by path, `imbl` for ordered indexes), so a clone is O(1) and serves
//!   as a read view or snapshot source while apply continues.
//! - [`Tree`] adds this node's [`WatchIndex`] (watches are node-local, as in ZooKeeper)
//!   and is where committed entries are applied.
//! - Vocabulary shared with the wire protocol lives in small files: [`path`] rules,
//!   [`Stat`], [`Acl`]s, [`CreateMode`]s, [`Request`]s and log [`Entry`]s,
//!   [`Response`]s, [`ZkError`]s and watch events.
//!
//! How a replica drives it:
//! 1. Apply every committed [`Entry`] in zxid order with [`Tree::apply`]; deliver the
//!    [`Notification`]s it returns before any reply that reflects a later zxid.
//! 2. After each applied batch, publish [`Tree::view`] (an O(1) clone). Sessions serve
//!    reads from it with [`DataTree::read`] (or zero-copy [`DataTree::get_data_ref`]) and
//!    hand any [`WatchRegistration`] back to the replica, which registers it with
//!    [`Tree::register_watch`] in the same order as it applies entries.
//! 3. The leader proposes housekeeping from the pure candidate lists:
//!    [`DataTree::expired_sessions`], [`DataTree::containers_to_reap`] and
//!    [`DataTree::ttl_to_reap`] at its current time, plus batched
//!    [`Command::TouchSessions`] for sessions it heard from. Apply re-checks each.
//! 4. Snapshot a view with [`DataTree::snapshot`]; recover with [`DataTree::restore`]
//!    and [`Tree::from_data`] (clients then re-register their watches).
//!
//! Semantics follow ZooKeeper 3.9 (PrepRequestProcessor, DataTree, WatchManager): the
//! order of checks, which error wins, how each Stat field moves and which watches fire.
//! Deliberate differences: children are returned sorted; the `ip` ACL scheme is refused
//! (InvalidACL); there are no `/zookeeper` system nodes.

mod acl;
mod data_tree;
mod error;
mod event;
mod invariants;
mod limits;
mod mode;
mod node;
mod nodes;
pub mod path;
mod read_ops;
mod replica;
mod request;
mod response;
mod session;
mod session_ops;
mod shard_table;
mod snapshot;
mod stat;
mod watch;
mod watch_restore;
mod write_ops;

pub use acl::{
    Acl, AclList, Id, InvalidAcl, Perms, SCHEME_AUTH, SCHEME_DIGEST, SCHEME_WORLD, SCHEME_X509,
    check_acl, fixup_acl, generate_digest, redact_digests,
};
pub use data_tree::DataTree;
pub use error::{ErrorCode, ZkError};
pub use event::{
    AddWatchMode, EventType, Fired, Firing, Notification, WatchKind, WatchedEvent, WatcherType,
};
pub use limits::Limits;
pub use mode::{CONTAINER_EPHEMERAL_OWNER, CreateMode, EphemeralType, TTL_MS_MAX};
pub use read_ops::{ReadOutcome, WatchRegistration};
pub use replica::{Applied, Tree};
pub use request::{Command, CreateRequest, Entry, MultiOp, ReadOp, Request};
pub use response::{MultiOpResult, ReadOpResult, Response};
pub use session::{Session, SessionId, SessionSecret};
pub use snapshot::SnapshotError;
pub use stat::Stat;
pub use watch::WatchIndex;
pub use watch_restore::{HISTORY_CHANGES_DEFAULT, Restored, ResyncNeeded, WatchesToRestore};
