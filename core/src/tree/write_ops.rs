//! The writes: create, delete, setData, setACL, check and multi, checked exactly in
//! ZooKeeper's order (PrepRequestProcessor) so the same request fails with the same code.
//!
//! Each op validates everything before it changes anything, so a failed op leaves the
//! tree untouched; multi runs its ops on an O(1) clone and keeps it only if all succeed.

use super::acl::AclList;
use super::acl::{Id, Perms, check_acl, fixup_acl};
use super::data_tree::{DataTree, err};
use super::error::{ErrorCode, ZkError};
use super::event::EventType;
use super::mode::{CONTAINER_EPHEMERAL_OWNER, EphemeralType};
use super::node::{StatCore, ZPath, Znode};
use super::path::{parent_of, validate_path};
use super::request::{CreateRequest, MultiOp};
use super::response::{MultiOpResult, Response};
use super::session::SessionId;
use super::stat::Stat;

/// Who is asking: the session and the identities its ACL checks use.
pub(crate) struct Caller<'a> {
    /// The calling session.
    pub(crate) session: SessionId,
    /// Its identities.
    pub(crate) identities: &'a [Id],
}

/// When: the entry's zxid and the leader's time.
#[derive(Clone, Copy)]
pub(crate) struct Stamp {
    /// The entry's zxid.
    pub(crate) zxid: i64,
    /// Leader time in ms.
    pub(crate) time_ms: i64,
}

/// A change apply made, for the watch index to turn into notifications.
#[derive(Clone, Debug)]
pub(crate) enum Change {
    /// A node event, with the ACL that decides who may see it.
    Node {
        /// What happened.
        event_type: EventType,
        /// Where (the parent, for NodeChildrenChanged).
        path: ZPath,
        /// ACL of that node; watchers without READ on it are not told.
        acl: AclList,
    },
    /// A session ended; its watches go.
    SessionClosed(SessionId),
}

