//! The peer protocol (`corral-peer/1`): consensus, forwarded writes, session
//! heartbeats and snapshots between replicas.

use corral_core::broadcast::{Message, NodeId};
use corral_core::tree::{Command, SessionId};
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

/// Version of the peer protocol this build speaks (the link hello checks it
/// together with the cluster id). 2: a leader no longer answers a forward it
/// proposed; the entry names the forward instead. 3: a leader tells
/// followers when its own write is durable (the consensus `Persisted`
/// message) and sends bare commit news (`Commit`), neither of which a
/// version 2 node can decode.
pub const PEER_PROTOCOL_VERSION: u32 = 3;

/// The peer protocol versions this build speaks, oldest to newest, so that a
/// cluster can be upgraded one node at a time: on a link that negotiated
/// version 2 a node sends commit news as an empty append and leaves the
/// leader's durable news out (`corral_actors::older_peers`).
pub const PEER_PROTOCOL_VERSIONS: RangeInclusive<u32> = 2..=PEER_PROTOCOL_VERSION;

/// Replica to replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// A message of the consensus core. Snapshot chunks are its
    /// `Body::Snapshot` messages, sent on the bulk stream.
    Consensus(Message),
    /// A follower asks the leader to put a command in the log (a client's write,
    /// a session to open or close, ...).
    Forward {
        /// The follower's number for this forward, echoed in the result.
        forward_id: u64,
        /// The command, exactly as it goes into the log.
        command: Command,
    },
    /// The leader's answer to a [`PeerMessage::Forward`].
    ForwardResult {
        /// The forward's number.
        forward_id: u64,
        /// What became of it.
        outcome: ForwardOutcome,
    },
    /// Sessions a follower heard from since its last batch (the leader records
    /// their liveness).
    SessionHeartbeats {
        /// Session ids, each once.
        sessions: Vec<SessionId>,
    },
}

/// What became of a forwarded command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForwardOutcome {
    /// In the leader's log at this zxid; the follower answers its client once it
    /// has applied that zxid.
    Proposed {
        /// The entry's index (zxid).
        zxid: u64,
        /// The entry's term (epoch): if another entry holds `zxid` later, the
        /// command was lost with a leader change.
        term: u64,
    },
    /// This node is not the leader; `leader` is the one it knows of.
    NotLeader {
        /// The leader, if known.
        leader: Option<NodeId>,
    },
    /// The leader's queue is full; retry later.
    Busy,
    /// Refused for another reason, in a sentence.
    Refused {
        /// Why.
        reason: String,
    },
}
