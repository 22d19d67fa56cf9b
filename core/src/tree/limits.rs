//! The limits a tree enforces where client data enters apply.

use serde::{Deserialize, Serialize};

/// Named maxima checked by apply; a request beyond one gets `BadArguments`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest znode data in bytes (ZooKeeper's jute.maxbuffer default: 1 MiB).
    pub data_bytes_max: usize,
    /// Longest path in bytes.
    pub path_bytes_max: usize,
    /// Most entries in one ACL.
    pub acl_entries_max: usize,
    /// Most ops in one multi or multiRead.
    pub multi_ops_max: usize,
    /// Longest session timeout in ms a session may be created with.
    pub session_timeout_ms_max: i64,
    /// Most identities one session may hold.
    pub session_identities_max: usize,
    /// How long a container that never had a child lives, in ms (0: forever, ZooKeeper's
    /// `znode.container.maxNeverUsedIntervalMs` default).
    pub container_never_used_ms_max: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            data_bytes_max: 1024 * 1024,
            path_bytes_max: 32 * 1024,
            acl_entries_max: 1024,
            multi_ops_max: 10_000,
            session_timeout_ms_max: 24 * 3600 * 1000,
            session_identities_max: 64,
            container_never_used_ms_max: 0,
        }
    }
}
