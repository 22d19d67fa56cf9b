//! The replicated state: znodes, the child index, sessions, containers and TTL nodes.
//!
//! Every collection is a persistent map (the copy-on-write shard tables of [`Nodes`] for
//! lookups by path, `imbl` maps for the ordered indexes), so cloning a `DataTree` is O(1)
//! (a few reference counts) and a clone is a consistent read view or snapshot source that
//! apply never waits for. Lookups by path go through the sharded hash map of [`Nodes`]; listing
//! children goes through one ordered index of (parent, name) keys (the paths, inline
//! when short, shared when long), so a node carries no per-node child collection. Nothing iterates the
//! hash map to produce output, so its order never leaks into results.

use std::sync::Arc;

use imbl::{OrdMap, OrdSet};

use super::acl::{Acl, AclList};
use super::error::{ErrorCode, ZkError};
use super::limits::Limits;
use super::mode::EphemeralType;
use super::node::{ChildKey, StatCore, ZPath, Znode};
use super::nodes::Nodes;
use super::path;
use super::session::{Session, SessionId};
use super::stat::Stat;

/// The ZooKeeper data tree and session table; cloning it is O(1) and gives a read view.
#[derive(Clone, Debug)]
pub struct DataTree {
    pub(crate) nodes: Nodes,
    pub(crate) children: OrdSet<ChildKey>,
    pub(crate) sessions: OrdMap<SessionId, Session>,
    pub(crate) containers: OrdSet<ZPath>,
    pub(crate) ttls: OrdSet<ZPath>,
    pub(crate) last_zxid: i64,
    pub(crate) limits: Limits,
    /// The ACL most recently stored, so nodes created with the same list share it.
    pub(crate) last_acl: AclList,
}

impl PartialEq for DataTree {
    fn eq(&self, other: &DataTree) -> bool {
        self.nodes == other.nodes
            && self.children == other.children
            && self.sessions == other.sessions
            && self.containers == other.containers
            && self.ttls == other.ttls
            && self.last_zxid == other.last_zxid
            && self.limits == other.limits
    }
}

impl DataTree {
    /// An empty tree: the root `/` with `world:anyone` ALL, zxid 0.
    pub fn new(limits: Limits) -> DataTree {
        let open: AclList = Arc::new(Acl::open_unsafe());
        let mut nodes = Nodes::default();
        nodes.insert(Znode {
            path: ZPath::new("/"),
            data: Box::from(&[][..]),
            acl: open.clone(),
            stat: StatCore::default(),
        });
        DataTree {
            nodes,
            children: OrdSet::new(),
            sessions: OrdMap::new(),
            containers: OrdSet::new(),
            ttls: OrdSet::new(),
            last_zxid: 0,
            limits,
            last_acl: open,
        }
    }

    /// The zxid of the last entry applied.
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// The limits this tree enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Number of znodes, the root included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Total bytes of znode data, in O(1).
    pub fn data_bytes(&self) -> u64 {
        self.nodes.data_bytes()
    }

    /// Number of session-owned ephemeral znodes, in O(1).
    pub fn ephemeral_count(&self) -> usize {
        self.nodes.ephemerals()
    }

