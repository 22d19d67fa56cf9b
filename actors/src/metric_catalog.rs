//! Every metric a node exports, with its help text: the one list the README,
//! the Grafana dashboard and the alert rules are written against.
//!
//! [`describe`] runs once at start: it gives each metric its `# HELP` line and
//! makes the counters exist at zero, so a node that never, say, campaigned
//! still exports `corral_replica_elections_started_total 0` and a rate over
//! it is 0 rather than absent.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets of observations (`_seconds`).
    Histogram,
}

/// (name, kind, labels, help) of every metric.
pub const METRICS: &[(&str, Kind, &str, &str)] = &[
    // Leadership.
    (
        "corral_replica_is_leader",
        Kind::Gauge,
        "",
        "1 while this node leads its term",
    ),
    (
        "corral_replica_leader_id",
        Kind::Gauge,
        "",
        "id of the leader this node knows (0: none)",
    ),
    (
        "corral_replica_term",
        Kind::Gauge,
        "",
        "current term (epoch)",
    ),
    (
        "corral_replica_elections_started_total",
        Kind::Counter,
        "",
        "elections this node started as a candidate",
    ),
    (
        "corral_replica_leader_gone_total",
        Kind::Counter,
        "",
        "times this node heard that its leader's process was gone (ICMP port unreachable) and campaigned at once",
    ),
    (
        "corral_replica_elections_won_total",
        Kind::Counter,
        "",
        "elections this node won",
    ),
    (
        "corral_replica_leader_changes_total",
        Kind::Counter,
        "",
        "times this node learnt of a new leader",
    ),
    // Log.
    (
        "corral_replica_last_index",
        Kind::Gauge,
        "",
        "last index in the log",
    ),
    (
        "corral_replica_persisted_index",
        Kind::Gauge,
        "",
        "last index durable in the WAL",
    ),
    (
        "corral_replica_committed_index",
        Kind::Gauge,
        "",
        "highest index known committed",
    ),
    (
        "corral_replica_applied_index",
        Kind::Gauge,
        "",
        "highest index applied to the tree",
    ),
    (
        "corral_replica_applied_entries_total",
        Kind::Counter,
        "",
        "log entries applied",
    ),
    (
        "corral_replica_proposals_total",
        Kind::Counter,
        "",
        "entries proposed as leader",
    ),
    (
        "corral_replica_commits_on_leader_durable_total",
        Kind::Counter,
        "",
        "follower: commits learned from the leader's news that its write is durable",
    ),
    (
        "corral_replica_rejected_messages_total",
        Kind::Counter,
        "why",
        "consensus messages refused, by reason",
    ),
    (
        "corral_follower_lag_entries",
        Kind::Gauge,
        "peer",
        "leader only: entries the follower lacks",
    ),
    (
        "corral_follower_lag_seconds",
        Kind::Gauge,
        "peer",
        "leader only: age of the oldest entry the follower lacks",
    ),
    (
        "corral_snapshot_index",
        Kind::Gauge,
        "",
        "last index covered by the newest snapshot",
    ),
    (
        "corral_snapshot_size_bytes",
        Kind::Gauge,
        "",
        "size of the newest snapshot taken here",
    ),
    (
        "corral_snapshot_duration_seconds",
        Kind::Histogram,
        "",
        "time to serialise and save a snapshot",
    ),
    (
        "corral_snapshots_taken_total",
        Kind::Counter,
        "",
        "snapshots taken here",
    ),
    (
        "corral_storage_fsync_seconds",
        Kind::Histogram,
        "",
        "time to write a group of WAL records and make it durable (one fdatasync, or direct writes)",
    ),
    (
        "corral_wal_written_bytes_total",
        Kind::Counter,
        "",
        "bytes appended to the WAL",
    ),
    // Requests.
    (
        "corral_requests_total",
        Kind::Counter,
        "op, result",
        "client requests answered, by operation and result",
    ),
    (
        "corral_request_duration_seconds",
        Kind::Histogram,
        "op",
        "receipt to reply, by operation",
    ),
    // State.
    (
        "corral_sessions",
        Kind::Gauge,
        "",
        "live sessions in the replicated tree",
    ),
    (
        "corral_sessions_open",
        Kind::Gauge,
        "",
        "session streams open on this node",
    ),
    (
        "corral_watches",
        Kind::Gauge,
        "",
        "(session, path) pairs watched on this node",
    ),
    (
        "corral_session_routes",
        Kind::Gauge,
        "",
        "session streams on this node that watch events are routed to",
    ),
    (
        "corral_watch_events_sent_total",
        Kind::Counter,
        "",
        "watch events and resync notices sent to this node's sessions",
    ),
    (
        "corral_watch_event_overflows_total",
        Kind::Counter,
        "",
        "session streams closed because their watch events overflowed",
    ),
    (
        "corral_znode_actors",
        Kind::Gauge,
        "",
        "ZnodeActors running on this node: one per watched znode",
    ),
    (
        "corral_znode_actor_overflows_total",
        Kind::Counter,
        "",
        "ZnodeActors whose queue filled: their watchers' streams were closed",
    ),
    (
        "corral_watch_events_fanned_out_total",
        Kind::Counter,
        "",
        "watch events ZnodeActors queued for this node's sessions",
    ),
    (
        "corral_znodes",
        Kind::Gauge,
        "",
        "znodes, the root included",
    ),
    (
        "corral_znode_data_bytes",
        Kind::Gauge,
        "",
        "bytes of znode data",
    ),
    ("corral_ephemerals", Kind::Gauge, "", "ephemeral znodes"),
    // Transport.
    (
        "corral_peer_connected",
        Kind::Gauge,
        "peer",
        "1 while this node's link to the peer is up",
    ),
    (
        "corral_peer_protocol_version",
        Kind::Gauge,
        "peer",
        "peer protocol version this node's link to the peer settled on (below the newest while the cluster is upgraded)",
    ),
    (
        "corral_peer_connects_total",
        Kind::Counter,
        "peer",
        "links established to the peer",
    ),
    (
        "corral_peer_rtt_seconds",
        Kind::Gauge,
        "peer",
        "smoothed QUIC round-trip time to the peer",
    ),
    (
        "corral_peer_congestion_window_bytes",
        Kind::Gauge,
        "peer",
        "QUIC congestion window towards the peer",
    ),
    (
        "corral_peer_lost_packets_total",
        Kind::Counter,
        "peer",
        "QUIC packets to the peer declared lost",
    ),
    (
        "corral_peer_sent_packets_total",
        Kind::Counter,
        "peer",
        "QUIC packets sent to the peer",
    ),
    (
        "corral_peer_sent_bytes_total",
        Kind::Counter,
        "peer",
        "UDP payload bytes sent to the peer",
    ),
    (
        "corral_peer_received_bytes_total",
        Kind::Counter,
        "peer",
        "UDP payload bytes received from the peer",
    ),
    (
        "corral_peer_dropped_messages_total",
        Kind::Counter,
        "",
        "messages dropped on a full peer queue",
    ),
    (
        "corral_peer_forwards_held_total",
        Kind::Counter,
        "peer",
        "forwarded writes held while the link to the peer was down, sent first once it was up",
    ),
    (
        "corral_peer_forwards_dropped_total",
        Kind::Counter,
        "peer",
        "forwarded writes dropped unsent for want of a link (held over 8 s, or beyond 4096 held)",
    ),
    (
        "corral_peer_protocol_errors_total",
        Kind::Counter,
        "",
        "peer links closed for a protocol violation",
    ),
    (
        "corral_client_connections",
        Kind::Gauge,
        "",
        "client QUIC connections open on this node",
    ),
    // The runtime.
    (
        "corral_runtime_idle_poll_seconds",
        Kind::Histogram,
        "",
        "windows a busy runtime thread polled its sockets before it slept (runtime.idle_poll_us)",
    ),
    (
        "corral_runtime_idle_polls_ready_total",
        Kind::Counter,
        "",
        "idle-poll windows that a message ended before they ran out",
    ),
];

