//! What one node is started with: its identity, its peers, its timing and its
//! limits. The binary builds a [`NodeSpec`] from `node.toml`; tests build one
//! directly.

use std::net::SocketAddr;
use std::path::PathBuf;

use corral_core::broadcast::{Config, Membership, NodeId};
use corral_core::tree::Limits;
use corral_transport::LinkConfig;

/// Another member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Its node id (proved by its certificate).
    pub id: NodeId,
    /// Its QUIC address.
    pub address: SocketAddr,
    /// A learner: receives the log, never votes.
    pub observer: bool,
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// This node's id; must match its certificate.
    pub id: NodeId,
    /// The cluster's name; links from another cluster are refused.
    pub cluster_id: String,
    /// Whether this node is a learner (observer).
    pub observer: bool,
    /// UDP address serving both ALPNs.
    pub listen: SocketAddr,
    /// Where `wal/` and `snapshots/` live.
    pub data_dir: PathBuf,
    /// The other members.
    pub peers: Vec<PeerSpec>,
    /// Length of one consensus tick.
    pub tick_ms: u64,
    /// Election timeout in ticks (randomised in `[this, 2 × this)`).
    pub election_timeout_ticks: u32,
    /// Leader heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Smallest session timeout granted.
    pub session_timeout_ms_min: i64,
    /// Largest session timeout granted.
    pub session_timeout_ms_max: i64,
    /// Largest znode data.
    pub data_bytes_max: usize,
    /// Largest frame on any stream.
    pub frame_bytes_max: u32,
    /// Requests one session may have in flight; the next one waits.
    pub session_requests_inflight_max: usize,
    /// Sessions served at once by this node.
    pub sessions_max: usize,
    /// Applied entries after which a snapshot is taken.
    pub snapshot_entries: u64,
    /// Applied entry bytes after which a snapshot is taken.
    pub snapshot_bytes: u64,
    /// Size of one WAL segment.
    pub wal_segment_bytes_max: u64,
    /// Messages queued for one peer; more are dropped (consensus resends).
    pub peer_queue_len_max: usize,
    /// Messages from the network and sessions waiting in the replica's mailbox.
    pub replica_mailbox_max: usize,
    /// Watches one session may hold on this node.
    pub watches_per_session_max: usize,
    /// Recent znode changes kept so reconnecting persistent watches replay what they missed.
    pub watch_history_changes: usize,
    /// The newest peer protocol version this node offers on its links.
    pub peer_protocol_version: u32,
}

impl NodeSpec {
    /// A spec with the default timing and limits (tests adjust fields).
    pub fn new(id: NodeId, listen: SocketAddr, data_dir: PathBuf, peers: Vec<PeerSpec>) -> Self {
        Self {
            id,
            cluster_id: "corral".into(),
            observer: false,
            listen,
            data_dir,
            peers,
            tick_ms: 50,
            election_timeout_ticks: 10,
            heartbeat_ticks: 2,
            session_timeout_ms_min: 2_000,
            session_timeout_ms_max: 60_000,
            data_bytes_max: 1 << 20,
            frame_bytes_max: 4 << 20,
            session_requests_inflight_max: 1_000,
            sessions_max: 60_000,
            snapshot_entries: 100_000,
            snapshot_bytes: 256 << 20,
            wal_segment_bytes_max: 64 << 20,
            peer_queue_len_max: 8_192,
            replica_mailbox_max: 16_384,
            watches_per_session_max: 100_000,
            watch_history_changes: corral_core::tree::HISTORY_CHANGES_DEFAULT,
            peer_protocol_version: corral_transport::wire::PEER_PROTOCOL_VERSION,
        }
    }

    /// The founding membership: every voter and observer named in the spec.
    pub fn membership(&self) -> Membership {
        let mut membership = Membership::default();
        let members = self
            .peers
            .iter()
            .map(|p| (p.id, p.observer))
            .chain([(self.id, self.observer)]);
        for (id, observer) in members {
            if observer {
                membership.learners.insert(id);
            } else {
                membership.voters.insert(id);
            }
        }
        membership
    }

