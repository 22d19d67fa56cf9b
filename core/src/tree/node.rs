//! One znode as the tree stores it, and the key that orders children under their parent.

use std::cmp::Ordering;
use std::sync::Arc;

use super::acl::AclList;
use super::stat::Stat;

/// A znode: data, ACL and Stat. Kept small (data and ACL are shared pointers) because a
/// tree holds millions and every write copies the one it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Znode {
    /// The data; `dataLength` in the stat is its length.
    pub(crate) data: Arc<[u8]>,
    /// The ACL, shared with every node that has the same list.
    pub(crate) acl: AclList,
    /// The Stat, `numChildren` and `dataLength` included.
    pub(crate) stat: Stat,
}

/// A non-root path, ordered by (parent, name) so the children of one node are one
/// contiguous, sorted range of the child index.
#[derive(Clone, Debug)]
pub(crate) struct ChildKey(pub(crate) Arc<str>);

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
        ChildKey(Arc::from(probe))
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
    fn cmp(&self, other: &ChildKey) -> Ordering {
        self.split().cmp(&other.split())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_one_parent_sort_together_before_grandchildren() {
        let mut keys: Vec<ChildKey> = ["/a/b/c", "/b", "/a/z", "/a", "/a/b", "/a/a"]
            .iter()
            .map(|p| ChildKey(Arc::from(*p)))
            .collect();
        keys.sort();
        let got: Vec<&str> = keys.iter().map(|k| &*k.0).collect();
        assert_eq!(got, ["/a", "/b", "/a/a", "/a/b", "/a/z", "/a/b/c"]);
        assert!(ChildKey::first_child_of("/a") < ChildKey(Arc::from("/a/a")));
        assert!(ChildKey::first_child_of("/") < ChildKey(Arc::from("/a")));
    }
}
