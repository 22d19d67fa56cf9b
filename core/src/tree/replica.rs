//! [`Tree`]: the data tree plus this node's watch index, and `apply`, the one entry point
//! for committed log entries.
//!
//! ```text
//!   Entry { zxid, time_ms, command }
//!        │
//!        ▼
//!   DataTree ops (checks, then changes) ──► Vec<Change> ──► WatchIndex::fire
//!        │                                                      │
//!        ▼                                                      ▼
//!   Result<Response, ZkError> (the client's answer)     Vec<Notification> (in order)
//! ```
//!
//! `apply` is a pure function of (tree, entry): the leader's time and the zxid come in
//! the entry, nothing else is consulted, so every replica ends in the same state. Debug
//! builds check every invariant after every entry.

use std::sync::Arc;

use super::data_tree::{DataTree, err};
use super::error::{ErrorCode, ZkError};
use super::event::{Fired, Notification};
use super::limits::Limits;
use super::read_ops::WatchRegistration;
use super::request::{Command, Entry, Request};
use super::response::Response;
use super::session::SessionId;
use super::watch::WatchIndex;
use super::watch_restore::{self, ChangeHistory, Restored, WatchesToRestore};
use super::write_ops::{Caller, Change, Stamp};

/// What applying one entry produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The answer for the client that sent the entry (or the leader, for housekeeping).
    pub result: Result<Response, ZkError>,
    /// Watch events to deliver, grouped by watched znode, and the watches it ended.
    pub fired: Fired,
}

impl Applied {
    /// The watch events one by one, in delivery order.
    pub fn notifications(&self) -> Vec<Notification> {
        self.fired.notifications()
    }
}

/// The replicated data tree and this node's watches.
#[derive(Clone, Debug)]
pub struct Tree {
    data: DataTree,
    watches: WatchIndex,
    history: ChangeHistory,
}

impl Tree {
    /// An empty tree with `limits`.
    pub fn new(limits: Limits) -> Tree {
        Tree {
            data: DataTree::new(limits),
            watches: WatchIndex::new(),
            history: ChangeHistory::new(0),
        }
    }

    /// A tree over restored data, with no watches (clients re-register theirs).
    pub fn from_data(data: DataTree) -> Tree {
        let floor = data.last_zxid();
        Tree {
            data,
            watches: WatchIndex::new(),
            history: ChangeHistory::new(floor),
        }
    }

    /// The replicated state.
    pub fn data(&self) -> &DataTree {
        &self.data
    }

    /// The watch index.
    pub fn watches(&self) -> &WatchIndex {
        &self.watches
    }

    /// A read view: an O(1) clone of the data that later applies do not change.
    pub fn view(&self) -> DataTree {
        self.data.clone()
    }

    /// Applies one committed entry.
    ///
    /// Entries must come in increasing zxid order; one at or below the last applied zxid
    /// (a replay) changes nothing and answers `SystemError`.
    pub fn apply(&mut self, entry: &Entry) -> Applied {
        if entry.zxid <= self.data.last_zxid {
            let subject = format!("zxid {} (last applied {})", entry.zxid, self.data.last_zxid);
            let result = Err(err(ErrorCode::SystemError, &subject));
            return Applied {
                result,
                fired: Fired::default(),
            };
        }
        let at = Stamp {
            zxid: entry.zxid,
            time_ms: entry.time_ms,
        };
        let mut changes = Vec::new();
        let result = self.apply_command(at, &entry.command, &mut changes);
        self.data.last_zxid = entry.zxid;
        let fired = self.watches.fire(&changes, entry.zxid, &self.data);
        self.history.record(entry.zxid, changes);
        #[cfg(debug_assertions)]
        if let Err(broken) = self.check_invariants() {
            panic!("tree invariant broken after zxid {}: {broken}", entry.zxid);
        }
        Applied { result, fired }
    }

    /// Serves a request outside the log (a read, addWatch, removeWatches or sync) for
    /// `session`, registering any watch it leaves.
    pub fn read(&mut self, session: SessionId, request: &Request) -> Result<Response, ZkError> {
        if let Request::RemoveWatches { path, watcher_type } = request {
            self.data.check_path(path)?;
            if self.data.session(session).is_none() {
                return Err(err(
                    ErrorCode::SessionExpired,
                    &format!("session 0x{session:x}"),
                ));
            }
            return self
                .watches
                .remove(session, path, *watcher_type)
                .map(|()| Response::RemoveWatches);
        }
        let outcome = self.data.read(session, request);
        if let Some(reg) = outcome.watch {
            self.register_watch(reg);
        }
        outcome.result
    }