    /// The consensus core's configuration.
    pub fn consensus_config(&self) -> Config {
        let mut cfg = Config::new(self.id);
        cfg.election_timeout_ticks = self.election_timeout_ticks;
        cfg.heartbeat_interval_ticks = self.heartbeat_ticks;
        let frame = u64::from(self.frame_bytes_max);
        // One append or snapshot chunk must fit a frame with room for headers.
        let chunk = (frame / 4).clamp(4 << 10, 1 << 20);
        cfg.max_size_per_msg_bytes = chunk;
        cfg.snapshot_chunk_bytes = chunk;
        cfg.max_entry_bytes = (self.data_bytes_max as u64).saturating_add(64 << 10);
        cfg.max_message_bytes = frame;
        cfg
    }

    /// The data tree's limits (the same on every replica: they are in snapshots).
    pub fn tree_limits(&self) -> Limits {
        Limits {
            data_bytes_max: self.data_bytes_max,
            session_timeout_ms_max: self.session_timeout_ms_max,
            ..Limits::default()
        }
    }

    /// The QUIC links' limits.
    ///
    /// A peer killed without a goodbye (kill -9, power loss) leaves our link to
    /// it open until the idle timeout: nothing we send reaches its successor
    /// until we redial. So the idle timeout is a few election timeouts (3 s at
    /// the defaults), with keep-alives at a third of it, instead of quinn's
    /// 30 s: a restarted peer hears from us again within seconds.
    pub fn link_config(&self) -> LinkConfig {
        let election_ms = self
            .tick_ms
            .saturating_mul(u64::from(self.election_timeout_ticks));
        let idle_timeout_ms = u32::try_from(election_ms.saturating_mul(6).max(3_000))
            .unwrap_or(u32::MAX)
            .min(30_000);
        LinkConfig {
            cluster_id: self.cluster_id.clone(),
            frame_bytes_max: self.frame_bytes_max,
            idle_timeout_ms,
            keep_alive_ms: (idle_timeout_ms / 3).max(1),
            peer_protocol_version: self.peer_protocol_version,
            ..LinkConfig::default()
        }
    }

    /// The limits of the links this node dials to its peers: those of
    /// [`NodeSpec::link_config`], with a keep-alive of one and a half
    /// heartbeat intervals. A follower's own link to its leader carries only
    /// its answers to the leader's heartbeats, so once the leader's process
    /// is gone the keep-alive is the next datagram sent there, and the ICMP
    /// port unreachable it draws tells the follower to campaign
    /// (`Node::peer_gone`) long before its election timeout. While the
    /// leader lives, its replies keep the keep-alive from firing.
    pub fn peer_dial_link_config(&self) -> LinkConfig {
        let base = self.link_config();
        let heartbeat_ms = self.tick_ms.saturating_mul(u64::from(self.heartbeat_ticks));
        let keep_alive_ms = u32::try_from(heartbeat_ms.saturating_mul(3) / 2)
            .unwrap_or(u32::MAX)
            .clamp(1, base.keep_alive_ms);
        LinkConfig {
            keep_alive_ms,
            ..base
        }
    }

    /// The address of peer `id`, if it is one.
    pub fn peer(&self, id: NodeId) -> Option<&PeerSpec> {
        self.peers.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> NodeSpec {
        NodeSpec::new(1, "127.0.0.1:0".parse().unwrap(), "/tmp".into(), Vec::new())
    }

    #[test]
    fn peers_are_dialled_with_a_keep_alive_of_one_and_a_half_heartbeats() {
        let spec = spec();
        let dial = spec.peer_dial_link_config();
        assert_eq!(dial.keep_alive_ms, 150, "50 ms ticks, 2-tick heartbeats");
        let base = spec.link_config();
        assert_eq!(base.keep_alive_ms, 1_000, "the accepting side is unchanged");
        assert_eq!(dial.idle_timeout_ms, base.idle_timeout_ms);
        assert!(dial.validate().is_ok());
    }

    #[test]
    fn a_slow_heartbeat_keeps_the_usual_keep_alive() {
        let mut spec = spec();
        spec.heartbeat_ticks = 10;
        spec.election_timeout_ticks = 100;
        spec.tick_ms = 1_000;
        let dial = spec.peer_dial_link_config();
        assert_eq!(dial.keep_alive_ms, spec.link_config().keep_alive_ms);
        assert!(dial.validate().is_ok());
    }
}
