//! A znode's Stat, with ZooKeeper's field types (`org.apache.zookeeper.data.Stat`).

use serde::{Deserialize, Serialize};

/// The metadata ZooKeeper keeps for every znode, exactly its `Stat` record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stat {
    /// zxid of the change that created this znode.
    pub czxid: i64,
    /// zxid of the change that last modified this znode's data.
    pub mzxid: i64,
    /// Leader time in ms since the epoch when this znode was created.
    pub ctime: i64,
    /// Leader time in ms since the epoch when this znode's data was last modified.
    pub mtime: i64,
    /// Number of changes to this znode's data.
    pub version: i32,
    /// Number of child creations under this znode (ZooKeeper does not count deletions).
    pub cversion: i32,
    /// Number of changes to this znode's ACL.
    pub aversion: i32,
    /// Owning session of an ephemeral, or the container/TTL marker (see [`EphemeralType`](super::EphemeralType)); 0 otherwise.
    pub ephemeral_owner: i64,
    /// Length of the data in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the change that last created or deleted a child of this znode.
    pub pzxid: i64,
}
