//! The invariants of `corral_core::broadcast` (module docs), checked from the
//! outside after every simulator step. A violation is returned as a message;
//! the simulator turns it into a failure that names the seed.

use std::collections::{BTreeMap, HashMap};

use corral_core::broadcast::{Entry, EntryKind, Node, NodeId, Role};

/// FNV-1a, enough to tell entries apart.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// A fingerprint of an entry's index, term and content.
pub(crate) fn entry_hash(e: &Entry) -> u64 {
    let mut h = fnv(0xcbf2_9ce4_8422_2325, &e.index.to_le_bytes());
    h = fnv(h, &e.term.to_le_bytes());
    match &e.kind {
        EntryKind::Noop => fnv(h, b"noop"),
        EntryKind::Normal(data) => fnv(fnv(h, b"data"), data),
        EntryKind::ConfChange(c) => fnv(fnv(h, b"conf"), format!("{c:?}").as_bytes()),
        EntryKind::Bootstrap(m) => fnv(fnv(h, b"boot"), format!("{m:?}").as_bytes()),
    }
}

/// The simulated state machine: the applied index and a rolling hash of every
/// entry applied, so two replicas agree iff their hashes agree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StateMachine {
    pub(crate) applied: u64,
    pub(crate) hash: u64,
}

impl StateMachine {
    pub(crate) fn apply(&mut self, e: &Entry) {
        self.applied = e.index;
        self.hash = fnv(self.hash ^ entry_hash(e), &e.index.to_le_bytes());
    }

    /// Serialised with some padding, so snapshots span several chunks.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        out.extend_from_slice(&self.applied.to_le_bytes());
        out.extend_from_slice(&self.hash.to_le_bytes());
        out.extend_from_slice(&[0xAB; 32]);
        out
    }

    pub(crate) fn decode(data: &[u8]) -> Option<Self> {
        if data.len() < 16 {
            return None;
        }
        Some(Self {
            applied: u64::from_le_bytes(data[..8].try_into().ok()?),
            hash: u64::from_le_bytes(data[8..16].try_into().ok()?),
        })
    }
}

/// Global knowledge gathered from every node, against which each step is checked.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    /// Election safety: the leader of each term.
    leaders: BTreeMap<u64, NodeId>,
    /// (node, term) leaderships already checked for completeness.
    leaders_checked: BTreeMap<(NodeId, u64), ()>,
    /// Log matching: (index, term) -> (entry hash, term at index - 1).
    entries: HashMap<(u64, u64), (u64, Option<u64>)>,
    /// Every entry known committed, by index.
    pub(crate) committed: BTreeMap<u64, Committed>,
    /// Highest commit index seen on any node.
    pub(crate) max_commit: u64,
    /// State-machine safety: index -> rolling hash after applying it.
    applied_hash: HashMap<u64, u64>,
    /// Per node: highest commit index already checked.
    commit_checked: BTreeMap<NodeId, u64>,
}

type Check = Result<(), String>;

/// A committed entry: its term and hash, and the term in which it was
/// committed (the term of the node that first showed it committed, whose
/// leader committed it). Raft's leader completeness is about that term: an
/// old entry committed late by a new leader need not be in the log of a
/// stale leader of a term in between.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Committed {
    /// The entry's term.
    pub(crate) term: u64,
    /// Its hash.
    pub(crate) hash: u64,
    /// The term in which it was committed.
    pub(crate) in_term: u64,
}

impl Checker {
    /// How many terms had a leader.
    pub(crate) fn leader_terms(&self) -> u64 {
        self.leaders.len() as u64
    }

    /// Election safety, and leader completeness on first sight of a leadership.
    pub(crate) fn check_leader(&mut self, node: &Node) -> Check {
        if node.role() != Role::Leader {
            return Ok(());
        }
        let (id, term) = (node.id(), node.term());
        if let Some(&other) = self.leaders.get(&term) {
            if other != id {
                return Err(format!("two leaders in term {term}: {other} and {id}"));
            }
        }
        self.leaders.insert(term, id);
        if self.leaders_checked.insert((id, term), ()).is_none() {
            for (&index, c) in self.committed.iter().filter(|(_, c)| c.in_term < term) {
                Self::check_has(node, index, c.term, c.hash)
                    .map_err(|e| format!("leader completeness: {e}"))?;
            }
        }
        Ok(())
    }