/// Describes every metric and makes the unlabelled counters and gauges
/// exist at zero.
pub fn describe() {
    for &(name, kind, labels, help) in METRICS {
        match kind {
            Kind::Counter => {
                describe_counter!(name, help);
                if labels.is_empty() {
                    metrics::counter!(name).increment(0);
                }
            }
            Kind::Gauge => {
                describe_gauge!(name, help);
                if labels.is_empty() {
                    metrics::gauge!(name).increment(0.0);
                }
            }
            Kind::Histogram => describe_histogram!(name, metrics::Unit::Seconds, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        for &(name, kind, labels, _) in METRICS {
            assert!(name.starts_with("corral_"), "{name}");
            assert_eq!(kind == Kind::Counter, name.ends_with("_total"), "{name}");
            if kind == Kind::Histogram {
                assert!(name.ends_with("_seconds"), "{name}");
            }
            for label in labels.split(", ").filter(|l| !l.is_empty()) {
                assert!(
                    ["peer", "op", "result", "why"].contains(&label),
                    "{name}: {label}"
                );
            }
        }
    }

    /// Every `corral_*` name in `text`, with a histogram's series suffix removed.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("corral_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            names.insert(base.to_owned());
            rest = &tail[end..];
        }
        names
    }

    #[test]
    fn the_dashboard_and_the_alerts_use_only_metrics_of_the_catalog() {
        let known: std::collections::BTreeSet<&str> = METRICS.iter().map(|m| m.0).collect();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../grafana/");
        for file in ["dashboards/corral-cluster.json", "alerts/corral.rules.yml"] {
            let text = std::fs::read_to_string(format!("{root}{file}")).unwrap();
            let names = names_in(&text);
            assert!(names.len() >= 3, "{file}: {names:?}");
            for name in names {
                assert!(
                    known.contains(name.as_str()),
                    "{file} uses unknown metric {name}"
                );
            }
        }
    }
}