/// ZooKeeper's `checkAndIncVersion`: -1 matches anything; the next version skips -1.
fn next_version(current: i32, expected: i32, path: &str) -> Result<i32, ZkError> {
    if expected != -1 && expected != current {
        return Err(err(ErrorCode::BadVersion, path));
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

impl DataTree {
    /// BadArguments unless `path` is a valid path within the length limit.
    pub(crate) fn check_path(&self, path: &str) -> Result<(), ZkError> {
        if path.len() > self.limits.path_bytes_max || validate_path(path).is_err() {
            return Err(err(ErrorCode::BadArguments, path));
        }
        Ok(())
    }

    /// BadArguments if `data` is over the limit.
    fn check_data(&self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        if data.len() > self.limits.data_bytes_max {
            return Err(err(ErrorCode::BadArguments, path));
        }
        Ok(())
    }

    /// fixupACL plus the entry limit; InvalidACL names the path.
    fn fixup(
        &mut self,
        path: &str,
        acl: &[super::acl::Acl],
        ids: &[Id],
    ) -> Result<AclList, ZkError> {
        if acl.len() > self.limits.acl_entries_max {
            return Err(err(ErrorCode::InvalidAcl, path));
        }
        // The list stored last has been through fixup already (no duplicates, no `auth`,
        // valid ids), so the same list again needs no second pass or allocation.
        if acl == &self.last_acl[..] {
            return Ok(self.last_acl.clone());
        }
        let fixed = fixup_acl(acl, ids).map_err(|_| err(ErrorCode::InvalidAcl, path))?;
        Ok(self.intern_acl(fixed))
    }

    /// The node at `path` with `perms` checked: NoNode, then NoAuth.
    fn node_with(&self, path: &str, perms: Perms, ids: &[Id]) -> Result<&Znode, ZkError> {
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| err(ErrorCode::NoNode, path))?;
        if !check_acl(&node.acl, perms, ids) {
            return Err(err(ErrorCode::NoAuth, path));
        }
        Ok(node)
    }

    /// ZooKeeper's create (create2/createContainer/createTTL): returns the path and stat.
    pub(crate) fn create(
        &mut self,
        caller: &Caller<'_>,
        at: Stamp,
        req: &CreateRequest,
        changes: &mut Vec<Change>,
    ) -> Result<(String, Stat), ZkError> {
        let path = req.path.as_str();
        if req.mode.is_sequential() {
            // The client validates a sequential prefix with a digit appended, so `/a/` is
            // a valid prefix for `/a/0000000001`.
            self.check_path(&format!("{path}1"))
                .map_err(|_| err(ErrorCode::BadArguments, path))?;
        } else {
            self.check_path(path)?;
        }
        let owner = self.owner_for(caller, req)?;
        self.check_data(path, &req.data)?;
        let acl = self.fixup(path, &req.acl, caller.identities)?;
        let slash = path.rfind('/').unwrap_or(0);
        let parent_path = if slash == 0 { "/" } else { &path[..slash] };
        // Errors about the parent name the requested path, as a ZooKeeper client reports them.
        let parent = self
            .node_with(parent_path, Perms::CREATE, caller.identities)
            .map_err(|e| err(e.code, path))?;
        let (parent_key, parent_cversion, parent_owner, parent_acl) = (
            parent.path.clone(),
            parent.stat.cversion,
            parent.stat.ephemeral_owner,
            parent.acl.clone(),
        );
        let full = if req.mode.is_sequential() {
            format!("{path}{parent_cversion:010}")
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(full.as_str()) {
            return Err(err(ErrorCode::NodeExists, &full));
        }
        if EphemeralType::of(parent_owner) == EphemeralType::Normal {
            return Err(err(ErrorCode::NoChildrenForEphemerals, &full));
        }
        let key = ZPath::new(&full);
        let node = Znode {
            path: key.clone(),
            data: Box::from(&req.data[..]),
            acl: acl.clone(),
            stat: StatCore::created(at.zxid, at.time_ms, owner),
        };
        let stat = node.stat();
        self.insert_node(node, at.zxid);
        changes.push(Change::Node {
            event_type: EventType::NodeCreated,
            path: key,
            acl,
        });
        changes.push(Change::Node {
            event_type: EventType::NodeChildrenChanged,
            path: parent_key,
            acl: parent_acl,
        });
        Ok((full, stat))
    }

    /// The `ephemeralOwner` a create will record, after ZooKeeper's TTL rules.
    fn owner_for(&self, caller: &Caller<'_>, req: &CreateRequest) -> Result<i64, ZkError> {
        let bad = || err(ErrorCode::BadArguments, &req.path);
        match (req.mode.is_ttl(), req.ttl_ms) {
            (true, Some(ttl)) => EphemeralType::ttl_owner(ttl).ok_or_else(bad),
            (true, None) | (false, Some(_)) => Err(bad()),
            (false, None) if req.mode.is_container() => Ok(CONTAINER_EPHEMERAL_OWNER),
            (false, None) if req.mode.is_ephemeral() => Ok(caller.session),
            (false, None) => Ok(0),
        }
    }

    /// ZooKeeper's delete: DELETE on the parent, version, no children.
    pub(crate) fn delete(
        &mut self,
        caller: &Caller<'_>,
        at: Stamp,
        path: &str,
        version: i32,
        changes: &mut Vec<Change>,
    ) -> Result<(), ZkError> {
        self.check_path(path)?;
        let parent_path = parent_of(path).ok_or_else(|| err(ErrorCode::BadArguments, path))?;
        self.node_with(parent_path, Perms::DELETE, caller.identities)
            .map_err(|e| err(e.code, path))?;
        let node = self
            .nodes
            .get(path)
            .ok_or_else(|| err(ErrorCode::NoNode, path))?;
        next_version(node.stat.version, version, path)?;
        if node.stat.num_children > 0 {
            return Err(err(ErrorCode::NotEmpty, path));
        }
        self.delete_unchecked(path, at.zxid, changes);
        Ok(())
    }

    /// Deletes a childless node and records its events; the caller has checked the rules.
    pub(crate) fn delete_unchecked(&mut self, path: &str, zxid: i64, changes: &mut Vec<Change>) {
        if let Some(removed) = self.remove_node(path, zxid) {
            let (node, parent, parent_acl) = removed;
            changes.push(Change::Node {
                event_type: EventType::NodeDeleted,
                path: node.path,
                acl: node.acl,
            });
            changes.push(Change::Node {
                event_type: EventType::NodeChildrenChanged,
                path: parent,
                acl: parent_acl,
            });
        }
    }

    /// ZooKeeper's setData: WRITE, version; bumps version, mzxid, mtime.
    pub(crate) fn set_data(
        &mut self,
        caller: &Caller<'_>,
        at: Stamp,
        path: &str,
        data: &[u8],
        version: i32,
        changes: &mut Vec<Change>,
    ) -> Result<Stat, ZkError> {
        self.check_path(path)?;
        self.check_data(path, data)?;
        let node = self.node_with(path, Perms::WRITE, caller.identities)?;
        let new_version = next_version(node.stat.version, version, path)?;
        let (stat, acl, key) = self
            .nodes
            .replace_data(path, Box::from(data), |node| {
                node.stat.version = new_version;
                node.stat.mzxid = at.zxid;
                node.stat.mtime = at.time_ms;
                (node.stat(), node.acl.clone(), node.path.clone())
            })
            .ok_or_else(|| err(ErrorCode::NoNode, path))?;
        changes.push(Change::Node {
            event_type: EventType::NodeDataChanged,
            path: key,
            acl,
        });
        Ok(stat)
    }

    /// ZooKeeper's setACL: valid ACL, ADMIN, aversion; no event.
    pub(crate) fn set_acl(
        &mut self,
        caller: &Caller<'_>,
        path: &str,
        acl: &[super::acl::Acl],
        aversion: i32,
    ) -> Result<Stat, ZkError> {
        self.check_path(path)?;
        let acl = self.fixup(path, acl, caller.identities)?;
        let node = self.node_with(path, Perms::ADMIN, caller.identities)?;
        let new_aversion = next_version(node.stat.aversion, aversion, path)?;
        self.nodes
            .update(path, |node| {
                node.acl = acl;
                node.stat.aversion = new_aversion;
                node.stat()
            })
            .ok_or_else(|| err(ErrorCode::NoNode, path))
    }

    /// ZooKeeper's check op: READ and version.
    fn check_version(&self, caller: &Caller<'_>, path: &str, version: i32) -> Result<(), ZkError> {
        self.check_path(path)?;
        let node = self.node_with(path, Perms::READ, caller.identities)?;
        next_version(node.stat.version, version, path).map(|_| ())
    }

    /// One op of a multi.
    fn multi_op(
        &mut self,
        caller: &Caller<'_>,
        at: Stamp,
        op: &MultiOp,
        changes: &mut Vec<Change>,
    ) -> Result<MultiOpResult, ZkError> {
        Ok(match op {
            MultiOp::Create(req) => {
                let (path, stat) = self.create(caller, at, req, changes)?;
                MultiOpResult::Create { path, stat }
            }
            MultiOp::Delete { path, version } => {
                self.delete(caller, at, path, *version, changes)?;
                MultiOpResult::Delete
            }
            MultiOp::SetData {
                path,
                data,
                version,
            } => MultiOpResult::SetData {
                stat: self.set_data(caller, at, path, data, *version, changes)?,
            },
            MultiOp::Check { path, version } => {
                self.check_version(caller, path, *version)?;
                MultiOpResult::Check
            }
        })
    }

    /// ZooKeeper's multi: all ops or none. On failure the results are `Ok` for the ops
    /// before the failing one, its error, then `RuntimeInconsistency` (DataTree.processTxn).
    pub(crate) fn multi(
        &mut self,
        caller: &Caller<'_>,
        at: Stamp,
        ops: &[MultiOp],
        changes: &mut Vec<Change>,
    ) -> Result<Response, ZkError> {
        if ops.len() > self.limits.multi_ops_max {
            return Err(err(ErrorCode::BadArguments, "multi"));
        }
        let mut scratch = self.clone();
        let mut scratch_changes = Vec::new();
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match scratch.multi_op(caller, at, op, &mut scratch_changes) {
                Ok(r) => results.push(r),
                Err(e) => {
                    let mut failed = vec![MultiOpResult::Error(ErrorCode::Ok); i];
                    failed.push(MultiOpResult::Error(e.code));
                    failed.resize(
                        ops.len(),
                        MultiOpResult::Error(ErrorCode::RuntimeInconsistency),
                    );
                    return Ok(Response::Multi { results: failed });
                }
            }
        }
        *self = scratch;
        changes.extend(scratch_changes);
        Ok(Response::Multi { results })
    }
}
