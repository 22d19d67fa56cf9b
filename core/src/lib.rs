//! corral-core: the pure, deterministic heart of corral.
//!
//! Two state machines live here, and nothing else:
//!
//! - [`tree`]: ZooKeeper's data model (znodes, sessions, ACLs, watches). Applying a
//!   log entry is a pure function `(tree, entry) -> (tree', result, events)`; a read
//!   view is an O(1) clone, a snapshot the tree at an exact zxid (postcard + CRC32C).
//! - [`broadcast`]: the atomic-broadcast (Raft-family) consensus core, sans-IO:
//!   messages, ticks and proposals in; messages to send, entries to persist and
//!   entries to apply out.
//!
//! ```text
//!   client request ──► broadcast::propose ──► log (persist, replicate, commit)
//!                                                   │ committed entries
//!                                                   ▼
//!                        events, results ◄── tree::apply(entry, zxid, time)
//! ```
//!
//! This crate has no async, no clock, no files, no sockets and no randomness that
//! the caller does not seed: the same inputs give the same outputs on every
//! replica, which is what lets a seeded simulator prove it.

pub mod broadcast;
pub mod tree;
