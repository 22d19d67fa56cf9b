//! The node's configuration file (`node.toml`): what `corral serve` reads.
//!
//! Parsing is strict: an unknown key, a missing field or a value out of range
//! is refused with an error that names the field, so a typo never silently
//! falls back to a default. See the README for the format and
//! `examples/cluster-3/` for a 3-node example.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use corral_transport::wire::PEER_PROTOCOL_VERSIONS;
use serde::{Deserialize, Serialize};

/// Whether a node votes in elections or only follows the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Votes and can lead.
    Voter,
    /// A learner: receives the log, serves reads, forwards writes, never votes.
    Observer,
}

/// The whole configuration of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeConfig {
    /// This node's id (1..); must match the id in its certificate.
    pub(crate) id: u64,
    /// Name of the cluster; peers of another cluster are refused.
    pub(crate) cluster: String,
    /// Voter or observer.
    pub(crate) role: Role,
    /// UDP address for QUIC, serving both the peer and the client ALPN.
    pub(crate) listen: SocketAddr,
    /// Where the WAL and snapshots live.
    pub(crate) data_dir: PathBuf,
    /// Address of the HTTP endpoint for `/metrics`, `/health` and `/ready`.
    pub(crate) metrics_listen: SocketAddr,
    /// Certificate paths.
    pub(crate) tls: TlsConfig,
    /// The other members of the cluster.
    #[serde(default)]
    pub(crate) peers: Vec<PeerConfig>,
    /// Clock and timeouts.
    #[serde(default)]
    pub(crate) timing: TimingConfig,
    /// Bounds on everything that grows.
    #[serde(default)]
    pub(crate) limits: LimitsConfig,
    /// Whether metrics are recorded.
    #[serde(default)]
    pub(crate) metrics: MetricsConfig,
    /// The async runtime's threads.
    #[serde(default)]
    pub(crate) runtime: RuntimeConfig,
    /// The newest peer protocol version this node offers (by default the
    /// newest this build speaks). Links to nodes of the version before settle
    /// on it anyway; this holds every link of the node to an older one.
    #[serde(default)]
    pub(crate) peer_protocol_version: Option<u32>,
}

/// The `[runtime]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RuntimeConfig {
    /// Threads running the node's actors and links; 0 (the default) means one
    /// per CPU core. Replicas that share a machine (`corral dev`) do better
    /// with their share of the cores: every hand-off between two threads is a
    /// wake-up that costs a write tens of microseconds. With 1 the node runs
    /// on one thread whose wake-ups queue in order, so the replies of one
    /// commit leave together.
    pub(crate) worker_threads: u16,
    /// Microseconds a runtime thread polls the node's sockets before it
    /// sleeps, so a message that lands meanwhile needs no wake-up; 0 turns
    /// polling off (see `idle_poll`).
    pub(crate) idle_poll_us: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            worker_threads: 0,
            idle_poll_us: IDLE_POLL_US_DEFAULT,
        }
    }
}

/// The default `idle_poll_us`: a lone write's next message (the follower's
/// ack after the leader's own write, the client's next request) mostly
/// lands within it. Seastar's `--idle-poll-time-us` has the same default.
const IDLE_POLL_US_DEFAULT: u32 = 200;

/// The largest `idle_poll_us`: beyond it, a timer the poll does not watch
/// would be late by more than a heartbeat's slack.
const IDLE_POLL_US_MAX: u32 = 10_000;

/// The `[metrics]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MetricsConfig {
    /// Record metrics (true). When false no recorder is installed: `/metrics`
    /// shows only the replica's status gauges, read from the read view.
    pub(crate) enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Paths of the node's certificate, key and the cluster CA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsConfig {
    /// The cluster CA certificate (PEM).
    pub(crate) ca: PathBuf,
    /// This node's certificate (PEM).
    pub(crate) cert: PathBuf,
    /// This node's private key (PEM).
    pub(crate) key: PathBuf,
}

