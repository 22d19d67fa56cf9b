//! `DataTree::check_invariants`: every structural fact the tree relies on, checked in
//! full. Debug builds run it after every applied entry; tests and the simulator call it
//! directly. O(n): it is a proof, not a fast path.

use std::collections::BTreeSet;

use super::data_tree::DataTree;
use super::mode::EphemeralType;
use super::path::{parent_of, validate_path};

impl DataTree {
    /// Checks: the root exists; every other node has a live parent and a child-index key,
    /// and every key a node; numChildren is right and nodes sit under their own path; ephemeral owners are
    /// live sessions that list the node, and list nothing else; ephemerals have no
    /// children; the container and TTL sets hold exactly those nodes; zxids are in order;
    /// the O(1) data-byte and ephemeral counts are exact.
    pub fn check_invariants(&self) -> Result<(), String> {
        if !self.nodes.contains_key("/") {
            return Err("no root".into());
        }
        if self.children.len() + 1 != self.nodes.len() {
            return Err(format!(
                "{} child keys for {} nodes",
                self.children.len(),
                self.nodes.len()
            ));
        }
        for key in self.children.iter() {
            let path = &*key.0;
            let node = self
                .nodes
                .get(path)
                .ok_or_else(|| format!("child key {path} has no node"))?;
            validate_path(path).map_err(|r| format!("stored bad path: {r}"))?;
            let parent = parent_of(path).ok_or_else(|| format!("{path} has no parent"))?;
            let p = self
                .nodes
                .get(parent)
                .ok_or_else(|| format!("{path}: parent {parent} missing"))?;
            if EphemeralType::of(p.stat.ephemeral_owner) == EphemeralType::Normal {
                return Err(format!("{path}: child of ephemeral {parent}"));
            }
            self.check_node_types(path, node.stat.ephemeral_owner)?;
        }
        for path in self.paths() {
            let Some(node) = self.nodes.get(path.as_str()) else {
                continue;
            };
            let count = self.child_keys(&path).count();
            let st = &node.stat;
            if st.num_children as usize != count {
                return Err(format!(
                    "{path}: numChildren {} but {count} children",
                    st.num_children
                ));
            }
            if *node.path != *path {
                return Err(format!(
                    "{path}: node stored under the wrong path {}",
                    node.path
                ));
            }
            if st.mzxid < st.czxid
                || st.pzxid < st.czxid
                || st.mzxid > self.last_zxid
                || st.pzxid > self.last_zxid
            {
                return Err(format!("{path}: zxids out of order {st:?}"));
            }
        }
        self.check_counts()?;
        self.check_sessions()
    }

    /// The O(1) counts (data bytes, ephemerals) equal a full count.
    fn check_counts(&self) -> Result<(), String> {
        let (mut bytes, mut ephemerals) = (0u64, 0usize);
        for node in self.nodes.iter() {
            bytes += node.data.len() as u64;
            if EphemeralType::of(node.stat.ephemeral_owner) == EphemeralType::Normal {
                ephemerals += 1;
            }
        }
        if bytes != self.data_bytes() || ephemerals != self.ephemeral_count() {
            return Err(format!(
                "counts out of step: {} data bytes and {} ephemerals counted, {bytes} and {ephemerals} held",
                self.data_bytes(),
                self.ephemeral_count()
            ));
        }
        Ok(())
    }

    /// The type indexes agree with the node's `ephemeralOwner`.
    fn check_node_types(&self, path: &str, owner: i64) -> Result<(), String> {
        let in_containers = self.containers.contains(path);
        let in_ttls = self.ttls.contains(path);
        let kind = EphemeralType::of(owner);
        if in_containers != (kind == EphemeralType::Container)
            || in_ttls != (kind == EphemeralType::Ttl)
        {
            return Err(format!(
                "{path}: container/TTL index disagrees with owner {owner:#x}"
            ));
        }
        if kind == EphemeralType::Normal {
            let listed = self
                .sessions
                .get(&owner)
                .is_some_and(|s| s.ephemerals.contains(path));
            if !listed {
                return Err(format!(
                    "{path}: owner 0x{owner:x} is not a live session listing it"
                ));
            }
        }
        Ok(())
    }

    /// Sessions list only their own live ephemerals; the type sets hold only live nodes.
    fn check_sessions(&self) -> Result<(), String> {
        for s in self.sessions.values() {
            for path in s.ephemerals.iter() {
                let owner = self
                    .nodes
                    .get(path.as_str())
                    .map(|n| n.stat.ephemeral_owner);
                if owner != Some(s.id) {
                    return Err(format!(
                        "session 0x{:x} lists {path}, owned by {owner:?}",
                        s.id
                    ));
                }
            }
        }
        let typed: BTreeSet<&str> = self
            .containers
            .iter()
            .chain(self.ttls.iter())
            .map(|p| &**p)
            .collect();
        match typed.into_iter().find(|p| !self.nodes.contains_key(p)) {
            Some(p) => Err(format!("container/TTL index lists missing {p}")),
            None => Ok(()),
        }
    }
}
