//! The wire messages of corral's two protocols, as framed on QUIC streams.
//!
//! Both protocols start with the link hello ([`crate::LinkHello`]: protocol
//! version and cluster id) on the first bidirectional stream. Then:
//!
//! ```text
//!  corral-client/1  one bi stream per session, opened by the client:
//!     client ──ClientMessage::Connect(ConnectRequest)──►  server
//!     client ◄─ServerMessage::Connected | ConnectRefused── server
//!     client ──Request{xid, tree::Request} / Ping / SetWatches──► server
//!     client ◄─Reply{xid, zxid, result} / Event / Pong───── server   (one ordered stream:
//!                                                                    an event precedes any
//!                                                                    reply of a later zxid)
//!  corral-peer/1    two streams per direction, opened by the sender:
//!     control (bi):  PeerMessage::{Consensus, Forward, ForwardResult, SessionHeartbeats}
//!     bulk (uni):    PeerMessage::Consensus carrying broadcast::Body::Snapshot chunks,
//!                    so a snapshot never queues ahead of a heartbeat
//! ```
//!
//! The payloads are the core's own types: a client request on the wire is
//! exactly the [`corral_core::tree::Request`] that goes into the log, and
//! consensus traffic is [`corral_core::broadcast::Message`]. Everything is
//! postcard; [`decode`] bounds the size before decoding.

mod client;
mod peer;

pub use client::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ConnectResponse, NodeStatus,
    ServerMessage, WatchesToRestore, check_client_version,
};
pub use peer::{ForwardOutcome, PEER_PROTOCOL_VERSION, PEER_PROTOCOL_VERSIONS, PeerMessage};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, TransportError};

/// Encodes a message body (no frame header) with postcard.
pub fn encode<M: Serialize + ?Sized>(msg: &M) -> Result<Vec<u8>> {
    postcard::to_allocvec(msg).map_err(|e| TransportError::Encode {
        peer: unspecified_peer(),
        what: e.to_string(),
    })
}

/// Decodes a message body of at most `bytes_max` bytes; never panics on any input.
pub fn decode<M: DeserializeOwned>(bytes: &[u8], bytes_max: u32) -> Result<M> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > u64::from(bytes_max) {
        return Err(TransportError::FrameTooLarge {
            peer: unspecified_peer(),
            declared_bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            frame_bytes_max: bytes_max,
        });
    }
    postcard::from_bytes(bytes).map_err(|source| TransportError::Decode {
        peer: unspecified_peer(),
        source,
    })
}

/// Stand-in address for errors raised away from any connection.
fn unspecified_peer() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([0, 0, 0, 0], 0))
}