    /// Whether `node`'s log holds committed entry (index, term, hash).
    fn check_has(node: &Node, index: u64, term: u64, hash: u64) -> Check {
        let snap = node.snapshot_meta().index;
        if index < snap {
            return Ok(());
        }
        if index == snap {
            return if node.snapshot_meta().term == term {
                Ok(())
            } else {
                Err(format!(
                    "node {} snapshot at {index} has the wrong term",
                    node.id()
                ))
            };
        }
        match node.entry(index) {
            Some(e) if e.term == term && entry_hash(e) == hash => Ok(()),
            Some(e) => Err(format!(
                "node {} (term {}) has ({index}, term {}) instead of committed term {term}",
                node.id(),
                node.term(),
                e.term
            )),
            None => Err(format!(
                "node {} (term {}) lacks committed entry {index} (last {})",
                node.id(),
                node.term(),
                node.last_index()
            )),
        }
    }

    /// Records newly committed entries of `node`; returns those new to the
    /// cluster so the caller can check current leaders have them.
    pub(crate) fn check_commit(&mut self, node: &Node) -> Result<Vec<(u64, Committed)>, String> {
        let from = self.commit_checked.get(&node.id()).copied().unwrap_or(0);
        let to = node.committed_index();
        let mut fresh = Vec::new();
        let lo = from.max(node.snapshot_meta().index) + 1;
        for index in lo..=to {
            let Some(e) = node.entry(index) else { continue };
            let h = entry_hash(e);
            match self.committed.get(&index) {
                Some(c) if c.term == e.term && c.hash == h => {}
                Some(c) => {
                    return Err(format!(
                        "node {} committed ({index}, term {}) but ({index}, term {}) was committed",
                        node.id(),
                        e.term,
                        c.term
                    ));
                }
                None => {
                    let c = Committed {
                        term: e.term,
                        hash: h,
                        in_term: node.term(),
                    };
                    self.committed.insert(index, c);
                    fresh.push((index, c));
                }
            }
        }
        self.commit_checked.insert(node.id(), to.max(from.min(to)));
        self.max_commit = self.max_commit.max(to);
        Ok(fresh)
    }

    /// A committed entry new to the cluster must be in every leader of a
    /// term after the one it was committed in.
    pub(crate) fn check_fresh_commit_in_leader(leader: &Node, fresh: &[(u64, Committed)]) -> Check {
        if leader.role() != Role::Leader {
            return Ok(());
        }
        for (index, c) in fresh {
            if leader.term() > c.in_term {
                Self::check_has(leader, *index, c.term, c.hash)
                    .map_err(|e| format!("leader completeness (late commit): {e}"))?;
            }
        }
        Ok(())
    }

    /// A node restarted: its commit checks start over.
    pub(crate) fn node_restarted(&mut self, id: NodeId) {
        self.commit_checked.remove(&id);
    }

    /// Log matching over entries handed out for persistence.
    pub(crate) fn check_persisted_entries(&mut self, node: &Node, entries: &[Entry]) -> Check {
        let mut prev_term = entries.first().and_then(|e| node.term_at(e.index - 1));
        for e in entries {
            let h = entry_hash(e);
            match self.entries.get(&(e.index, e.term)) {
                Some(&(hh, pt)) => {
                    if hh != h {
                        return Err(format!(
                            "log matching: two different entries ({}, {})",
                            e.index, e.term
                        ));
                    }
                    if let (Some(a), Some(b)) = (pt, prev_term) {
                        if a != b {
                            return Err(format!(
                                "log matching: ({}, {}) follows terms {a} and {b}",
                                e.index, e.term
                            ));
                        }
                    }
                }
                None => {
                    self.entries.insert((e.index, e.term), (h, prev_term));
                }
            }
            prev_term = Some(e.term);
        }
        Ok(())
    }

    /// State-machine safety: the state after applying `index` is the same everywhere.
    pub(crate) fn check_applied(&mut self, id: NodeId, index: u64, hash: u64) -> Check {
        match self.applied_hash.get(&index) {
            Some(&h) if h != hash => {
                Err(format!("node {id} applied a different history at {index}"))
            }
            Some(_) => Ok(()),
            None => {
                self.applied_hash.insert(index, hash);
                Ok(())
            }
        }
    }
}
