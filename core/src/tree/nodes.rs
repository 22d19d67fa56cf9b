//! The path -> znode map: persistent, O(1) to clone, and shallow for fast lookups.
//!
//! A single `imbl` HAMT over a million paths is five levels deep, and every level is a
//! cache miss on a random lookup. Splitting it into 4096 HAMTs by a second, independent
//! hash of the path takes two of those levels away: the shard tables are small and hot,
//! and each shard is shallow. The tables are two levels of `Arc`ed arrays (64 groups of
//! 64 shards), so cloning the map (a read view, or multi's scratch copy) is one
//! reference count, and the first write after a clone copies two 64-entry tables, not
//! 4096 handles and never the nodes.
//!
//! Each shard is a set of [`NodeRef`]s (8-byte slots) looked up by path: the HAMT
//! allocates leaf chunks at full width, so slim slots keep a million-node tree within
//! its memory budget.

use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

use imbl::GenericHashMap;
use imbl::shared_ptr::DefaultSharedPtr;

use super::mode::EphemeralType;
use super::node::{NodeRef, Znode};

/// Groups of shards, and shards per group; powers of two.
const GROUPS: usize = 64;
/// Shards in one group.
const PER_GROUP: usize = 64;

/// Deterministic (fixed-key SipHash) hasher inside each shard: the same on every replica.
type PathHasher = BuildHasherDefault<DefaultHasher>;
/// One shard.
type Shard = GenericHashMap<NodeRef, (), PathHasher, DefaultSharedPtr>;
/// One group of shards, copied on write.
type Group = Arc<Vec<Shard>>;

/// Every znode, by path.
#[derive(Clone, Debug)]
pub(crate) struct Nodes {
    groups: Arc<Vec<Group>>,
    len: usize,
    /// Sum of every node's data length, kept in step by insert and take (for metrics).
    data_bytes: u64,
    /// Number of session-owned ephemerals, kept in step by insert and take.
    ephemerals: usize,
}

impl Default for Nodes {
    fn default() -> Nodes {
        let group: Group = Arc::new(vec![Shard::default(); PER_GROUP]);
        Nodes {
            groups: Arc::new(vec![group; GROUPS]),
            len: 0,
            data_bytes: 0,
            ephemerals: 0,
        }
    }
}

/// The (group, shard) of `path`: FNV-1a, independent of the SipHash the shards use
/// inside, so a shard's keys still spread over its HAMT.
fn shard_of(path: &str) -> (usize, usize) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let h = (h >> 32) as usize;
    (h & (GROUPS - 1), (h / GROUPS) & (PER_GROUP - 1))
}

impl Nodes {
    /// The shard holding `path`.
    fn shard(&self, path: &str) -> &Shard {
        let (g, s) = shard_of(path);
        &self.groups[g][s]
    }

    /// The shard holding `path`, made unique first (copy-on-write after a clone).
    fn shard_mut(&mut self, path: &str) -> &mut Shard {
        let (g, s) = shard_of(path);
        &mut Arc::make_mut(&mut Arc::make_mut(&mut self.groups)[g])[s]
    }

    /// The node at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&Znode> {
        self.shard(path).get_key_value(path).map(|(k, ())| &*k.0)
    }

    /// Whether a node exists at `path`.
    pub(crate) fn contains_key(&self, path: &str) -> bool {
        self.shard(path).contains_key(path)
    }

    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Sum of the data lengths of every node, in O(1).
    pub(crate) fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Number of session-owned ephemeral nodes, in O(1).
    pub(crate) fn ephemerals(&self) -> usize {
        self.ephemerals
    }

    /// Adds the node at `node.path`, which must be absent (callers take a node
    /// out before storing its changed copy, so the counts stay exact).
    pub(crate) fn insert(&mut self, node: Znode) {
        let data_bytes = node.data.len() as u64;
        let ephemeral = EphemeralType::of(node.stat.ephemeral_owner) == EphemeralType::Normal;
        let shard = self.shard_mut(&node.path);
        let replaced = shard.insert(NodeRef(Arc::new(node)), ());
        debug_assert!(replaced.is_none(), "Nodes::insert over an existing path");
        if replaced.is_none() {
            self.len += 1;
            self.data_bytes += data_bytes;
            self.ephemerals += usize::from(ephemeral);
        }
    }

    /// Removes the node at `path`, still shared if a view holds it.
    fn take(&mut self, path: &str) -> Option<Arc<Znode>> {
        let (k, ()) = self.shard_mut(path).remove_with_key(path)?;
        self.len -= 1;
        self.data_bytes -= k.0.data.len() as u64;
        if EphemeralType::of(k.0.stat.ephemeral_owner) == EphemeralType::Normal {
            self.ephemerals -= 1;
        }
        Some(k.0)
    }

    /// Every node, in no particular order (for the invariant checks).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Znode> {
        self.groups
            .iter()
            .flat_map(|g| g.iter())
            .flat_map(|s| s.keys())
            .map(|k| &*k.0)
    }

    /// Removes and returns the node at `path`.
    pub(crate) fn remove(&mut self, path: &str) -> Option<Znode> {
        self.take(path).map(Arc::unwrap_or_clone)
    }

    /// Replaces the data of the node at `path` and changes it with `f`, never copying the
    /// old data even when a read view still holds the node.
    pub(crate) fn replace_data<R>(
        &mut self,
        path: &str,
        data: Box<[u8]>,
        f: impl FnOnce(&mut Znode) -> R,
    ) -> Option<R> {
        let mut node = match Arc::try_unwrap(self.take(path)?) {
            Ok(mut node) => {
                node.data = data;
                node
            }
            Err(shared) => Znode {
                path: shared.path.clone(),
                data,
                acl: shared.acl.clone(),
                stat: shared.stat,
            },
        };
        let r = f(&mut node);
        self.insert(node);
        Some(r)
    }

    /// Changes the node at `path` with `f`; nodes are immutable once shared, so this
    /// stores a changed copy (in place when no view holds the old one).
    pub(crate) fn update<R>(&mut self, path: &str, f: impl FnOnce(&mut Znode) -> R) -> Option<R> {
        let mut node = self.remove(path)?;
        let r = f(&mut node);
        self.insert(node);
        Some(r)
    }
}

impl PartialEq for Nodes {
    fn eq(&self, other: &Nodes) -> bool {
        self.len == other.len
            && self
                .groups
                .iter()
                .flat_map(|g| g.iter())
                .flat_map(|s| s.keys())
                .all(|k| other.get(&k.0.path) == Some(&*k.0))
    }
}
