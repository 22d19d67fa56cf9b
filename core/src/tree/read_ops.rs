//! The reads, answered from any view (a clone) of the tree without changing it.
//!
//! A read that leaves a watch returns a [`WatchRegistration`]; the owner of the watch
//! index registers it in the same order as it applies entries, as ZooKeeper's final
//! request processor does, so no event between the read and the registration is lost.

use serde::{Deserialize, Serialize};

use super::acl::{Id, Perms, check_acl, redact_digests};
use super::data_tree::{DataTree, err};
use super::error::{ErrorCode, ZkError};
use super::event::{AddWatchMode, WatchKind};
use super::request::{ReadOp, Request};
use super::response::{ReadOpResult, Response};
use super::session::SessionId;

/// A watch a read asks to leave, for [`Tree::register_watch`](super::Tree::register_watch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRegistration {
    /// The watching session.
    pub session: SessionId,
    /// The watched path.
    pub path: String,
    /// The kind of watch.
    pub kind: WatchKind,
}

/// What a read answers, and the watch it leaves, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The answer.
    pub result: Result<Response, ZkError>,
    /// The watch to register.
    pub watch: Option<WatchRegistration>,
}

impl DataTree {
    /// Answers a read-only request for `session` (Exists, GetData, GetChildren,
    /// GetAllChildrenNumber, GetEphemerals, GetAcl, MultiRead, Sync, AddWatch).
    /// Anything else gets `ApiError`: writes go through the log.
    pub fn read(&self, session: SessionId, request: &Request) -> ReadOutcome {
        let Some(s) = self.sessions.get(&session) else {
            let e = err(ErrorCode::SessionExpired, &format!("session 0x{session:x}"));
            return ReadOutcome {
                result: Err(e),
                watch: None,
            };
        };
        let ids = &s.identities[..];
        let (result, watch) = match request {
            Request::Exists { path, watch } => {
                let result = self.exists(path);
                // exists leaves a data watch on a node that exists, an exist watch on
                // one that does not; both fire on the path's data events.
                let kind = match &result {
                    Ok(Response::Exists { stat: Some(_) }) => WatchKind::Data,
                    _ => WatchKind::Exist,
                };
                (result, watch.then_some(kind))
            }
            Request::GetData { path, watch } => {
                let result = self.get_data(path, ids);
                let result = result.map(|(d, stat)| Response::GetData {
                    data: d.to_vec(),
                    stat,
                });
                (result, watch.then_some(WatchKind::Data))
            }
            Request::GetChildren {
                path,
                watch,
                with_stat,
            } => {
                let result =
                    self.get_children(path, ids)
                        .map(|(children, stat)| Response::GetChildren {
                            children,
                            stat: with_stat.then_some(stat),
                        });
                (result, watch.then_some(WatchKind::Child))
            }
            Request::AddWatch { path, mode } => {
                let kind = match mode {
                    AddWatchMode::Persistent => WatchKind::Persistent,
                    AddWatchMode::PersistentRecursive => WatchKind::PersistentRecursive,
                };
                (
                    self.check_path(path).map(|()| Response::AddWatch),
                    Some(kind),
                )
            }
            other => (self.read_plain(session, ids, other), None),
        };
        // A watch is left only by a read that succeeded, as in ZooKeeper.
        let watch = match (watch, request_path(request)) {
            (Some(kind), Some(path)) if result.is_ok() => Some(WatchRegistration {
                session,
                path: path.to_string(),
                kind,
            }),
            _ => None,
        };
        ReadOutcome { result, watch }
    }