    /// Registers a watch a read on a view asked for; ignored if the session is gone.
    pub fn register_watch(&mut self, reg: WatchRegistration) {
        if self.data.session(reg.session).is_some() {
            self.watches.add(reg.session, &reg.path, reg.kind);
        }
    }

    /// Restores a reconnecting session's watches (ZooKeeper's SetWatches): one-shot
    /// watches whose znode changed after `watches.relative_zxid` fire now, persistent
    /// ones replay the events they missed from the change history.
    pub fn restore_watches(
        &mut self,
        session: SessionId,
        watches: &WatchesToRestore,
    ) -> Result<Restored, ZkError> {
        watch_restore::restore(
            &mut self.watches,
            &self.history,
            &self.data,
            session,
            watches,
        )
    }

    /// Drops every watch of `session` on this node (its connection ended);
    /// returns the paths it watched.
    pub fn remove_session_watches(&mut self, session: SessionId) -> Vec<String> {
        self.watches.remove_session(session)
    }

    /// Keeps the changes of at most `changes_max` recent znode changes for replay.
    pub fn set_history_limit(&mut self, changes_max: usize) {
        self.history.set_limit(changes_max);
    }

    /// Number of znode changes kept for replay.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Checks the data tree's and the watch index's invariants.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.data.check_invariants()?;
        self.watches.check_invariants(&self.data)
    }

    /// Dispatches one command.
    fn apply_command(
        &mut self,
        at: Stamp,
        command: &Command,
        changes: &mut Vec<Change>,
    ) -> Result<Response, ZkError> {
        match command {
            Command::Client { session, request } => {
                self.apply_client(at, *session, request, changes)
            }
            Command::CreateSession {
                timeout_ms,
                secret,
                identities,
            } => self
                .data
                .create_session(at, *timeout_ms, *secret, identities),
            Command::TouchSessions { sessions } => Ok(self.data.touch_sessions(at, sessions)),
            Command::ExpireSessions { sessions } => {
                Ok(self.data.expire_sessions(at, sessions, changes))
            }
            Command::ReapContainers { paths } => Ok(self.data.reap_containers(at, paths, changes)),
            Command::ReapTtl { paths } => Ok(self.data.reap_ttl(at, paths, changes)),
            Command::Noop => Ok(Response::Noop),
        }
    }

    /// A client's request: the session must be live; it counts as heard from.
    fn apply_client(
        &mut self,
        at: Stamp,
        session: SessionId,
        request: &Request,
        changes: &mut Vec<Change>,
    ) -> Result<Response, ZkError> {
        let identities = match self.data.sessions.get_mut(&session) {
            Some(s) => {
                s.last_seen_ms = s.last_seen_ms.max(at.time_ms);
                Arc::clone(&s.identities)
            }
            None => {
                return Err(err(
                    ErrorCode::SessionExpired,
                    &format!("session 0x{session:x}"),
                ));
            }
        };
        let caller = Caller {
            session,
            identities: &identities,
        };
        let data = &mut self.data;
        match request {
            Request::Create(req) => data
                .create(&caller, at, req, changes)
                .map(|(path, stat)| Response::Create { path, stat }),
            Request::Delete { path, version } => data
                .delete(&caller, at, path, *version, changes)
                .map(|()| Response::Delete),
            Request::SetData {
                path,
                data: bytes,
                version,
            } => data
                .set_data(&caller, at, path, bytes, *version, changes)
                .map(|stat| Response::SetData { stat }),
            Request::SetAcl {
                path,
                acl,
                aversion,
            } => data
                .set_acl(&caller, path, acl, *aversion)
                .map(|stat| Response::SetAcl { stat }),
            Request::Multi(ops) => data.multi(&caller, at, ops, changes),
            Request::AddAuth { scheme, auth } => data.add_auth(session, scheme, auth),
            Request::Close => {
                data.close_session(session, at.zxid, changes);
                Ok(Response::Close)
            }
            read => self.read(session, read),
        }
    }
}