/// Another member of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PeerConfig {
    /// Its node id.
    pub(crate) id: u64,
    /// Its QUIC address.
    pub(crate) address: SocketAddr,
    /// Voter or observer.
    pub(crate) role: Role,
}

/// The logical clock and the timeouts counted in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TimingConfig {
    /// Length of one tick.
    pub(crate) tick_ms: u64,
    /// Election timeout (randomized in [this, 2 × this)).
    pub(crate) election_timeout_ticks: u32,
    /// Interval of leader heartbeats.
    pub(crate) heartbeat_ticks: u32,
    /// Smallest session timeout a client may negotiate.
    pub(crate) session_timeout_ms_min: u64,
    /// Largest session timeout a client may negotiate.
    pub(crate) session_timeout_ms_max: u64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        Self {
            tick_ms: 50,
            election_timeout_ticks: 10,
            heartbeat_ticks: 2,
            session_timeout_ms_min: 2_000,
            session_timeout_ms_max: 60_000,
        }
    }
}

/// Bounds on sizes and queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    /// Largest znode data.
    pub(crate) data_bytes_max: u32,
    /// Largest frame accepted on any stream.
    pub(crate) frame_bytes_max: u32,
    /// Requests one session may have in flight before it is slowed down.
    pub(crate) session_requests_inflight_max: u32,
    /// Client sessions this node serves at once.
    pub(crate) sessions_max: u32,
    /// Watches one session may hold.
    pub(crate) watches_per_session_max: u32,
    /// Recent znode changes kept to replay to reconnecting persistent watches.
    pub(crate) watch_history_changes: u32,
    /// Entries after which a snapshot is taken.
    pub(crate) snapshot_entries: u64,
    /// Bytes of applied entries after which a snapshot is taken.
    pub(crate) snapshot_bytes: u64,
    /// Size of one WAL segment file.
    pub(crate) wal_segment_bytes_max: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            data_bytes_max: 1 << 20,
            frame_bytes_max: 4 << 20,
            session_requests_inflight_max: 1_000,
            sessions_max: 60_000,
            watches_per_session_max: 100_000,
            watch_history_changes: 65_536,
            snapshot_entries: 100_000,
            snapshot_bytes: 256 << 20,
            wal_segment_bytes_max: 64 << 20,
        }
    }
}

impl NodeConfig {
    /// Reads and validates the configuration at `path`; relative paths in it
    /// are taken from the file's directory.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut config = Self::parse(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        if let Some(base) = path.parent() {
            config.resolve_paths(base);
        }
        Ok(config)
    }

    /// Parses and validates configuration text.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let config: NodeConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.data_dir,
            &mut self.tls.ca,
            &mut self.tls.cert,
            &mut self.tls.key,
        ] {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.id == 0 {
            bail!("field `id`: must be at least 1");
        }
        if self.cluster.is_empty() {
            bail!("field `cluster`: must not be empty");
        }
        let mut ids = BTreeSet::from([self.id]);
        for (i, peer) in self.peers.iter().enumerate() {
            if !ids.insert(peer.id) {
                bail!("field `peers[{i}].id`: node id {} appears twice", peer.id);
            }
        }
        let voters = self.peers.iter().filter(|p| p.role == Role::Voter).count()
            + usize::from(self.role == Role::Voter);
        if voters == 0 {
            bail!("field `role`/`peers`: the cluster needs at least one voter");
        }
        if let Some(version) = self.peer_protocol_version {
            let spoken = PEER_PROTOCOL_VERSIONS;
            if !spoken.contains(&version) {
                bail!(
                    "field `peer_protocol_version`: {version} is not a version this build speaks ({}..={})",
                    spoken.start(),
                    spoken.end()
                );
            }
        }
        self.timing.validate()?;
        self.limits.validate()?;
        self.runtime.validate()
    }
}

impl RuntimeConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if self.idle_poll_us > IDLE_POLL_US_MAX {
            bail!(
                "field `runtime.idle_poll_us`: {} is above {IDLE_POLL_US_MAX} (a timer could be late by that much; 0 turns polling off)",
                self.idle_poll_us
            );
        }
        Ok(())
    }
}

