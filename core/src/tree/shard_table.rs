//! One shard of the path map: a small open-addressing hash table whose slots live in
//! one shared allocation, copied on the first write after a clone.
//!
//! Each slot keeps the path's full 64-bit hash beside the node, so a lookup reads the
//! slot's cache line and then the one node whose hash matches: two memory accesses
//! for a hit, where a set behind an `Arc` header pays three. Linear probing with
//! backward-shift deletion keeps the table free of tombstones.

use std::sync::Arc;

use super::node::{NodeRef, Znode};

/// Smallest table that holds anything; a power of two.
const MIN_SLOTS: usize = 8;

/// One slot: the node's path hash and the node, or empty.
#[derive(Clone, Debug, Default)]
struct Slot {
    hash: u64,
    node: Option<NodeRef>,
}

/// A set of nodes keyed by path, looked up with a caller-computed path hash.
///
/// 16 bytes, so that the tables of 32,768 shards above it stay in cache. An
/// empty table holds no allocation, so copying a group of shards after a
/// clone (the first write to it after a read view was taken) touches no
/// reference count for its empty shards, most of them in a sparse tree.
#[derive(Clone, Debug, Default)]
pub(crate) struct ShardTable {
    /// None when empty; otherwise a power-of-two number of slots, never more
    /// than 3/4 full, then one header slot without a node whose `hash` counts
    /// the nodes.
    slots: Option<Arc<[Slot]>>,
}

impl ShardTable {
    /// Number of slots for nodes (a power of two, or 0).
    fn capacity(&self) -> usize {
        self.slots().len().saturating_sub(1)
    }

    /// The slots (none when empty).
    fn slots(&self) -> &[Slot] {
        self.slots.as_deref().unwrap_or(&[])
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.slots().last().map_or(0, |header| header.hash as usize)
    }

