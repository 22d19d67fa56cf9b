//! Limits and timing of one consensus node: every queue, batch and message has a
//! named maximum here, checked where data enters.

use super::NodeId;

/// Configuration of one [`Node`](super::Node). Construct with [`Config::new`] and
/// adjust fields; [`Config::validate`] is called by the node's constructor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This node's id; never 0.
    pub id: NodeId,
    /// Base election timeout; each term a follower waits a random number of ticks
    /// in `[election_timeout_ticks, 2 * election_timeout_ticks)`.
    pub election_timeout_ticks: u32,
    /// The leader sends heartbeats every this many ticks; must be below the
    /// election timeout.
    pub heartbeat_interval_ticks: u32,
    /// Campaign with a pre-vote round first, so a node that was partitioned away
    /// cannot disrupt a healthy leader by bumping the term.
    pub pre_vote: bool,
    /// The leader steps down when it has not heard from a quorum within an
    /// election timeout, and followers ignore votes while they hear a leader.
    pub check_quorum: bool,
    /// Most entry bytes packed into one AppendEntries message (at least one entry
    /// is always sent).
    pub max_size_per_msg_bytes: u64,
    /// Most entries packed into one AppendEntries message.
    pub max_entries_per_msg: u64,
    /// Most AppendEntries messages in flight to one follower (pipelining depth).
    pub max_inflight_msgs: usize,
    /// Most entry bytes in flight to one follower.
    pub max_inflight_bytes: u64,
    /// Most bytes of proposed but uncommitted entries on the leader; proposals
    /// beyond it are refused with [`ProposeError::Backpressure`](super::ProposeError).
    pub max_uncommitted_bytes: u64,
    /// Largest payload of one entry.
    pub max_entry_bytes: u64,
    /// Most committed entries handed out to apply in one [`Ready`](super::Ready).
    pub max_committed_entries_per_ready: u64,
    /// Most entries accepted in one proposal batch.
    pub max_batch_entries: usize,
    /// Largest encoded message accepted by [`Message::decode`](super::Message::decode).
    pub max_message_bytes: u64,
    /// Bytes of snapshot data per InstallSnapshot chunk.
    pub snapshot_chunk_bytes: u64,
    /// Largest snapshot a follower accepts from a leader.
    pub max_snapshot_bytes: u64,
    /// Most ReadIndex requests waiting on the leader.
    pub max_pending_reads: usize,
    /// Largest ReadIndex request context.
    pub max_read_context_bytes: u64,
    /// Test-only: grant (pre-)votes without the log up-to-date check. Breaks
    /// safety on purpose, so the simulator can prove its checker catches it.
    #[doc(hidden)]
    pub test_break_vote_log_check: bool,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid broadcast config: {0}")]
pub struct ConfigError(pub &'static str);

impl Config {
    /// Defaults suited to a LAN cluster ticked every ~100 ms.
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 1,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg_bytes: 1 << 20,
            max_entries_per_msg: 4096,
            max_inflight_msgs: 64,
            max_inflight_bytes: 16 << 20,
            max_uncommitted_bytes: 64 << 20,
            max_entry_bytes: 1 << 20,
            max_batch_entries: 4096,
            max_committed_entries_per_ready: 4096,
            max_message_bytes: 20 << 20,
            snapshot_chunk_bytes: 1 << 20,
            max_snapshot_bytes: 4 << 30,
            max_pending_reads: 4096,
            max_read_context_bytes: 1024,
            test_break_vote_log_check: false,
        }
    }

    /// Checks that the values are usable together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks: &[(bool, &'static str)] = &[
            (self.id != 0, "id must not be 0"),
            (
                self.max_committed_entries_per_ready >= 1,
                "max_committed_entries_per_ready must be >= 1",
            ),
            (
                self.election_timeout_ticks >= 2,
                "election_timeout_ticks must be >= 2",
            ),
            (
                self.heartbeat_interval_ticks >= 1,
                "heartbeat_interval_ticks must be >= 1",
            ),
            (
                self.heartbeat_interval_ticks < self.election_timeout_ticks,
                "heartbeat_interval_ticks must be below election_timeout_ticks",
            ),
            (
                self.max_inflight_msgs >= 1,
                "max_inflight_msgs must be >= 1",
            ),
            (
                self.max_entries_per_msg >= 1,
                "max_entries_per_msg must be >= 1",
            ),
            (
                self.max_batch_entries >= 1,
                "max_batch_entries must be >= 1",
            ),
            (
                self.snapshot_chunk_bytes >= 1,
                "snapshot_chunk_bytes must be >= 1",
            ),
            (
                self.max_message_bytes > self.max_size_per_msg_bytes.max(self.snapshot_chunk_bytes),
                "max_message_bytes must exceed max_size_per_msg_bytes and snapshot_chunk_bytes",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err(ConfigError(why)),
            None => Ok(()),
        }
    }
}
