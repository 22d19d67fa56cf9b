//! Throughput of the consensus core alone: a 3-voter cluster in one thread, no
//! I/O (messages handed over in memory, persistence acknowledged at once),
//! committing 100-byte entries proposed in batches.
//!
//! Run: `cargo bench -p corral-core --bench broadcast_throughput`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::VecDeque;

use bytes::Bytes;
use corral_core::broadcast::{Config, Membership, Message, Node, PersistedState, Role};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const ENTRY_BYTES: usize = 100;

/// Three nodes wired together in memory.
struct Cluster {
    nodes: Vec<Node>,
    wire: VecDeque<Message>,
    leader: usize,
    applied: u64,
}

impl Cluster {
    fn new() -> Self {
        let membership = Membership::with_voters([1, 2, 3]);
        let nodes = (1..=3u64)
            .map(|id| {
                let mut cfg = Config::new(id);
                cfg.max_uncommitted_bytes = 256 << 20;
                Node::new(cfg, PersistedState::bootstrap(membership.clone()), id).unwrap()
            })
            .collect();
        let mut c = Self {
            nodes,
            wire: VecDeque::new(),
            leader: 0,
            applied: 0,
        };
        while !c.nodes.iter().any(|n| n.role() == Role::Leader) {
            for n in &mut c.nodes {
                n.tick();
            }
            c.pump();
        }
        c.leader = c
            .nodes
            .iter()
            .position(|n| n.role() == Role::Leader)
            .unwrap();
        c
    }

    /// Runs every node's Ready until nothing moves: persist is acknowledged at
    /// once, messages go straight to their recipient.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                let node = &mut self.nodes[i];
                if !node.has_ready() {
                    continue;
                }
                let ready = node.ready();
                moved = true;
                if let Some(p) = ready.persist {
                    node.persisted(p.token);
                }
                self.wire.extend(ready.messages);
                if i == self.leader {
                    self.applied += ready.committed_entries.len() as u64;
                }
            }
            while let Some(msg) = self.wire.pop_front() {
                moved = true;
                let to = usize::try_from(msg.to - 1).unwrap();
                let _ = self.nodes[to].step(msg);
            }
            if !moved {
                return;
            }
        }
    }

    /// Proposes `batches` batches of `batch` entries and waits until all are
    /// applied on the leader; compacts now and then to bound memory.
    fn commit(&mut self, batches: usize, batch: usize, payload: &Bytes) {
        let target = self.applied + (batches * batch) as u64;
        for _ in 0..batches {
            let entries = vec![payload.clone(); batch];
            self.nodes[self.leader].propose(entries).unwrap();
            self.pump();
        }
        self.pump();
        assert!(
            self.applied >= target,
            "applied {} < {target}",
            self.applied
        );
        for n in &mut self.nodes {
            let applied = n.applied_index();
            if applied > n.snapshot_meta().index + 100_000 {
                n.compact(applied, Bytes::new()).unwrap();
            }
        }
    }
}

fn throughput(c: &mut Criterion) {
    let payload = Bytes::from(vec![0x42u8; ENTRY_BYTES]);
    let mut group = c.benchmark_group("broadcast_3_voters_100_byte_entries");
    for batch in [64usize, 256, 1024] {
        let batches = 100_000 / batch;
        group.throughput(Throughput::Elements((batches * batch) as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, &batch| {
            let mut cluster = Cluster::new();
            b.iter(|| cluster.commit(batches, batch, &payload));
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(10)
}

criterion_group! { name = benches; config = config(); targets = throughput }
criterion_main!(benches);
