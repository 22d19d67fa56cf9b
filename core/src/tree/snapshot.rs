//! Snapshots: the data tree at an exact zxid as bytes, and back.
//!
//! Layout: `MAGIC` (8 bytes) | postcard body | CRC32C of everything before it (4 bytes,
//! little endian). CRC32C detects every error burst of up to 32 bits, so any single
//! flipped byte, anywhere, is caught. Nodes are written in tree order (parents first) and
//! ACL lists once each, by index, so restore rebuilds the same sharing. Watches are not
//! included: they are local to a node and clients re-register them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::acl::{Acl, AclList};
use super::data_tree::DataTree;
use super::limits::Limits;
use super::mode::EphemeralType;
use super::node::{ChildKey, StatCore, ZPath, Znode};
use super::session::Session;
use super::stat::Stat;

/// First bytes of every snapshot (format version 1).
const MAGIC: &[u8; 8] = b"CRLTREE1";

/// Why a snapshot could not be restored. Fatal for the snapshot: never serve from it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Too short, or the magic is wrong.
    #[error("not a corral tree snapshot")]
    NotASnapshot,
    /// The CRC does not match: the bytes were damaged.
    #[error("snapshot checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// CRC in the snapshot.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The body does not decode, or decodes to an inconsistent tree.
    #[error("snapshot body is corrupt: {0}")]
    Corrupt(String),
}

/// The serialized form of one node.
#[derive(Serialize, Deserialize)]
struct NodeRecord {
    path: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    acl: u32,
    stat: Stat,
}

/// The serialized form of a tree.
#[derive(Serialize, Deserialize)]
struct Body {
    last_zxid: i64,
    limits: Limits,
    acls: Vec<Vec<Acl>>,
    nodes: Vec<NodeRecord>,
    sessions: Vec<Session>,
}

impl DataTree {
    /// Serializes the tree as of its last applied zxid.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut acl_index: BTreeMap<Vec<Acl>, u32> = BTreeMap::new();
        let mut acls = Vec::new();
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for path in self.paths() {
            let Some(n) = self.nodes.get(path.as_str()) else {
                continue;
            };
            let acl = *acl_index.entry(n.acl.to_vec()).or_insert_with(|| {
                acls.push(n.acl.to_vec());
                (acls.len() - 1) as u32
            });
            nodes.push(NodeRecord {
                path,
                data: n.data.to_vec(),
                acl,
                stat: n.stat(),
            });
        }
        let body = Body {
            last_zxid: self.last_zxid,
            limits: self.limits,
            acls,
            nodes,
            sessions: self.sessions.values().cloned().collect(),
        };
        let mut out = MAGIC.to_vec();
        // Serializing plain owned data into a Vec cannot fail; an empty body would then
        // fail restore's decode loudly rather than pass silently.
        out.extend(postcard::to_stdvec(&body).unwrap_or_default());
        let crc = crc32c::crc32c(&out);
        out.extend(crc.to_le_bytes());
        out
    }

    /// Rebuilds a tree from [`snapshot`](DataTree::snapshot) bytes, verifying the CRC and
    /// every invariant.
    pub fn restore(bytes: &[u8]) -> Result<DataTree, SnapshotError> {
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let (content, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let computed = crc32c::crc32c(content);
        if stored != computed {
            return Err(SnapshotError::Checksum { stored, computed });
        }
        let body: Body = postcard::from_bytes(&content[MAGIC.len()..])
            .map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        let tree = DataTree::from_body(body)?;
        tree.check_invariants().map_err(SnapshotError::Corrupt)?;
        Ok(tree)
    }

    /// Builds the maps from a decoded body.
    fn from_body(body: Body) -> Result<DataTree, SnapshotError> {
        let mut tree = DataTree::new(body.limits);
        tree.last_zxid = body.last_zxid;
        let acls: Vec<AclList> = body.acls.into_iter().map(Arc::new).collect();
        for s in body.sessions {
            tree.sessions.insert(s.id, s);
        }
        for rec in body.nodes {
            let acl = acls
                .get(rec.acl as usize)
                .cloned()
                .ok_or_else(|| SnapshotError::Corrupt(format!("{}: bad ACL index", rec.path)))?;
            let key = ZPath::new(&rec.path);
            match EphemeralType::of(rec.stat.ephemeral_owner) {
                EphemeralType::Container => {
                    tree.containers.insert(key.clone());
                }
                EphemeralType::Ttl => {
                    tree.ttls.insert(key.clone());
                }
                _ => {}
            }
            if &*key != "/" {
                if tree.nodes.contains_key(&key) {
                    return Err(SnapshotError::Corrupt(format!(
                        "{}: listed twice",
                        rec.path
                    )));
                }
                tree.children.insert(ChildKey(key.clone()));
            } else {
                // The snapshot's root replaces the empty tree's (insert never overwrites).
                tree.nodes.remove("/");
            }
            if rec.stat.data_length as usize != rec.data.len() {
                return Err(SnapshotError::Corrupt(format!(
                    "{}: dataLength mismatch",
                    rec.path
                )));
            }
            tree.nodes.insert(Znode {
                path: key,
                data: rec.data.into_boxed_slice(),
                acl,
                stat: StatCore::from(rec.stat),
            });
        }
        Ok(tree)
    }
}
