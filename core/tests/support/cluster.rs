//! A small in-memory cluster for scenario tests: messages are delivered in
//! order, writes are durable at once, and nodes can be cut off. Time only
//! moves when a test ticks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use corral_core::broadcast::{
    Body, Config, Entry, EntryKind, Membership, Message, Node, NodeId, PersistedState, ReadState,
    Role,
};

pub(crate) struct Cluster {
    pub(crate) nodes: BTreeMap<NodeId, Node>,
    /// Nodes whose messages (in and out) are dropped.
    pub(crate) isolated: BTreeSet<NodeId>,
    /// Every message sent, in order, for assertions.
    pub(crate) sent: Vec<Message>,
    /// Entries applied per node (normal payloads only).
    pub(crate) applied: BTreeMap<NodeId, Vec<Bytes>>,
    pub(crate) read_states: BTreeMap<NodeId, Vec<ReadState>>,
    wire: VecDeque<Message>,
}

/// A config with small limits so tests see batching and chunking.
pub(crate) fn test_config(id: NodeId) -> Config {
    let mut c = Config::new(id);
    c.election_timeout_ticks = 10;
    c.heartbeat_interval_ticks = 1;
    c.snapshot_chunk_bytes = 8;
    c.max_entries_per_msg = 16;
    c
}

/// Node `id` of voters {1, 2, 3}, fresh from bootstrap: its log holds
/// entry 1 of term 1.
pub(crate) fn bootstrapped(id: NodeId) -> Node {
    Node::new(
        test_config(id),
        PersistedState::bootstrap(Membership::with_voters([1, 2, 3])),
        id,
    )
    .expect("valid")
}

/// Leader 1's append in term 3 to node 2 of `entries` after the bootstrap
/// entry, with the commit index at 1.
pub(crate) fn append_after_bootstrap(entries: Vec<Entry>) -> Message {
    Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::Append {
            prev_index: 1,
            prev_term: 1,
            entries,
            commit: 1,
        },
    }
}

/// Steps leader 1's append of entries 2..=`last` of term 3 into `n`, makes
/// it durable and returns the messages that then go out (the acknowledgement).
pub(crate) fn append_durably(n: &mut Node, last: u64) -> Vec<Message> {
    let entries = (2..=last)
        .map(|index| Entry {
            index,
            term: 3,
            kind: EntryKind::Normal(Bytes::from_static(b"x")),
        })
        .collect();
    n.step(append_after_bootstrap(entries))
        .expect("an append in order");
    let ready = n.ready();
    n.persisted(ready.persist.expect("entries to persist").token);
    n.ready().messages
}

impl Cluster {
    pub(crate) fn new(voters: &[NodeId], learners: &[NodeId]) -> Self {
        let membership = Membership {
            voters: voters.iter().copied().collect(),
            learners: learners.iter().copied().collect(),
        };
        let mut c = Self {
            nodes: BTreeMap::new(),
            isolated: BTreeSet::new(),
            sent: Vec::new(),
            applied: BTreeMap::new(),
            read_states: BTreeMap::new(),
            wire: VecDeque::new(),
        };
        for &id in voters.iter().chain(learners) {
            let node = Node::new(
                test_config(id),
                PersistedState::bootstrap(membership.clone()),
                id,
            )
            .expect("valid config");
            c.nodes.insert(id, node);
        }
        c
    }

    /// Adds a node that is not in the configuration yet.
    pub(crate) fn add_joining(&mut self, id: NodeId) {
        let node = Node::new(test_config(id), PersistedState::default(), id).expect("valid");
        self.nodes.insert(id, node);
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[&id]
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes.get_mut(&id).expect("node")
    }

    /// Carries out every Ready and delivers every message until nothing moves.
    pub(crate) fn pump(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                let node = self.nodes.get_mut(&id).expect("node");
                if !node.has_ready() {
                    continue;
                }
                let ready = node.ready();
                moved = true;
                if let Some(p) = ready.persist {
                    node.persisted(p.token);
                }
                for e in ready.committed_entries {
                    if let corral_core::broadcast::EntryKind::Normal(data) = e.kind {
                        self.applied.entry(id).or_default().push(data);
                    }
                }
                self.read_states
                    .entry(id)
                    .or_default()
                    .extend(ready.read_states);
                for m in ready.messages {
                    self.sent.push(m.clone());
                    if !self.isolated.contains(&m.from) && !self.isolated.contains(&m.to) {
                        self.wire.push_back(m);
                    }
                }
            }
            while let Some(m) = self.wire.pop_front() {
                moved = true;
                if let Some(node) = self.nodes.get_mut(&m.to) {
                    let _ = node.step(m);
                }
            }
            for node in self.nodes.values() {
                node.check_invariants();
            }
            if !moved {
                return;
            }
        }
        panic!("cluster never settles");
    }

    /// Carries out pending Readies, then delivers at most one message. Returns
    /// whether anything happened.
    pub(crate) fn step_once(&mut self) -> bool {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let mut moved = false;
        for id in ids {
            let node = self.nodes.get_mut(&id).expect("node");
            if !node.has_ready() {
                continue;
            }
            moved = true;
            let ready = node.ready();
            if let Some(p) = ready.persist {
                node.persisted(p.token);
            }
            for e in ready.committed_entries {
                if let corral_core::broadcast::EntryKind::Normal(data) = e.kind {
                    self.applied.entry(id).or_default().push(data);
                }
            }
            self.read_states
                .entry(id)
                .or_default()
                .extend(ready.read_states);
            for m in ready.messages {
                self.sent.push(m.clone());
                if !self.isolated.contains(&m.from) && !self.isolated.contains(&m.to) {
                    self.wire.push_back(m);
                }
            }
        }
        if let Some(m) = self.wire.pop_front() {
            moved = true;
            if let Some(node) = self.nodes.get_mut(&m.to) {
                let _ = node.step(m);
            }
        }
        moved
    }

    /// Ticks every node `n` times, pumping after each tick.
    pub(crate) fn tick_all(&mut self, n: usize) {
        for _ in 0..n {
            for node in self.nodes.values_mut() {
                node.tick();
            }
            self.pump();
        }
    }

    /// Makes `id` the leader by ticking only it until it wins.
    pub(crate) fn elect(&mut self, id: NodeId) {
        for _ in 0..1000 {
            if self.node(id).role() == Role::Leader {
                self.pump();
                return;
            }
            self.node_mut(id).tick();
            self.pump();
        }
        panic!("node {id} did not win an election");
    }

    pub(crate) fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.role() == Role::Leader)
            .max_by_key(|n| n.term())
            .map(|n| n.id())
    }

    /// Proposes `count` numbered entries on `id` and pumps.
    pub(crate) fn propose(&mut self, id: NodeId, count: usize) -> u64 {
        let batch = (0..count)
            .map(|i| Bytes::from(format!("entry-{i}")))
            .collect();
        let index = self.node_mut(id).propose(batch).expect("leader accepts");
        self.pump();
        index
    }

    /// Messages sent so far whose body matches `pred`.
    pub(crate) fn count_sent(&self, pred: impl Fn(&Message) -> bool) -> usize {
        self.sent.iter().filter(|m| pred(m)).count()
    }

    pub(crate) fn is_snapshot_chunk(m: &Message) -> bool {
        matches!(m.body, Body::Snapshot { .. })
    }
}
