//! The leader's view of one follower: how much of the log it matches, what to
//! send next, and how much is in flight (the flow-control window).

use std::collections::VecDeque;

use super::message::Snapshot;

/// How the leader is currently replicating to a follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplicationState {
    /// Next index unknown: one append at a time until one succeeds.
    Probe {
        /// An append is out and unanswered; wait for it or a heartbeat response.
        paused: bool,
    },
    /// Pipelining: appends are sent optimistically up to the flow-control window.
    Replicate,
    /// The follower needs entries that are compacted: a snapshot is streaming.
    Snapshot {
        /// Index of the snapshot being sent.
        index: u64,
        /// Bytes the follower acknowledged.
        acked_bytes: u64,
    },
}

/// Replication progress of one follower or learner.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// Highest index known to match (and be durable) on the follower.
    pub(crate) match_index: u64,
    /// Next index to send.
    pub(crate) next_index: u64,
    /// Replication mode.
    pub(crate) state: ReplicationState,
    /// Appends in flight: (last index, bytes), oldest first.
    inflight: VecDeque<(u64, u64)>,
    inflight_bytes: u64,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// Heartbeat rounds in which appends were in flight and nothing came back.
    pub(crate) stalled_rounds: u32,
    /// Snapshot state: the snapshot being streamed, pinned so that compacting
    /// again meanwhile does not restart the transfer.
    pub(crate) snapshot: Option<Snapshot>,
}

impl Progress {
    /// A fresh follower view after an election: probe from the leader's end.
    pub(crate) fn new(next_index: u64) -> Self {
        Self {
            match_index: 0,
            next_index,
            state: ReplicationState::Probe { paused: false },
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            recent_active: false,
            stalled_rounds: 0,
            snapshot: None,
        }
    }

    /// Whether an append may be sent now under the flow-control limits.
    pub(crate) fn can_send(&self, max_msgs: usize, max_bytes: u64) -> bool {
        match self.state {
            ReplicationState::Probe { paused } => !paused,
            ReplicationState::Replicate => {
                self.inflight.len() < max_msgs && self.inflight_bytes < max_bytes
            }
            ReplicationState::Snapshot { .. } => false,
        }
    }

    /// Records an append of entries ending at `last_index`, `bytes` large.
    pub(crate) fn sent(&mut self, last_index: u64, bytes: u64) {
        match &mut self.state {
            ReplicationState::Probe { paused } => *paused = true,
            ReplicationState::Replicate => {
                if last_index >= self.next_index {
                    self.next_index = last_index + 1;
                    self.inflight.push_back((last_index, bytes));
                    self.inflight_bytes += bytes;
                }
            }
            ReplicationState::Snapshot { .. } => {}
        }
    }

    /// The follower matches up to `index`; false if that is old news.
    pub(crate) fn acknowledge(&mut self, index: u64) -> bool {
        self.stalled_rounds = 0;
        if index <= self.match_index {
            if let ReplicationState::Probe { paused } = &mut self.state {
                *paused = false;
            }
            return false;
        }
        self.match_index = index;
        self.next_index = self.next_index.max(index + 1);
        while let Some(&(last, bytes)) = self.inflight.front() {
            if last > index {
                break;
            }
            self.inflight.pop_front();
            self.inflight_bytes -= bytes;
        }
        match self.state {
            ReplicationState::Probe { .. } => self.become_replicate(),
            ReplicationState::Snapshot { index: snap, .. } if index >= snap => self.become_probe(),
            _ => {}
        }
        true
    }

    /// Switches to pipelined replication from just after the match.
    pub(crate) fn become_replicate(&mut self) {
        self.state = ReplicationState::Replicate;
        self.next_index = self.match_index + 1;
        self.clear_inflight();
    }

    /// Switches to probing from just after the match.
    pub(crate) fn become_probe(&mut self) {
        self.state = ReplicationState::Probe { paused: false };
        self.next_index = self.match_index + 1;
        self.clear_inflight();
    }

    /// Starts streaming `snapshot`.
    pub(crate) fn become_snapshot(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        self.snapshot = Some(snapshot);
        self.state = ReplicationState::Snapshot {
            index,
            acked_bytes: 0,
        };
        self.clear_inflight();
    }

    fn clear_inflight(&mut self) {
        if !matches!(self.state, ReplicationState::Snapshot { .. }) {
            self.snapshot = None;
        }
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    /// Whether appends are out with no answer yet.
    pub(crate) fn has_inflight(&self) -> bool {
        !self.inflight.is_empty()
    }

    /// Internal consistency; panics with the broken rule.
    pub(crate) fn check_invariants(&self, last_index: u64) {
        assert!(self.match_index < self.next_index, "next not after match");
        assert!(
            self.next_index <= last_index + 1,
            "next beyond the leader's log"
        );
        assert!(
            self.inflight.len() as u64 <= last_index + 1,
            "inflight overflow"
        );
        let bytes: u64 = self.inflight.iter().map(|&(_, b)| b).sum();
        assert_eq!(bytes, self.inflight_bytes, "inflight byte count drifted");
    }
}
