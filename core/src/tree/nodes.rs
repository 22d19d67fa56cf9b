//! The path -> znode map: persistent, O(1) to clone, and shallow for fast lookups.
//!
//! The map is 32,768 small open-addressing tables ([`ShardTable`], 16 bytes each, so the
//! tables above them stay in cache), reached through three levels of `Arc`ed tables
//! (128 x 16 groups of 16 shards). Cloning the map (a read view, or multi's scratch copy)
//! is one reference count. The first write after a clone copies the small tables on its
//! way down (128, 16 and 16 entries) and the slots of the one shard it touches (about 30
//! at a million znodes), never a node. More shards would make that copy smaller and the
//! tables above them bigger than the cache; fewer, the reverse. A wide top and narrow
//! groups suit writes spread over many znodes between two views, each the first to its
//! group: the top is copied once per view, a group once per such write
//! (`cargo bench -p corral-core --bench tree_throughput`, against 32 x 16 x 64:
//! `sparse256_set_data_view/150` 455 -> 395 ns per write, `set_data_view/100` at a
//! million znodes 3566 -> 3118 ns).
//!
//! A lookup hashes the path once (the top bits pick the shard, the low bits the slot),
//! walks tables that stay in cache, then reads one slot and the node: two memory
//! misses where a persistent tree of a million keys pays five.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::mode::EphemeralType;
use super::node::{NodeRef, Znode};
use super::shard_table::ShardTable;

/// Top-level entries, each a table of groups; a power of two.
const TOP: usize = 128;
/// Groups under one top-level entry; a power of two.
const GROUPS: usize = 16;
/// Shards in one group; a power of two.
const PER_GROUP: usize = 16;

/// One group of shards, copied on write (an array behind the `Arc`: one
/// allocation per copy and one pointer to follow per lookup, where a `Vec`
/// costs two of each).
type Group = Arc<[ShardTable; PER_GROUP]>;
/// The groups under one top-level entry, copied on write.
type Groups = Arc<[Group; GROUPS]>;

/// Every znode, by path.
#[derive(Clone, Debug)]
pub(crate) struct Nodes {
    groups: Arc<[Groups; TOP]>,
    len: usize,
    /// Sum of every node's data length, kept in step by insert and take (for metrics).
    data_bytes: u64,
    /// Number of session-owned ephemerals, kept in step by insert and take.
    ephemerals: usize,
}

impl Default for Nodes {
    fn default() -> Nodes {
        let group: Group = Arc::new(std::array::from_fn(|_| ShardTable::default()));
        let groups: Groups = Arc::new(std::array::from_fn(|_| Arc::clone(&group)));
        Nodes {
            groups: Arc::new(std::array::from_fn(|_| Arc::clone(&groups))),
            len: 0,
            data_bytes: 0,
            ephemerals: 0,
        }
    }
}

/// The path's hash: foldhash with a fixed seed, so the same on every run of one build.
/// Nothing stored or sent depends on it; it only places nodes in memory.
fn hash_of(path: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(PATH_HASH_SEED).hash_one(path)
}

/// Seed of [`hash_of`]; any constant.
const PATH_HASH_SEED: u64 = 0x636f_7272_616c_2121;

/// The (top entry, group, shard) of a path hash: its top 16 bits (the shard's table
/// uses the low ones).
fn shard_of(hash: u64) -> (usize, usize, usize) {
    let bits = (hash >> 48) as usize;
    (
        bits & (TOP - 1),
        (bits / TOP) & (GROUPS - 1),
        (bits / (TOP * GROUPS)) & (PER_GROUP - 1),
    )
}

impl Nodes {
    /// The shard holding the path with hash `hash`.
    fn shard(&self, hash: u64) -> &ShardTable {
        let (t, g, s) = shard_of(hash);
        &self.groups[t][g][s]
    }

    /// The shard holding the path with hash `hash`, its tables made unique first
    /// (copy-on-write after a clone).
    fn shard_mut(&mut self, hash: u64) -> &mut ShardTable {
        let (t, g, s) = shard_of(hash);
        let groups = &mut Arc::make_mut(&mut self.groups)[t];
        &mut Arc::make_mut(&mut Arc::make_mut(groups)[g])[s]
    }

