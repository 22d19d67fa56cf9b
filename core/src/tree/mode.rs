//! Create modes, and how a znode's `ephemeralOwner` encodes what kind of node it is.
//!
//! ZooKeeper overloads `ephemeralOwner` (`EphemeralType`): 0 for persistent nodes, the
//! owning session id for ephemerals, `0x8000000000000000` for containers, and
//! `0xFF00000000000000 | ttl_ms` for TTL nodes. corral keeps that encoding, so a Stat reads
//! the same as in ZooKeeper and session ids stay below `0x0080000000000000`.

use serde::{Deserialize, Serialize};

/// How a znode is created (ZooKeeper's `CreateMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CreateMode {
    /// Stays until deleted (flag 0).
    Persistent,
    /// Persistent, with the parent's cversion appended as a 10-digit suffix (flag 2).
    PersistentSequential,
    /// Deleted when its session ends (flag 1).
    Ephemeral,
    /// Ephemeral and sequential (flag 3).
    EphemeralSequential,
    /// Deleted by the server once its last child is gone (flag 4).
    Container,
    /// Deleted once unmodified and childless for its TTL (flag 5).
    PersistentWithTtl,
    /// TTL and sequential (flag 6).
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// ZooKeeper's flag value for this mode.
    pub fn flag(self) -> i32 {
        match self {
            CreateMode::Persistent => 0,
            CreateMode::Ephemeral => 1,
            CreateMode::PersistentSequential => 2,
            CreateMode::EphemeralSequential => 3,
            CreateMode::Container => 4,
            CreateMode::PersistentWithTtl => 5,
            CreateMode::PersistentSequentialWithTtl => 6,
        }
    }

    /// The mode with ZooKeeper's flag value `flag`.
    pub fn from_flag(flag: i32) -> Option<CreateMode> {
        Some(match flag {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// Whether the name gets a sequence suffix.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether the node belongs to its session.
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }

    /// Whether the node has a TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// Whether the node is a container.
    pub fn is_container(self) -> bool {
        self == CreateMode::Container
    }
}

/// What `ephemeralOwner` says a node is (ZooKeeper's `EphemeralType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EphemeralType {
    /// Not ephemeral (owner 0).
    Void,
    /// An ordinary ephemeral owned by a session.
    Normal,
    /// A container.
    Container,
    /// A TTL node.
    Ttl,
}

/// `ephemeralOwner` of every container node.
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// High byte marking an extended (TTL) `ephemeralOwner`.
const EXTENDED_MASK: u64 = 0xff00_0000_0000_0000;
/// The bits of an extended `ephemeralOwner` that hold the value (the TTL in ms).
const EXTENDED_VALUE_MASK: u64 = 0x0000_ffff_ffff_ffff;
/// The largest TTL ZooKeeper accepts, in ms (2^48 - 1).
pub const TTL_MS_MAX: i64 = EXTENDED_VALUE_MASK as i64;

impl EphemeralType {
    /// The type `ephemeral_owner` encodes (ZooKeeper's `EphemeralType.get`).
    pub fn of(ephemeral_owner: i64) -> EphemeralType {
        let owner = ephemeral_owner as u64;
        if ephemeral_owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralType::Container
        } else if owner & EXTENDED_MASK == EXTENDED_MASK {
            EphemeralType::Ttl
        } else if ephemeral_owner == 0 {
            EphemeralType::Void
        } else {
            EphemeralType::Normal
        }
    }

    /// The TTL in ms that a TTL node's `ephemeral_owner` carries; 0 for other nodes.
    pub fn ttl_ms(ephemeral_owner: i64) -> i64 {
        match EphemeralType::of(ephemeral_owner) {
            EphemeralType::Ttl => ((ephemeral_owner as u64) & EXTENDED_VALUE_MASK) as i64,
            _ => 0,
        }
    }

    /// The `ephemeral_owner` of a TTL node with `ttl_ms`, if the TTL is in 1..=2^48-1.
    pub fn ttl_owner(ttl_ms: i64) -> Option<i64> {
        (1..=TTL_MS_MAX)
            .contains(&ttl_ms)
            .then_some((EXTENDED_MASK | ttl_ms as u64) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_owner_round_trips_and_rejects_absurd_ttls() {
        let owner = EphemeralType::ttl_owner(5000).unwrap();
        assert_eq!(owner as u64, 0xff00_0000_0000_1388);
        assert_eq!(EphemeralType::of(owner), EphemeralType::Ttl);
        assert_eq!(EphemeralType::ttl_ms(owner), 5000);
        assert_eq!(EphemeralType::ttl_owner(0), None);
        assert_eq!(EphemeralType::ttl_owner(-1), None);
        assert_eq!(EphemeralType::ttl_owner(TTL_MS_MAX + 1), None);
        assert_eq!(
            EphemeralType::of(CONTAINER_EPHEMERAL_OWNER),
            EphemeralType::Container
        );
        assert_eq!(EphemeralType::of(0), EphemeralType::Void);
        assert_eq!(EphemeralType::of(42), EphemeralType::Normal);
    }

    #[test]
    fn flags_round_trip() {
        for f in 0..7 {
            assert_eq!(CreateMode::from_flag(f).unwrap().flag(), f);
        }
        assert_eq!(CreateMode::from_flag(7), None);
    }
}
