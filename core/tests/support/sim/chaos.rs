//! What the simulator does to the cluster: the network (loss, duplication,
//! delay, partitions), faults (crashes, restarts, slow disks), the client
//! workload (proposals, reads), membership changes and leader transfers.

use std::collections::BTreeMap;

use bytes::Bytes;
use corral_core::broadcast::{ConfChange, Message, NodeId};

use super::{Check, Event, Sim};

impl Sim {
    pub(super) fn send(&mut self, msg: Message) {
        if matches!(msg.body, corral_core::broadcast::Body::Snapshot { .. }) {
            self.stats.snapshot_chunks_sent += 1;
        }
        let (from, to) = (msg.from, msg.to);
        if self.net.blocked.contains(&(from, to)) || self.rng.chance(self.net.drop_percent) {
            return;
        }
        let msg = if self.rng.chance(12) {
            // Round-trip through the wire format now and then.
            Message::decode(&msg.encode(), 1 << 20).expect("own messages decode")
        } else {
            msg
        };
        let copies = if self.rng.chance(self.net.dup_percent) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.between(1, 3) + self.rng.between(0, self.net.extra_delay_ms);
            self.schedule(delay, Event::Deliver(msg.clone()));
        }
    }

    pub(super) fn client_propose(&mut self) -> Check {
        let target = if self.rng.chance(90) {
            self.leader()
        } else {
            self.random_alive()
        };
        let Some(id) = target else { return Ok(()) };
        let count = self.rng.between(1, 4);
        let batch: Vec<Bytes> = (0..count)
            .map(|_| {
                self.next_payload += 1;
                let len = self.rng.between(8, 40) as usize;
                let mut v = self.next_payload.to_le_bytes().to_vec();
                v.resize(len, 0x5A);
                Bytes::from(v)
            })
            .collect();
        let node = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.node.as_mut())
            .expect("alive");
        let _ = node.propose(batch);
        self.drain(id)
    }

    pub(super) fn client_read(&mut self) -> Check {
        let Some(id) = self.random_alive() else {
            return Ok(());
        };
        self.next_payload += 1;
        let ctx = self.next_payload;
        self.reads.insert(ctx, self.checker.max_commit);
        let node = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.node.as_mut())
            .expect("alive");
        let _ = node.read_index(Bytes::copy_from_slice(&ctx.to_le_bytes()));
        self.drain(id)
    }

    fn random_alive(&mut self) -> Option<NodeId> {
        let alive: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.node.is_some())
            .map(|(id, _)| *id)
            .collect();
        self.rng.pick(&alive)
    }

    /// One random fault or operator action.
    pub(super) fn chaos(&mut self) -> Check {
        // The draw numbering is kept stable: regression seeds depend on it.
        match self.rng.between(0, 15) {
            kind @ (0..=3 | 9 | 10) => self.network_fault(kind),
            kind @ 4..=8 => self.node_fault(kind)?,
            11 | 12 => self.change_membership()?,
            13 => self.transfer_leadership()?,
            _ => {}
        }
        Ok(())
    }

    /// Partitions (symmetric, one-way, one node isolated), heals, and changes
    /// of loss, duplication and delay.
    fn network_fault(&mut self, kind: u64) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        match kind {
            0 => {
                // Symmetric partition into two random groups.
                let side: BTreeMap<NodeId, bool> =
                    ids.iter().map(|&id| (id, self.rng.chance(50))).collect();
                for &a in &ids {
                    for &b in &ids {
                        if side[&a] != side[&b] {
                            self.net.blocked.insert((a, b));
                        }
                    }
                }
            }
            1 => {
                // One way only.
                let (a, b) = (
                    self.rng.pick(&ids).expect("ids"),
                    self.rng.pick(&ids).expect("ids"),
                );
                self.net.blocked.insert((a, b));
            }
            10 => {
                // Isolate one node both ways.
                let a = self.rng.pick(&ids).expect("ids");
                for &b in &ids {
                    self.net.blocked.insert((a, b));
                    self.net.blocked.insert((b, a));
                }
            }
            9 => {
                self.net.drop_percent = [0, 5, 20][self.rng.between(0, 2) as usize];
                self.net.dup_percent = [0, 5][self.rng.between(0, 1) as usize];
                self.net.extra_delay_ms = [0, 0, 10, 30][self.rng.between(0, 3) as usize];
            }
            _ => self.net.blocked.clear(),
        }
    }

    /// Crashes (of anyone, or of the leader), restarts and slow disks.
    fn node_fault(&mut self, kind: u64) -> Check {
        match kind {
            4 => {
                if let Some(id) = self.random_alive() {
                    self.crash(id);
                }
            }
            5 => {
                if let Some(id) = self.leader() {
                    self.crash(id);
                }
            }
            6 | 7 => {
                let dead: Vec<NodeId> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.node.is_none())
                    .map(|(id, _)| *id)
                    .collect();
                if let Some(id) = self.rng.pick(&dead) {
                    self.start_node(id);
                    self.drain(id)?;
                }
            }
            _ => {
                let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
                let id = self.rng.pick(&ids).expect("ids");
                let n = self.nodes.get_mut(&id).expect("node");
                n.slow_disk = !n.slow_disk;
            }
        }
        Ok(())
    }

    /// Asks the leader to hand over to a random voter.
    fn transfer_leadership(&mut self) -> Check {
        let Some(id) = self.leader() else {
            return Ok(());
        };
        let voters: Vec<NodeId> = self
            .node(id)
            .expect("alive")
            .membership()
            .voters
            .iter()
            .copied()
            .collect();
        let Some(target) = self.rng.pick(&voters) else {
            return Ok(());
        };
        let node = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.node.as_mut())
            .expect("alive");
        if node.transfer_leadership(target).is_ok() {
            self.stats.transfers += 1;
        }
        self.drain(id)
    }

    fn change_membership(&mut self) -> Check {
        let Some(id) = self.leader() else {
            return Ok(());
        };
        let m = self.node(id).expect("alive").membership().clone();
        let all: Vec<NodeId> = self.nodes.keys().copied().collect();
        let outsiders: Vec<NodeId> = all.iter().copied().filter(|&x| !m.contains(x)).collect();
        let learners: Vec<NodeId> = m.learners.iter().copied().collect();
        let removable: Vec<NodeId> = m.members().filter(|&x| x != id).collect();
        let change = match self.rng.between(0, 3) {
            0 => self.rng.pick(&outsiders).map(ConfChange::AddLearner),
            1 => self.rng.pick(&learners).map(ConfChange::PromoteLearner),
            2 => self.rng.pick(&outsiders).map(ConfChange::AddVoter),
            _ if m.voters.len() > 2 || !m.learners.is_empty() => {
                self.rng.pick(&removable).map(ConfChange::Remove)
            }
            _ => None,
        };
        let Some(change) = change else { return Ok(()) };
        let node = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.node.as_mut())
            .expect("alive");
        if node.propose_conf_change(change).is_ok() {
            self.stats.conf_changes += 1;
        }
        self.drain(id)
    }
}