    /// The node at `path`.
    pub(crate) fn get(&self, path: &str) -> Option<&Znode> {
        let hash = hash_of(path);
        self.shard(hash).get(hash, path)
    }

    /// Whether a node exists at `path`.
    pub(crate) fn contains_key(&self, path: &str) -> bool {
        let hash = hash_of(path);
        self.shard(hash).get(hash, path).is_some()
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

    /// Adds the node at `node.path`, which must be absent (a changed node goes
    /// through [`Nodes::update`] or [`Nodes::replace_data`], so the counts stay exact).
    pub(crate) fn insert(&mut self, node: Znode) {
        let data_bytes = node.data.len() as u64;
        let ephemeral = is_ephemeral(&node);
        let hash = hash_of(&node.path);
        let added = self.shard_mut(hash).insert(hash, NodeRef(Arc::new(node)));
        debug_assert!(added, "Nodes::insert over an existing path");
        if added {
            self.len += 1;
            self.data_bytes += data_bytes;
            self.ephemerals += usize::from(ephemeral);
        }
    }

    /// Removes the node at `path`, still shared if a view holds it.
    fn take(&mut self, path: &str) -> Option<Arc<Znode>> {
        let hash = hash_of(path);
        let k = self.shard_mut(hash).remove(hash, path)?;
        self.len -= 1;
        self.data_bytes -= k.0.data.len() as u64;
        if is_ephemeral(&k.0) {
            self.ephemerals -= 1;
        }
        Some(k.0)
    }

    /// Every node, in no particular order (for the invariant checks).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Znode> {
        self.groups
            .iter()
            .flat_map(|t| t.iter())
            .flat_map(|g| g.iter())
            .flat_map(|s| s.iter())
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
        self.change(path, |slot| {
            match Arc::get_mut(slot) {
                Some(node) => node.data = data,
                None => {
                    *slot = Arc::new(Znode {
                        path: slot.path.clone(),
                        data,
                        acl: slot.acl.clone(),
                        stat: slot.stat,
                    })
                }
            }
            f(Arc::make_mut(slot))
        })
    }

    /// Changes the node at `path` with `f`; nodes are immutable once shared, so this
    /// changes a copy when a view holds the node, and the node itself otherwise.
    pub(crate) fn update<R>(&mut self, path: &str, f: impl FnOnce(&mut Znode) -> R) -> Option<R> {
        self.change(path, |slot| f(Arc::make_mut(slot)))
    }

    /// Runs `f` on the slot of the node at `path`, in place (no remove and insert), and
    /// keeps the data-byte and ephemeral counts exact. `f` must not change the path.
    fn change<R>(&mut self, path: &str, f: impl FnOnce(&mut Arc<Znode>) -> R) -> Option<R> {
        let hash = hash_of(path);
        // Look before copying tables on the way down: a miss changes nothing.
        self.shard(hash).get(hash, path)?;
        let slot = &mut self.shard_mut(hash).get_mut(hash, path)?.0;
        let before = (slot.data.len() as u64, is_ephemeral(slot));
        let r = f(slot);
        debug_assert_eq!(slot.path.as_str(), path, "Nodes::change moved a node");
        let after = (slot.data.len() as u64, is_ephemeral(slot));
        self.data_bytes = self.data_bytes - before.0 + after.0;
        self.ephemerals = self.ephemerals - usize::from(before.1) + usize::from(after.1);
        Some(r)
    }
}

/// Whether `node` is a session-owned ephemeral (counted in [`Nodes::ephemerals`]).
fn is_ephemeral(node: &Znode) -> bool {
    EphemeralType::of(node.stat.ephemeral_owner) == EphemeralType::Normal
}

impl PartialEq for Nodes {
    fn eq(&self, other: &Nodes) -> bool {
        self.len == other.len
            && self
                .groups
                .iter()
                .flat_map(|t| t.iter())
                .flat_map(|g| g.iter())
                .flat_map(|s| s.iter())
                .all(|k| other.get(&k.0.path) == Some(&*k.0))
    }
}