    /// Index of the slot holding `path`, if present.
    fn find(&self, hash: u64, path: &str) -> Option<usize> {
        let capacity = self.capacity();
        if capacity == 0 {
            return None;
        }
        let mask = capacity - 1;
        let slots = self.slots();
        let mut i = hash as usize & mask;
        loop {
            let slot = &slots[i];
            match &slot.node {
                None => return None,
                Some(n) if slot.hash == hash && n.0.path.as_str() == path => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The node at `path`, whose hash is `hash`.
    pub(crate) fn get(&self, hash: u64, path: &str) -> Option<&Znode> {
        self.find(hash, path)
            .and_then(|i| self.slots()[i].node.as_ref())
            .map(|n| &*n.0)
    }

    /// The node at `path` in its slot, to change in place (the slots copied first if a
    /// clone shares them; the node itself stays shared until the caller copies it).
    pub(crate) fn get_mut(&mut self, hash: u64, path: &str) -> Option<&mut NodeRef> {
        let i = self.find(hash, path)?;
        self.slots_mut()[i].node.as_mut()
    }

    /// Adds `node` (whose path hashes to `hash`); false if its path is already present.
    pub(crate) fn insert(&mut self, hash: u64, node: NodeRef) -> bool {
        if self.find(hash, node.0.path.as_str()).is_some() {
            return false;
        }
        let needed = self.len() + 1;
        if needed * 4 > self.capacity() * 3 {
            self.resize((self.capacity() * 2).max(MIN_SLOTS));
        }
        let mask = self.capacity() - 1;
        let slots = self.slots_mut();
        let mut i = hash as usize & mask;
        while slots[i].node.is_some() {
            i = (i + 1) & mask;
        }
        slots[i] = Slot {
            hash,
            node: Some(node),
        };
        slots[mask + 1].hash += 1;
        true
    }

    /// Removes and returns the node at `path`, whose hash is `hash`.
    pub(crate) fn remove(&mut self, hash: u64, path: &str) -> Option<NodeRef> {
        let found = self.find(hash, path)?;
        let mask = self.capacity() - 1;
        let slots = self.slots_mut();
        let taken = slots[found].node.take();
        // Backward shift: pull later entries of the probe run into the hole when the
        // hole lies between their home slot and where they sit.
        let mut hole = found;
        let mut k = (found + 1) & mask;
        while slots[k].node.is_some() {
            let home = slots[k].hash as usize & mask;
            if k.wrapping_sub(home) & mask >= k.wrapping_sub(hole) & mask {
                slots.swap(hole, k);
                hole = k;
            }
            k = (k + 1) & mask;
        }
        slots[mask + 1].hash -= 1;
        if slots[mask + 1].hash == 0 {
            self.slots = None;
        }
        taken
    }

    /// Every node, in slot order (the header slot holds none).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &NodeRef> {
        self.slots().iter().filter_map(|s| s.node.as_ref())
    }

    /// The slots, copied first if a clone shares them (none when empty).
    fn slots_mut(&mut self) -> &mut [Slot] {
        match &mut self.slots {
            Some(slots) => Arc::make_mut(slots),
            None => &mut [],
        }
    }

    /// Rehashes every node into `size` slots (and the header).
    fn resize(&mut self, size: usize) {
        let mut slots = vec![Slot::default(); size + 1];
        slots[size].hash = self.len() as u64;
        let mask = size - 1;
        for s in self.slots().iter().filter(|s| s.node.is_some()) {
            let mut i = s.hash as usize & mask;
            while slots[i].node.is_some() {
                i = (i + 1) & mask;
            }
            slots[i] = s.clone();
        }
        self.slots = Some(Arc::from(slots));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::node::{StatCore, ZPath};

    fn node(path: &str) -> NodeRef {
        NodeRef(Arc::new(Znode {
            path: ZPath::new(path),
            data: Box::default(),
            acl: Arc::new(vec![]),
            stat: StatCore::default(),
        }))
    }

    #[test]
    fn colliding_hashes_insert_find_and_remove_like_a_set() {
        // Few distinct hashes, so long probe runs that wrap around the table.
        let mut t = ShardTable::default();
        let mut model = std::collections::BTreeSet::new();
        let hash = |k: u64| (k * 7) % 5;
        for round in 0..3u64 {
            for k in 0..40u64 {
                let path = format!("/n{k}");
                if (k + round) % 3 == 0 {
                    assert_eq!(t.remove(hash(k), &path).is_some(), model.remove(&path));
                } else {
                    assert_eq!(t.insert(hash(k), node(&path)), model.insert(path.clone()));
                }
            }
            let shared = t.clone();
            for k in 0..40u64 {
                let path = format!("/n{k}");
                assert_eq!(t.get(hash(k), &path).is_some(), model.contains(&path));
                assert_eq!(shared.get(hash(k), &path).is_some(), model.contains(&path));
            }
            assert_eq!(t.iter().count(), model.len());
            assert_eq!(t.len(), model.len());
        }
    }

    #[test]
    fn an_emptied_table_lets_go_of_its_slots_and_fills_again() {
        let mut t = ShardTable::default();
        assert!(t.slots.is_none());
        t.insert(1, node("/a"));
        t.insert(2, node("/b"));
        let view = t.clone();
        assert!(t.remove(1, "/a").is_some());
        assert!(t.remove(2, "/b").is_some());
        assert!(t.slots.is_none());
        assert_eq!((t.len(), t.iter().count()), (0, 0));
        assert!(t.get(1, "/a").is_none() && t.remove(2, "/b").is_none());
        assert_eq!(view.len(), 2);
        assert!(t.insert(3, node("/c")));
        assert!(t.get(3, "/c").is_some());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_clone_is_unchanged_by_writes_to_the_original() {
        let mut t = ShardTable::default();
        t.insert(1, node("/a"));
        let view = t.clone();
        t.insert(2, node("/b"));
        t.remove(1, "/a");
        assert!(view.get(1, "/a").is_some());
        assert!(view.get(2, "/b").is_none());
        assert!(t.get(1, "/a").is_none());
        assert!(t.get(2, "/b").is_some());
    }
}
