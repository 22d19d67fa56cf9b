//! The end of every run: heal, then assert liveness (a fresh proposal
//! commits in bounded time) and convergence (every member applies it, with
//! the same history), and describe the cluster when either fails.

use bytes::Bytes;
use corral_core::broadcast::NodeId;

use super::{LIVENESS_BOUND_MS, Sim, SimFailure, SimStats};

impl Sim {
    /// Runs the fault phase, then heals and asserts liveness.
    pub(crate) fn run(mut self) -> Result<SimStats, SimFailure> {
        let steps = self.cfg.steps;
        self.run_until(steps)?;
        self.heal();
        let healed_at = self.now_ms;
        let index = self.commit_after_heal(healed_at)?;
        self.stats.liveness_ms = self.now_ms - healed_at;
        self.converge(index)?;
        self.stats.leaders = self.checker.leader_terms();
        Ok(self.stats)
    }

    /// Liveness: proposes a marker on whichever node leads until one commits,
    /// within `LIVENESS_BOUND_MS` of healing. Returns its index.
    fn commit_after_heal(&mut self, healed_at: u64) -> Result<u64, SimFailure> {
        let mut marker: Option<(NodeId, u64, u64)> = None;
        while self.now_ms < healed_at + LIVENESS_BOUND_MS {
            let t = self.now_ms + 1;
            self.run_until(t)?;
            if let Some((id, index, term)) = marker {
                let committed = self.checker.committed.get(&index).map(|c| c.term);
                if committed == Some(term) {
                    return Ok(index);
                }
                let lost = committed.is_some() || self.node(id).is_none_or(|n| n.term() != term);
                if lost {
                    marker = None;
                }
            }
            if marker.is_none() {
                if let Some(id) = self.leader() {
                    let node = self
                        .nodes
                        .get_mut(&id)
                        .and_then(|n| n.node.as_mut())
                        .expect("alive");
                    if let Ok(index) = node.propose(vec![Bytes::from_static(b"liveness")]) {
                        marker = Some((id, index, node.term()));
                        self.drain(id).map_err(|e| self.fail(e))?;
                    }
                }
            }
        }
        Err(self.fail(format!(
            "liveness: no proposal committed within {LIVENESS_BOUND_MS} ms of healing\n{}",
            self.describe()
        )))
    }

    /// Durability, end to end: after healing every member applies up to
    /// `index`, and (checked on apply) its state machine equals everyone's, so
    /// every entry ever committed survived all the crashes.
    fn converge(&mut self, index: u64) -> Result<(), SimFailure> {
        let deadline = self.now_ms + LIVENESS_BOUND_MS;
        while self.now_ms < deadline {
            let t = self.now_ms + 1;
            self.run_until(t)?;
            let Some(leader) = self.leader().and_then(|id| self.node(id)) else {
                continue;
            };
            let members: Vec<NodeId> = leader.membership().members().collect();
            if members
                .iter()
                .all(|&id| self.nodes[&id].sm.applied >= index)
            {
                return Ok(());
            }
        }
        Err(self.fail(format!(
            "convergence: members did not all apply {index}\n{}",
            self.describe()
        )))
    }

    /// One line per node, for failure reports.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::new();
        for (id, n) in &self.nodes {
            match &n.node {
                None => out.push_str(&format!("  node {id}: crashed\n")),
                Some(node) => out.push_str(&(format!(
                    "  node {id}: {:?} term {} leader {:?} last {} (term {:?}) commit {} applied {} persisted {} snap {} voters {:?} learners {:?} rejects {:?} writing {}\n",
                    node.role(),
                    node.term(),
                    node.leader(),
                    node.last_index(),
                    node.term_at(node.last_index()),
                    node.committed_index(),
                    node.applied_index(),
                    node.persisted_index(),
                    node.snapshot_meta().index,
                    node.membership().voters,
                    node.membership().learners,
                    node.rejects().iter().filter(|(_, c)| *c > 0).collect::<Vec<_>>(),
                    n.writing.is_some(),
                ) + &format!(
                    "    progress: {:?}\n",
                    self.nodes.keys().filter_map(|&p| node.follower_progress(p).map(|x| (p, x))).collect::<Vec<_>>()
                ))),
            }
        }
        out
    }
}