impl TimingConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=10_000).contains(&self.tick_ms) {
            bail!(
                "field `timing.tick_ms`: {} is outside 1..=10000",
                self.tick_ms
            );
        }
        if self.heartbeat_ticks == 0 {
            bail!("field `timing.heartbeat_ticks`: must be at least 1");
        }
        if self.election_timeout_ticks < 2 * self.heartbeat_ticks {
            bail!(
                "field `timing.election_timeout_ticks`: {} must be at least twice heartbeat_ticks ({})",
                self.election_timeout_ticks,
                self.heartbeat_ticks
            );
        }
        if self.session_timeout_ms_min == 0
            || self.session_timeout_ms_min > self.session_timeout_ms_max
        {
            bail!(
                "field `timing.session_timeout_ms_min`: {} must be at least 1 and not above session_timeout_ms_max ({})",
                self.session_timeout_ms_min,
                self.session_timeout_ms_max
            );
        }
        Ok(())
    }
}

impl LimitsConfig {
    fn validate(&self) -> anyhow::Result<()> {
        let nonzero = [
            ("limits.data_bytes_max", u64::from(self.data_bytes_max)),
            ("limits.frame_bytes_max", u64::from(self.frame_bytes_max)),
            (
                "limits.session_requests_inflight_max",
                u64::from(self.session_requests_inflight_max),
            ),
            ("limits.sessions_max", u64::from(self.sessions_max)),
            (
                "limits.watches_per_session_max",
                u64::from(self.watches_per_session_max),
            ),
            (
                "limits.watch_history_changes",
                u64::from(self.watch_history_changes),
            ),
            ("limits.snapshot_entries", self.snapshot_entries),
            ("limits.snapshot_bytes", self.snapshot_bytes),
            ("limits.wal_segment_bytes_max", self.wal_segment_bytes_max),
        ];
        for (field, value) in nonzero {
            if value == 0 {
                bail!("field `{field}`: must be at least 1");
            }
        }
        if self.frame_bytes_max < self.data_bytes_max.saturating_add(64 << 10) {
            bail!(
                "field `limits.frame_bytes_max`: {} cannot carry data of data_bytes_max ({}) plus headers",
                self.frame_bytes_max,
                self.data_bytes_max
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_transport::wire::PEER_PROTOCOL_VERSION;

    const GOOD: &str = r#"
        id = 1
        cluster = "dev"
        role = "voter"
        listen = "127.0.0.1:7001"
        data_dir = "data/1"
        metrics_listen = "127.0.0.1:9001"

        [tls]
        ca = "certs/ca.pem"
        cert = "certs/node-1.pem"
        key = "certs/node-1.key"

        [[peers]]
        id = 2
        address = "127.0.0.1:7002"
        role = "voter"

        [[peers]]
        id = 3
        address = "127.0.0.1:7003"
        role = "observer"
    "#;

    fn error_of(text: &str) -> String {
        format!("{:#}", NodeConfig::parse(text).unwrap_err())
    }

    #[test]
    fn a_complete_config_parses_with_defaults_for_timing_and_limits() {
        let config = NodeConfig::parse(GOOD).unwrap();
        assert_eq!(config.id, 1);
        assert_eq!(config.peers.len(), 2);
        assert_eq!(config.peers[1].role, Role::Observer);
        assert_eq!(config.timing, TimingConfig::default());
        assert_eq!(config.limits.data_bytes_max, 1 << 20);
        assert!(config.metrics.enabled);
    }

    #[test]
    fn metrics_can_be_turned_off() {
        let text = format!("{GOOD}\n[metrics]\nenabled = false\n");
        assert!(!NodeConfig::parse(&text).unwrap().metrics.enabled);
        let text = format!("{GOOD}\n[metrics]\nenable = false\n");
        assert!(error_of(&text).contains("enable"), "{}", error_of(&text));
    }

    #[test]
    fn runtime_threads_default_to_one_per_core_and_can_be_set() {
        assert_eq!(NodeConfig::parse(GOOD).unwrap().runtime.worker_threads, 0);
        let text = format!("{GOOD}\n[runtime]\nworker_threads = 1\n");
        assert_eq!(NodeConfig::parse(&text).unwrap().runtime.worker_threads, 1);
        let text = format!("{GOOD}\n[runtime]\nworker_threads = -1\n");
        assert!(
            error_of(&text).contains("worker_threads"),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn idle_polling_defaults_on_can_be_turned_off_and_is_bounded() {
        let runtime = NodeConfig::parse(GOOD).unwrap().runtime;
        assert_eq!(runtime.idle_poll_us, IDLE_POLL_US_DEFAULT);
        let text = format!("{GOOD}\n[runtime]\nidle_poll_us = 0\n");
        assert_eq!(NodeConfig::parse(&text).unwrap().runtime.idle_poll_us, 0);
        assert_eq!(NodeConfig::parse(&text).unwrap().runtime.worker_threads, 0);
        let text = format!("{GOOD}\n[runtime]\nidle_poll_us = 10001\n");
        assert!(
            error_of(&text).contains("runtime.idle_poll_us"),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = GOOD.replace("metrics_listen = \"127.0.0.1:9001\"", "");
        assert!(
            error_of(&text).contains("metrics_listen"),
            "{}",
            error_of(&text)
        );
        let text = GOOD.replace("key = \"certs/node-1.key\"", "");
        assert!(error_of(&text).contains("key"), "{}", error_of(&text));
    }

    #[test]
    fn an_unknown_key_is_refused_and_named() {
        let text = GOOD.replace(
            "role = \"voter\"\n        listen",
            "role = \"voter\"\n        lisen = 1\n        listen",
        );
        assert!(error_of(&text).contains("lisen"), "{}", error_of(&text));
    }

    #[test]
    fn a_bad_value_is_refused_and_named() {
        let text = GOOD.replace("127.0.0.1:7002", "nowhere");
        assert!(error_of(&text).contains("address"), "{}", error_of(&text));
        let text = GOOD.replace("role = \"observer\"", "role = \"boss\"");
        assert!(error_of(&text).contains("boss"), "{}", error_of(&text));
        let text = GOOD.replace("id = 1\n", "id = 0\n");
        assert!(
            error_of(&text).contains("field `id`"),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let text = GOOD.replace("id = 3", "id = 2");
        assert!(
            error_of(&text).contains("peers[1].id"),
            "{}",
            error_of(&text)
        );
        let text = GOOD.replace("id = 3", "id = 1");
        assert!(
            error_of(&text).contains("appears twice"),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn inconsistent_timing_and_limits_are_refused() {
        let text = format!("{GOOD}\n[timing]\nelection_timeout_ticks = 1\n");
        assert!(
            error_of(&text).contains("timing.election_timeout_ticks"),
            "{}",
            error_of(&text)
        );
        let text = format!("{GOOD}\n[limits]\nframe_bytes_max = 1000\n");
        assert!(
            error_of(&text).contains("limits.frame_bytes_max"),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, GOOD).unwrap();
        let config = NodeConfig::load(&path).unwrap();
        assert_eq!(config.data_dir, dir.path().join("data/1"));
        assert_eq!(config.tls.ca, dir.path().join("certs/ca.pem"));
    }

    #[test]
    fn the_peer_protocol_version_is_one_this_build_speaks() {
        assert_eq!(NodeConfig::parse(GOOD).unwrap().peer_protocol_version, None);
        let older = NodeConfig::parse(&format!("peer_protocol_version = 2\n{GOOD}")).unwrap();
        assert_eq!(older.peer_protocol_version, Some(2));
        for bad in [1, PEER_PROTOCOL_VERSION + 1] {
            let err = error_of(&format!("peer_protocol_version = {bad}\n{GOOD}"));
            assert!(
                err.contains("peer_protocol_version")
                    && err.contains(&format!("{bad} is not a version")),
                "{err}"
            );
        }
    }
}
