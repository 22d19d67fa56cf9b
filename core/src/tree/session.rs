//! Sessions as replicated state: who they are, when they were last heard from, what they own.
//!
//! A session's id is the zxid of the entry that created it: unique, the same on every
//! replica, and below ZooKeeper's extended-ephemeral range. Its secret is chosen by the
//! leader (core makes no randomness) and lets the client resume on another node.

use std::sync::Arc;

use imbl::OrdSet;
use serde::{Deserialize, Serialize};

use super::acl::Id;

/// A session id (ZooKeeper's `sessionId`, a positive `long`).
pub type SessionId = i64;

/// The 128-bit secret a client presents to resume its session on another node.
pub type SessionSecret = [u8; 16];

/// One live session, as every replica records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id.
    pub id: SessionId,
    /// Negotiated timeout in ms.
    pub timeout_ms: i64,
    /// Secret for resuming elsewhere.
    pub secret: SessionSecret,
    /// Identities: the x509 name from the client certificate and any digest added
    /// later. Shared: every request's ACL checks take a reference, not a copy.
    pub identities: Arc<[Id]>,
    /// Leader time in ms when the session was created or last touched.
    pub last_seen_ms: i64,
    /// Paths of the ephemerals the session owns, in order.
    pub ephemerals: OrdSet<String>,
}

impl Session {
    /// Whether the session has outlived its timeout at leader time `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.last_seen_ms) > self.timeout_ms
    }
}