    /// The reads that never leave a watch.
    fn read_plain(
        &self,
        session: SessionId,
        ids: &[Id],
        request: &Request,
    ) -> Result<Response, ZkError> {
        match request {
            Request::GetAllChildrenNumber { path } => {
                self.readable(path, Perms::READ, ids)?;
                let count = i32::try_from(self.descendant_count(path)).unwrap_or(i32::MAX);
                Ok(Response::AllChildrenNumber { count })
            }
            Request::GetEphemerals { prefix } => {
                let all = prefix.is_empty() || prefix == "/";
                if !all {
                    self.check_path(prefix)?;
                }
                let paths = self
                    .sessions
                    .get(&session)
                    .map(|s| {
                        s.ephemerals
                            .iter()
                            .filter(|p| all || p.starts_with(prefix.as_str()))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Response::Ephemerals { paths })
            }
            Request::GetAcl { path } => {
                let node = self.readable(path, Perms::READ | Perms::ADMIN, ids)?;
                let acl = if check_acl(&node.acl, Perms::ADMIN, ids) {
                    node.acl.to_vec()
                } else {
                    redact_digests(&node.acl)
                };
                Ok(Response::GetAcl {
                    acl,
                    stat: node.stat(),
                })
            }
            Request::MultiRead(ops) => {
                if ops.len() > self.limits.multi_ops_max {
                    return Err(err(ErrorCode::BadArguments, "multiRead"));
                }
                let results = ops.iter().map(|op| self.read_op(op, ids)).collect();
                Ok(Response::MultiRead { results })
            }
            Request::Sync { path } => {
                self.check_path(path)?;
                Ok(Response::Sync { path: path.clone() })
            }
            _ => Err(err(ErrorCode::ApiError, "not a read")),
        }
    }

    /// One read of a multiRead; its failure does not affect the others.
    fn read_op(&self, op: &ReadOp, ids: &[Id]) -> ReadOpResult {
        match op {
            ReadOp::GetChildren { path } => match self.get_children(path, ids) {
                Ok((children, _)) => ReadOpResult::GetChildren { children },
                Err(e) => ReadOpResult::Error(e.code),
            },
            ReadOp::GetData { path } => match self.get_data(path, ids) {
                Ok((data, stat)) => ReadOpResult::GetData {
                    data: data.to_vec(),
                    stat,
                },
                Err(e) => ReadOpResult::Error(e.code),
            },
        }
    }

    /// The node at `path` if it exists and the caller holds one of `perms`;
    /// BadArguments for an invalid path. Every stored path is valid, so the
    /// path is only validated when no node is found (the hot read path skips it).
    fn readable(
        &self,
        path: &str,
        perms: Perms,
        ids: &[Id],
    ) -> Result<&super::node::Znode, ZkError> {
        let Some(node) = self.nodes.get(path) else {
            self.check_path(path)?;
            return Err(err(ErrorCode::NoNode, path));
        };
        if !check_acl(&node.acl, perms, ids) {
            return Err(err(ErrorCode::NoAuth, path));
        }
        Ok(node)
    }

    /// exists: no ACL check, as in ZooKeeper.
    fn exists(&self, path: &str) -> Result<Response, ZkError> {
        let stat = self.nodes.get(path).map(super::node::Znode::stat);
        if stat.is_none() {
            self.check_path(path)?;
        }
        Ok(Response::Exists { stat })
    }

    /// getData: READ.
    fn get_data(&self, path: &str, ids: &[Id]) -> Result<(&[u8], super::stat::Stat), ZkError> {
        let node = self.readable(path, Perms::READ, ids)?;
        Ok((&node.data, node.stat()))
    }

    /// getData without a watch and without copying: the data borrowed from this view, for
    /// a server that serializes the reply straight from it. Same checks as
    /// [`Request::GetData`] (SessionExpired, BadArguments, NoNode, NoAuth).
    pub fn get_data_ref(
        &self,
        session: SessionId,
        path: &str,
    ) -> Result<(&[u8], super::stat::Stat), ZkError> {
        let s = self
            .sessions
            .get(&session)
            .ok_or_else(|| err(ErrorCode::SessionExpired, &format!("session 0x{session:x}")))?;
        self.get_data(path, &s.identities)
    }

    /// getChildren: READ; children sorted.
    fn get_children(
        &self,
        path: &str,
        ids: &[Id],
    ) -> Result<(Vec<String>, super::stat::Stat), ZkError> {
        let node = self.readable(path, Perms::READ, ids)?;
        Ok((self.children(path), node.stat()))
    }
}

/// The path of a request that can leave a watch.
fn request_path(request: &Request) -> Option<&str> {
    match request {
        Request::Exists { path, .. }
        | Request::GetData { path, .. }
        | Request::GetChildren { path, .. }
        | Request::AddWatch { path, .. } => Some(path),
        _ => None,
    }
}
