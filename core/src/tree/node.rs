//! One znode as the tree stores it, and the key that orders children under their parent.

use std::cmp::Ordering;
use std::sync::Arc;

use super::acl::AclList;
use super::stat::Stat;

/// Bytes of a path kept inline; most ZooKeeper names are this short or shorter.
const INLINE_PATH_BYTES: usize = 22;

/// A path as the tree stores it: inline when short, shared (`Arc<str>`) otherwise. The
/// node and the child index each hold one; inline, neither costs an allocation, and
/// comparing or hashing one touches no other cache line.
#[derive(Clone)]
pub(crate) enum ZPath {
    /// A short path, `len` bytes of valid UTF-8.
    Inline {
        /// Used bytes.
        len: u8,
        /// The bytes.
        bytes: [u8; INLINE_PATH_BYTES],
    },
    /// A longer path, shared.
    Shared(Arc<str>),
}

impl ZPath {
    /// Stores `path`.
    pub(crate) fn new(path: &str) -> ZPath {
        if path.len() <= INLINE_PATH_BYTES {
            let mut bytes = [0; INLINE_PATH_BYTES];
            bytes[..path.len()].copy_from_slice(path.as_bytes());
            ZPath::Inline {
                len: path.len() as u8,
                bytes,
            }
        } else {
            ZPath::Shared(Arc::from(path))
        }
    }

    /// The path's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            ZPath::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ZPath::Shared(s) => s.as_bytes(),
        }
    }

    /// The path. Inline bytes were copied from a `&str`, so they always decode.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            ZPath::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or(""),
            ZPath::Shared(s) => s,
        }
    }
}

impl std::ops::Deref for ZPath {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for ZPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for ZPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for ZPath {
    fn eq(&self, other: &ZPath) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ZPath {}

impl PartialOrd for ZPath {
    fn partial_cmp(&self, other: &ZPath) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ZPath {
    fn cmp(&self, other: &ZPath) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::borrow::Borrow<str> for ZPath {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// A znode: its path, data, ACL and Stat. One 128-byte allocation besides its data (and
/// its path, when longer than 22 bytes), because a tree holds millions and every write
/// replaces the one it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Znode {
    /// The node's path (a copy of it is the child index's key).
    pub(crate) path: ZPath,
    /// The data; `dataLength` in the stat is its length. A `Box` rather than an `Arc`
    /// saves 16 bytes a node; the price is that changing the Stat of a node a read view
    /// still holds copies its data (bounded by `data_bytes_max`, once per view).
    pub(crate) data: Box<[u8]>,
    /// The ACL, shared with every node that has the same list.
    pub(crate) acl: AclList,
    /// The Stat without `dataLength`, which `data` already knows.
    pub(crate) stat: StatCore,
}

impl Znode {
    /// The node's full Stat.
    pub(crate) fn stat(&self) -> Stat {
        let s = &self.stat;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: self.data.len() as i32,
            num_children: s.num_children,
            pzxid: s.pzxid,
        }
    }
}

/// [`Stat`] minus `dataLength`: what a node stores (64 bytes instead of 72).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatCore {
    pub(crate) czxid: i64,
    pub(crate) mzxid: i64,
    pub(crate) ctime: i64,
    pub(crate) mtime: i64,
    pub(crate) pzxid: i64,
    pub(crate) ephemeral_owner: i64,
    pub(crate) version: i32,
    pub(crate) cversion: i32,
    pub(crate) aversion: i32,
    pub(crate) num_children: i32,
}

impl StatCore {
    /// The Stat of a node created at `zxid` and `time_ms` (ZooKeeper's `createStat`).
    pub(crate) fn created(zxid: i64, time_ms: i64, ephemeral_owner: i64) -> StatCore {
        StatCore {
            czxid: zxid,
            mzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            pzxid: zxid,
            ephemeral_owner,
            version: 0,
            cversion: 0,
            aversion: 0,
            num_children: 0,
        }
    }
}

impl From<Stat> for StatCore {
    fn from(s: Stat) -> StatCore {
        StatCore {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            pzxid: s.pzxid,
            ephemeral_owner: s.ephemeral_owner,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            num_children: s.num_children,
        }
    }
}

/// A shared znode that hashes and compares as its path, so the path map can be a set of
/// 8-byte pointers (the HAMT allocates leaf chunks at full width; slim slots keep a
/// million-node tree inside its memory budget).
#[derive(Clone, Debug)]
pub(crate) struct NodeRef(pub(crate) Arc<Znode>);

impl std::hash::Hash for NodeRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.path.as_str().hash(state);
    }
}

impl PartialEq for NodeRef {
    fn eq(&self, other: &NodeRef) -> bool {
        self.0.path == other.0.path
    }
}

impl Eq for NodeRef {}

