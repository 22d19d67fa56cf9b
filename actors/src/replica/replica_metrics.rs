//! The replica's gauges, sampled once per tick: the log's indexes, the
//! leader, each follower's lag (on the leader), and the size of the state
//! (sessions, watches, znodes, data bytes, ephemerals; all O(1) counts kept
//! by the tree, never a walk).
//!
//! Follower lag in seconds is the age of the oldest entry the follower does
//! not hold yet. The leader keeps one (last index, time) sample per tick in
//! which its log grew ([`LogClock`]); the first sample past a follower's
//! match index bounds when its next entry was appended, within one tick.

use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Counter, Gauge};

use super::*;

/// Handles of the metrics recorded per entry or per applied batch, registered
/// once (after the node installed its recorder): a registry lookup per write
/// costs more than the update itself.
pub(super) struct HotMetrics {
    /// `corral_replica_proposals_total`.
    pub(super) proposals: Counter,
    /// `corral_replica_applied_entries_total`.
    pub(super) applied_entries: Counter,
    /// `corral_replica_applied_index`.
    pub(super) applied_index: Gauge,
    /// `corral_replica_committed_index`.
    pub(super) committed_index: Gauge,
}

static HOT_METRICS: OnceLock<HotMetrics> = OnceLock::new();

/// The per-entry metric handles.
pub(super) fn hot_metrics() -> &'static HotMetrics {
    HOT_METRICS.get_or_init(|| HotMetrics {
        proposals: metrics::counter!("corral_replica_proposals_total"),
        applied_entries: metrics::counter!("corral_replica_applied_entries_total"),
        applied_index: metrics::gauge!("corral_replica_applied_index"),
        committed_index: metrics::gauge!("corral_replica_committed_index"),
    })
}

/// Log-growth samples kept at most (one per tick: minutes at 50 ms ticks).
const LOG_CLOCK_SAMPLES_MAX: usize = 8_192;

/// When the leader's log reached each index, one sample per tick of growth.
#[derive(Debug, Default)]
pub(super) struct LogClock {
    samples: VecDeque<(u64, Instant)>,
}

impl LogClock {
    /// Notes that the log's last index was `last_index` at `now`.
    fn observe(&mut self, last_index: u64, now: Instant) {
        if self.samples.back().is_none_or(|(i, _)| *i < last_index) {
            if self.samples.len() >= LOG_CLOCK_SAMPLES_MAX {
                self.samples.pop_front();
            }
            self.samples.push_back((last_index, now));
        }
    }

    /// Forgets samples every follower is past.
    fn forget_through(&mut self, index: u64) {
        while self.samples.front().is_some_and(|(i, _)| *i <= index) {
            self.samples.pop_front();
        }
    }

    /// Seconds since the log first held an entry past `match_index` (0 if
    /// there is none, or it is older than every sample kept: then the oldest).
    fn lag_seconds(&self, match_index: u64, last_index: u64, now: Instant) -> f64 {
        if match_index >= last_index {
            return 0.0;
        }
        self.samples
            .iter()
            .find(|(i, _)| *i > match_index)
            .or(self.samples.front())
            .map_or(0.0, |(_, at)| now.duration_since(*at).as_secs_f64())
    }

    /// Drops every sample (on losing leadership).
    fn clear(&mut self) {
        self.samples.clear();
    }
}

impl ReplicaState {
    /// Sets the per-tick gauges.
    pub(super) fn sample_metrics(&mut self) {
        let node = &self.node;
        metrics::gauge!("corral_replica_last_index").set(node.last_index() as f64);
        metrics::gauge!("corral_replica_persisted_index").set(node.persisted_index() as f64);
        metrics::gauge!("corral_replica_leader_id").set(node.leader().unwrap_or(0) as f64);
        metrics::gauge!("corral_snapshot_index").set(node.snapshot_meta().index as f64);
        metrics::counter!("corral_replica_commits_on_leader_durable_total")
            .absolute(node.commits_on_leader_durable());

        let data = self.tree.data();
        metrics::gauge!("corral_sessions").set(data.session_count() as f64);
        metrics::gauge!("corral_watches").set(self.tree.watches().len() as f64);
        metrics::gauge!("corral_znodes").set(data.node_count() as f64);
        metrics::gauge!("corral_znode_data_bytes").set(data.data_bytes() as f64);
        metrics::gauge!("corral_ephemerals").set(data.ephemeral_count() as f64);

        self.sample_follower_lag();
    }

    /// Leader: each follower's lag in entries and seconds; elsewhere the
    /// series are dropped to zero so a former leader shows no stale lag.
    fn sample_follower_lag(&mut self) {
        let now = Instant::now();
        let last = self.node.last_index();
        let leading = self.node.role() == Role::Leader;
        if leading {
            self.log_clock.observe(last, now);
        } else {
            self.log_clock.clear();
        }
        let mut slowest = last;
        for id in self.peers.keys() {
            let (entries, seconds) = match self.node.follower_progress(*id) {
                Some((matched, _)) if leading => {
                    slowest = slowest.min(matched);
                    (
                        last.saturating_sub(matched) as f64,
                        self.log_clock.lag_seconds(matched, last, now),
                    )
                }
                _ => (0.0, 0.0),
            };
            let peer = peer_label(*id);
            metrics::gauge!("corral_follower_lag_entries", "peer" => peer.clone()).set(entries);
            metrics::gauge!("corral_follower_lag_seconds", "peer" => peer).set(seconds);
        }
        if leading {
            self.log_clock.forget_through(slowest);
        }
    }

    /// Counts the elections and leader changes a role change means.
    pub(super) fn count_role_change(&self, role: Role, leader: Option<NodeId>, term: u64) {
        let campaigning = role == Role::Candidate;
        if campaigning && (self.seen_role != Role::Candidate || term != self.seen_term) {
            metrics::counter!("corral_replica_elections_started_total").increment(1);
        }
        if leader.is_some() && leader != self.seen_leader {
            metrics::counter!("corral_replica_leader_changes_total").increment(1);
        }
    }
}

/// The `peer` label: the peer's node id (bounded by the membership).
pub(crate) fn peer_label(id: NodeId) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lag_is_the_age_of_the_first_entry_the_follower_lacks() {
        let t0 = Instant::now();
        let mut clock = LogClock::default();
        clock.observe(10, t0);
        clock.observe(20, t0 + Duration::from_secs(1));
        clock.observe(20, t0 + Duration::from_secs(2));
        clock.observe(30, t0 + Duration::from_secs(3));
        let now = t0 + Duration::from_secs(5);
        assert_eq!(clock.lag_seconds(30, 30, now), 0.0);
        assert_eq!(clock.lag_seconds(25, 30, now), 2.0);
        assert_eq!(clock.lag_seconds(15, 30, now), 4.0);
        assert_eq!(clock.lag_seconds(5, 30, now), 5.0);
        clock.forget_through(20);
        assert_eq!(clock.lag_seconds(5, 30, now), 2.0);
    }

    #[test]
    fn the_clock_is_bounded() {
        let t0 = Instant::now();
        let mut clock = LogClock::default();
        for i in 0..(LOG_CLOCK_SAMPLES_MAX as u64 + 10) {
            clock.observe(i + 1, t0);
        }
        assert_eq!(clock.samples.len(), LOG_CLOCK_SAMPLES_MAX);
    }
}
