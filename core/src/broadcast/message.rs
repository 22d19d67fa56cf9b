//! Wire types: log entries, persistent state and the messages peers exchange.
//! All are serde types encoded with postcard; [`Message::decode`] bounds the size.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::NodeId;
use super::membership::{ConfChange, Membership};

/// Fixed per-entry overhead counted in byte limits (index, term, tag).
pub(crate) const ENTRY_OVERHEAD_BYTES: u64 = 24;

/// One log entry. Its index is the zxid; its term is the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log (zxid), starting at 1.
    pub index: u64,
    /// Term (epoch) of the leader that created it.
    pub term: u64,
    /// What the entry carries.
    pub kind: EntryKind,
}

/// The content of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// Appended by every new leader so it can commit through its own term.
    Noop,
    /// An opaque request encoded by the caller (a data-tree transaction).
    Normal(Bytes),
    /// A membership change; takes effect as soon as it is in a node's log.
    ConfChange(ConfChange),
    /// The founding membership, always entry 1: it reaches nodes that join
    /// later through the log like any other configuration.
    Bootstrap(Membership),
}

impl EntryKind {
    /// Whether the entry changes the membership.
    pub fn is_conf(&self) -> bool {
        matches!(self, EntryKind::ConfChange(_) | EntryKind::Bootstrap(_))
    }
}

impl Entry {
    /// Bytes this entry counts for in size limits.
    pub fn size_bytes(&self) -> u64 {
        let payload = match &self.kind {
            EntryKind::Normal(data) => data.len() as u64,
            EntryKind::Noop | EntryKind::ConfChange(_) | EntryKind::Bootstrap(_) => 0,
        };
        payload + ENTRY_OVERHEAD_BYTES
    }
}

/// The state that must survive a crash besides the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// Current term.
    pub term: u64,
    /// Candidate voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// Highest index known committed (an optimisation for restart; may lag).
    pub commit: u64,
}

/// What a snapshot covers: everything up to `index`, and the membership there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Last index the snapshot contains.
    pub index: u64,
    /// Term of the entry at `index`.
    pub term: u64,
    /// Membership in force at `index`.
    pub membership: Membership,
}

/// A state-machine snapshot: metadata plus the caller's opaque bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Which prefix of the log it replaces.
    pub meta: SnapshotMeta,
    /// The state machine's serialised state at `meta.index`.
    pub data: Bytes,
}

/// One message between two consensus nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Recipient.
    pub to: NodeId,
    /// Sender's term (for a pre-vote request: the term it would campaign in).
    pub term: u64,
    /// What the message says.
    pub body: Body,
}

/// The kinds of message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// "Would you vote for me?" without changing anyone's term.
    PreVote {
        /// Candidate's last log index.
        last_index: u64,
        /// Candidate's last log term.
        last_term: u64,
    },
    /// Answer to a pre-vote.
    PreVoteResponse {
        /// Whether the vote would be granted.
        granted: bool,
    },
    /// A real vote request.
    Vote {
        /// Candidate's last log index.
        last_index: u64,
        /// Candidate's last log term.
        last_term: u64,
        /// Sent because the old leader asked for a transfer: ignore the lease.
        transfer: bool,
    },
    /// Answer to a vote request (sent only once the vote is persisted).
    VoteResponse {
        /// Whether the vote was granted.
        granted: bool,
    },
    /// Entries to append after (`prev_index`, `prev_term`).
    Append {
        /// Index just before the first entry.
        prev_index: u64,
        /// Term at `prev_index`.
        prev_term: u64,
        /// Entries, contiguous from `prev_index + 1`.
        entries: Vec<Entry>,
        /// Leader's commit index.
        commit: u64,
    },
    /// Answer to an append (sent only once the entries are persisted).
    AppendResponse(AppendResult),
    /// Leader liveness, commit propagation and ReadIndex confirmation.
    Heartbeat {
        /// min(follower's match index, leader's commit).
        commit: u64,
        /// ReadIndex round this heartbeat confirms.
        read_round: u64,
    },
    /// Answer to a heartbeat.
    HeartbeatResponse {
        /// Echo of the heartbeat's round.
        read_round: u64,
    },
    /// One chunk of a snapshot.
    Snapshot {
        /// Which snapshot.
        meta: SnapshotMeta,
        /// Byte offset of `data` in the snapshot.
        offset: u64,
        /// Total snapshot size in bytes.
        total_bytes: u64,
        /// The chunk.
        data: Bytes,
    },
    /// Progress of a snapshot transfer: bytes received so far.
    SnapshotResponse {
        /// Which snapshot (its index).
        index: u64,
        /// Bytes received contiguously.
        received_bytes: u64,
    },
    /// Leader transfer: campaign now.
    TimeoutNow,
    /// A follower forwards a linearizable read to the leader.
    ReadIndex {
        /// Caller's request context, echoed back.
        context: Bytes,
    },
    /// The leader's answer: reads are safe once applied ≥ `index`.
    ReadIndexResponse {
        /// Commit index to wait for.
        index: u64,
        /// The request's context.
        context: Bytes,
    },
    /// Commit news for a follower sent everything: the leader's commit index,
    /// answered only when the follower's log does not hold (`prev_index`,
    /// `prev_term`), with the reject an append would draw.
    Commit {
        /// Index of the last entry sent to the follower.
        prev_index: u64,
        /// Term at `prev_index`.
        prev_term: u64,
        /// Leader's commit index.
        commit: u64,
    },
    /// The leader's own log is durable through `index` (in the message's
    /// term): a follower that with the leader makes a quorum commits its own
    /// durable entries of this term up to there without waiting for commit news.
    Persisted {
        /// Last index of the leader's log that is durable.
        index: u64,
    },
}

/// Outcome of an append as seen by the follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendResult {
    /// The follower's log matches the leader's up to `match_index` and it is durable.
    Success {
        /// Last index known to match.
        match_index: u64,
    },
    /// The follower's log does not contain (`rejected_index`, its term).
    Reject {
        /// The append's `prev_index`.
        rejected_index: u64,
        /// Hint: first index of the conflicting term, or last index + 1.
        conflict_index: u64,
        /// Term found at `rejected_index`, if the follower has that index.
        conflict_term: Option<u64>,
    },
}

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the configured maximum.
    #[error("message of {len_bytes} bytes exceeds the limit of {max_bytes}")]
    TooLarge {
        /// Size received.
        len_bytes: u64,
        /// Configured limit.
        max_bytes: u64,
    },
    /// Not a valid postcard encoding of a [`Message`].
    #[error("malformed message: {0}")]
    Malformed(#[from] postcard::Error),
}

impl Message {
    /// Encodes with postcard.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain data into a Vec cannot fail; an empty frame is decoded
        // as malformed by the receiver should it ever happen.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a message no larger than `max_bytes` (use `Config::max_message_bytes`).
    pub fn decode(bytes: &[u8], max_bytes: u64) -> Result<Self, DecodeError> {
        let len_bytes = bytes.len() as u64;
        if len_bytes > max_bytes {
            return Err(DecodeError::TooLarge {
                len_bytes,
                max_bytes,
            });
        }
        Ok(postcard::from_bytes(bytes)?)
    }

    /// Whether the message answers a request (and so must wait for persistence).
    pub(crate) fn is_response(&self) -> bool {
        matches!(
            self.body,
            Body::VoteResponse { .. }
                | Body::AppendResponse(_)
                | Body::HeartbeatResponse { .. }
                | Body::SnapshotResponse { .. }
        )
    }
}