impl std::borrow::Borrow<str> for NodeRef {
    fn borrow(&self) -> &str {
        self.0.path.as_str()
    }
}

/// A non-root path, ordered by (parent, name) so the children of one node are one
/// contiguous, sorted range of the child index.
#[derive(Clone, Debug)]
pub(crate) struct ChildKey(pub(crate) ZPath);

impl ChildKey {
    /// (parent, name) of the path; the parent of `/a` is `/`.
    fn split(&self) -> (&str, &str) {
        let p = &*self.0;
        match p.rfind('/') {
            Some(0) => ("/", &p[1..]),
            Some(i) => (&p[..i], &p[i + 1..]),
            None => ("", p),
        }
    }

    /// The parent part of the key.
    pub(crate) fn parent(&self) -> &str {
        self.split().0
    }

    /// The name part of the key.
    pub(crate) fn name(&self) -> &str {
        self.split().1
    }

    /// The smallest key among the children of `parent` (its name is empty).
    pub(crate) fn first_child_of(parent: &str) -> ChildKey {
        let probe = if parent == "/" {
            "/".to_string()
        } else {
            format!("{parent}/")
        };
        ChildKey(ZPath::new(&probe))
    }
}

impl PartialEq for ChildKey {
    fn eq(&self, other: &ChildKey) -> bool {
        self.0 == other.0
    }
}

impl Eq for ChildKey {}

impl PartialOrd for ChildKey {
    fn partial_cmp(&self, other: &ChildKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ChildKey {
    /// (parent, name) order without splitting either path: after the common prefix, a
    /// path whose rest still holds a `/` has the longer parent. This runs on every
    /// child-index step, so it avoids the two reverse scans a split would cost.
    fn cmp(&self, other: &ChildKey) -> Ordering {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let (ra, rb) = (&a[common..], &b[common..]);
        match (ra.contains(&b'/'), rb.contains(&b'/')) {
            (false, false) => ra.cmp(rb),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            // Both parents reach the common prefix. One that ends exactly there (its
            // rest is `/name`) is a proper prefix of the other, so sorts first;
            // otherwise both run past it and differ at its first byte.
            (true, true) => {
                let ends_here = |r: &[u8]| r[0] == b'/' && !r[1..].contains(&b'/');
                match (ends_here(ra), ends_here(rb)) {
                    (true, _) => Ordering::Less,
                    (_, true) => Ordering::Greater,
                    _ => ra[0].cmp(&rb[0]),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zpath_behaves_like_its_str_inline_or_shared() {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default();
        let paths = [
            "/",
            "/a",
            "/exactly/twenty-two/b",
            "/exactly/twenty-three/c",
            "/a/much/longer/path/than/fits/inline/0000000042",
        ];
        for p in paths {
            let z = ZPath::new(p);
            assert_eq!(z.as_str(), p);
            assert_eq!(
                matches!(z, ZPath::Inline { .. }),
                p.len() <= INLINE_PATH_BYTES
            );
            assert_eq!(
                h.hash_one(NodeRef(Arc::new(Znode {
                    path: z.clone(),
                    data: Box::default(),
                    acl: Arc::new(vec![]),
                    stat: StatCore::default()
                }))),
                h.hash_one(p)
            );
            for q in paths {
                assert_eq!(z.cmp(&ZPath::new(q)), p.cmp(q));
            }
        }
    }

    #[test]
    fn children_of_one_parent_sort_together_before_grandchildren() {
        let mut keys: Vec<ChildKey> = ["/a/b/c", "/b", "/a/z", "/a", "/a/b", "/a/a"]
            .iter()
            .map(|p| ChildKey(ZPath::new(p)))
            .collect();
        keys.sort();
        let got: Vec<&str> = keys.iter().map(|k| &*k.0).collect();
        assert_eq!(got, ["/a", "/b", "/a/a", "/a/b", "/a/z", "/a/b/c"]);
        assert!(ChildKey::first_child_of("/a") < ChildKey(ZPath::new("/a/a")));
        assert!(ChildKey::first_child_of("/") < ChildKey(ZPath::new("/a")));
    }

    #[test]
    fn fast_order_equals_the_parent_then_name_order() {
        let parts = ["a", "b", "a.b", "a-", "ab", "!", "z"];
        let mut paths = Vec::new();
        for x in parts {
            paths.push(format!("/{x}"));
            for y in parts {
                paths.push(format!("/{x}/{y}"));
                for z in ["a", "-"] {
                    paths.push(format!("/{x}/{y}/{z}"));
                }
            }
        }
        paths.push("/".into());
        paths.push("/a/".into());
        for p in &paths {
            for q in &paths {
                let (kp, kq) = (ChildKey(ZPath::new(p)), ChildKey(ZPath::new(q)));
                assert_eq!(kp.cmp(&kq), kp.split().cmp(&kq.split()), "{p} vs {q}");
            }
        }
    }
}