    /// Number of live sessions, in O(1).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Stat of the node at `path`, if it exists.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(Znode::stat)
    }

    /// Data and stat of the node at `path`, without ACL checks (for the server's own use).
    pub fn get(&self, path: &str) -> Option<(&[u8], Stat)> {
        self.nodes.get(path).map(|n| (&n.data[..], n.stat()))
    }

    /// ACL of the node at `path`.
    pub fn acl(&self, path: &str) -> Option<&[Acl]> {
        self.nodes.get(path).map(|n| &n.acl[..])
    }

    /// Names of the children of `parent`, sorted.
    pub fn children(&self, parent: &str) -> Vec<String> {
        self.child_keys(parent)
            .map(|k| k.name().to_string())
            .collect()
    }

    /// The child-index keys of `parent`'s children, in name order.
    pub(crate) fn child_keys<'a>(&'a self, parent: &'a str) -> impl Iterator<Item = &'a ChildKey> {
        self.children
            .range(ChildKey::first_child_of(parent)..)
            .take_while(move |k| k.parent() == parent)
    }

    /// Every path in the tree, parents before children, siblings sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut out = vec!["/".to_string()];
        let mut i = 0;
        while i < out.len() {
            let kids: Vec<String> = self.child_keys(&out[i]).map(|k| k.0.to_string()).collect();
            out.extend(kids);
            i += 1;
        }
        out
    }

    /// The session with `id`, if it is live.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Every live session, by id.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Sessions that have outlived their timeout at leader time `now_ms`: what the leader
    /// proposes in a [`Command::ExpireSessions`](super::Command::ExpireSessions).
    pub fn expired_sessions(&self, now_ms: i64) -> Vec<SessionId> {
        self.sessions
            .values()
            .filter(|s| s.is_expired(now_ms))
            .map(|s| s.id)
            .collect()
    }

    /// Containers that may be deleted at leader time `now_ms` (ZooKeeper's
    /// `ContainerManager.getCandidates`): empty and once used, or never used for longer
    /// than the configured maximum.
    pub fn containers_to_reap(&self, now_ms: i64) -> Vec<String> {
        self.containers
            .iter()
            .filter(|p| self.container_is_reapable(p, now_ms))
            .map(|p| p.to_string())
            .collect()
    }

    /// TTL nodes that are childless and unmodified for longer than their TTL at `now_ms`.
    pub fn ttl_to_reap(&self, now_ms: i64) -> Vec<String> {
        self.ttls
            .iter()
            .filter(|p| self.ttl_is_reapable(p, now_ms))
            .map(|p| p.to_string())
            .collect()
    }

    /// Whether the container at `path` may be deleted now.
    pub(crate) fn container_is_reapable(&self, path: &str, now_ms: i64) -> bool {
        let Some(n) = self.nodes.get(path) else {
            return false;
        };
        if EphemeralType::of(n.stat.ephemeral_owner) != EphemeralType::Container
            || n.stat.num_children != 0
        {
            return false;
        }
        let never_used_max = self.limits.container_never_used_ms_max;
        n.stat.cversion > 0
            || (never_used_max != 0 && now_ms.saturating_sub(n.stat.mtime) > never_used_max)
    }

    /// Whether the TTL node at `path` has expired now.
    pub(crate) fn ttl_is_reapable(&self, path: &str, now_ms: i64) -> bool {
        let Some(n) = self.nodes.get(path) else {
            return false;
        };
        let ttl = EphemeralType::ttl_ms(n.stat.ephemeral_owner);
        EphemeralType::of(n.stat.ephemeral_owner) == EphemeralType::Ttl
            && n.stat.num_children == 0
            && ttl != 0
            && now_ms.saturating_sub(n.stat.mtime) > ttl
    }

    /// Number of all descendants of `path` (getAllChildrenNumber).
    pub(crate) fn descendant_count(&self, path: &str) -> usize {
        let mut stack = vec![path.to_string()];
        let mut count = 0;
        while let Some(p) = stack.pop() {
            for k in self.child_keys(&p) {
                count += 1;
                stack.push(k.0.to_string());
            }
        }
        count
    }

    /// Shares `acl` with the last stored list when equal, so a tree whose nodes mostly
    /// carry one ACL stores it once.
    pub(crate) fn intern_acl(&mut self, acl: Vec<Acl>) -> AclList {
        if *self.last_acl == *acl {
            return self.last_acl.clone();
        }
        let list: AclList = Arc::new(acl);
        self.last_acl = list.clone();
        list
    }

    /// Inserts a new node under an existing parent, updating the parent's cversion, pzxid
    /// and numChildren as ZooKeeper's `createNode` does, and the type indexes.
    pub(crate) fn insert_node(&mut self, node: Znode, zxid: i64) {
        let key = node.path.clone();
        if let Some(parent) = path::parent_of(&key) {
            self.nodes.update(parent, |p| {
                p.stat.cversion = p.stat.cversion.wrapping_add(1);
                p.stat.pzxid = zxid;
                p.stat.num_children += 1;
            });
        }
        match EphemeralType::of(node.stat.ephemeral_owner) {
            EphemeralType::Container => {
                self.containers.insert(key.clone());
            }
            EphemeralType::Ttl => {
                self.ttls.insert(key.clone());
            }
            EphemeralType::Normal => {
                if let Some(s) = self.sessions.get_mut(&node.stat.ephemeral_owner) {
                    s.ephemerals.insert(key.to_string());
                }
            }
            EphemeralType::Void => {}
        }
        self.children.insert(ChildKey(key));
        self.nodes.insert(node);
    }

    /// Removes a childless node, updating the parent's pzxid (only forward, as ZooKeeper's
    /// `deleteNode` does) and numChildren; returns the removed node and the parent's path
    /// and ACL, for the events.
    pub(crate) fn remove_node(&mut self, path: &str, zxid: i64) -> Option<(Znode, ZPath, AclList)> {
        let parent_path = path::parent_of(path)?;
        if !self.nodes.contains_key(parent_path) {
            return None;
        }
        let node = self.nodes.remove(path)?;
        let (parent_key, parent_acl) = self.nodes.update(parent_path, |p| {
            p.stat.num_children -= 1;
            if zxid > p.stat.pzxid {
                p.stat.pzxid = zxid;
            }
            (p.path.clone(), p.acl.clone())
        })?;
        self.children.remove(&ChildKey(node.path.clone()));
        match EphemeralType::of(node.stat.ephemeral_owner) {
            EphemeralType::Container => {
                self.containers.remove(path);
            }
            EphemeralType::Ttl => {
                self.ttls.remove(path);
            }
            EphemeralType::Normal => {
                if let Some(s) = self.sessions.get_mut(&node.stat.ephemeral_owner) {
                    s.ephemerals.remove(path);
                }
            }
            EphemeralType::Void => {}
        }
        Some((node, parent_key, parent_acl))
    }
}

/// `ZkError` with `code` about `path`.
pub(crate) fn err(code: ErrorCode, path: &str) -> ZkError {
    ZkError::new(code, path)
}
