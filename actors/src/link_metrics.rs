//! Per-peer QUIC metrics, sampled from quinn's connection statistics.
//!
//! Each peer pair has two connections (each node dials the other and only
//! sends on its own), so both the dialled and the accepted link of a peer
//! are sampled into the same series: `corral_peer_rtt_seconds{peer}` from
//! the dialled one, and the byte and loss counters from both, added as
//! deltas so a reconnect (whose quinn counters start from zero) never makes
//! a counter go back.

use std::time::Duration;

use corral_core::broadcast::NodeId;
use corral_transport::{Link, LinkStats};

/// How often a live link's statistics are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Samples one link of one peer.
#[derive(Debug)]
pub struct LinkSampler {
    peer: String,
    dialled: bool,
    last: LinkStats,
}

impl LinkSampler {
    /// A sampler for a new connection to `peer`; `dialled` is true for the
    /// link this node opened (the one whose RTT is reported).
    pub fn new(peer: NodeId, dialled: bool) -> Self {
        Self {
            peer: peer.to_string(),
            dialled,
            last: LinkStats::default(),
        }
    }

    /// Reads the link's statistics and records what changed since the last sample.
    pub fn sample(&mut self, link: &Link) {
        let now = link.stats();
        let peer = self.peer.clone();
        if self.dialled {
            metrics::gauge!("corral_peer_rtt_seconds", "peer" => peer.clone())
                .set(now.rtt_us as f64 / 1e6);
            metrics::gauge!("corral_peer_congestion_window_bytes", "peer" => peer.clone())
                .set(now.congestion_window_bytes as f64);
        }
        metrics::counter!("corral_peer_lost_packets_total", "peer" => peer.clone())
            .increment(now.lost_packets.saturating_sub(self.last.lost_packets));
        metrics::counter!("corral_peer_sent_packets_total", "peer" => peer.clone())
            .increment(now.sent_packets.saturating_sub(self.last.sent_packets));
        metrics::counter!("corral_peer_sent_bytes_total", "peer" => peer.clone())
            .increment(now.sent_bytes.saturating_sub(self.last.sent_bytes));
        metrics::counter!("corral_peer_received_bytes_total", "peer" => peer)
            .increment(now.received_bytes.saturating_sub(self.last.received_bytes));
        self.last = now;
    }
}

/// Records whether this node's dialled link to `peer` is up.
pub fn set_connected(peer: NodeId, up: bool) {
    metrics::gauge!("corral_peer_connected", "peer" => peer.to_string())
        .set(f64::from(u8::from(up)));
}

/// Records the peer protocol version this node's dialled link to `peer` speaks.
pub fn set_protocol_version(peer: NodeId, version: u32) {
    metrics::gauge!("corral_peer_protocol_version", "peer" => peer.to_string())
        .set(f64::from(version));
}

/// Counts a forwarded write held while the link to `peer` was down.
pub fn count_forward_held(peer: NodeId) {
    metrics::counter!("corral_peer_forwards_held_total", "peer" => peer.to_string()).increment(1);
}

/// Counts forwarded writes dropped unsent for want of a link to `peer`.
pub fn count_forwards_dropped(peer: NodeId, n: usize) {
    metrics::counter!("corral_peer_forwards_dropped_total", "peer" => peer.to_string())
        .increment(n as u64);
}

/// Counts one successful dial of `peer`.
pub fn count_connect(peer: NodeId) {
    metrics::counter!("corral_peer_connects_total", "peer" => peer.to_string()).increment(1);
}

/// Makes every per-peer series exist from the start (zero), so dashboards
/// and alerts see a peer that was never reached.
pub fn register_peer(peer: NodeId) {
    let label = peer.to_string();
    set_connected(peer, false);
    metrics::gauge!("corral_peer_rtt_seconds", "peer" => label.clone()).set(0.0);
    for name in [
        "corral_peer_lost_packets_total",
        "corral_peer_sent_packets_total",
        "corral_peer_sent_bytes_total",
        "corral_peer_received_bytes_total",
        "corral_peer_connects_total",
        "corral_peer_forwards_held_total",
        "corral_peer_forwards_dropped_total",
    ] {
        metrics::counter!(name, "peer" => label.clone()).increment(0);
    }
}
