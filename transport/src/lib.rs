//! corral-transport: mutual-TLS QUIC links between replicas and from clients.
//!
//! ```text
//!   Endpoint::server(addr, CertStore, LinkConfig)          Endpoint::client(..)
//!        │ accept() ─► Incoming::establish()                   │ connect_peer(addr, node id)
//!        │   TLS 1.3, client cert required (cluster CA)        │ connect_client(addr, name)
//!        │   ALPN corral-peer/1 | corral-client/1              │   server cert checked: CA,
//!        │   cert kind must fit the ALPN                       │   node id (peer) or name (client)
//!        │   hello: version + cluster id ◄─────────────────────┤
//!        ▼                                                     ▼
//!      Link  ── identity(): Node(id) | Client(name), stats(), framed streams ──  Link
//!                 FrameWriter ══ [len u32 LE | postcard body]* ══► FrameReader
//! ```
//!
//! - [`Endpoint`] binds a UDP socket; servers accept and dial, clients dial.
//!   Every quinn limit comes from [`LinkConfig`]; certificates come from a
//!   [`corral_certs::CertStore`], re-read when their files change, so new
//!   links use new certificates and established ones carry on.
//! - [`Link`] is an authenticated connection: who the remote is (from its
//!   certificate), which protocol it speaks, its statistics, framed streams.
//! - [`frame`] is the length-prefixed postcard framing, with limits checked
//!   before allocation and writes coalesced.
//! - [`wire`] holds the messages of the client and peer protocols, whose
//!   payloads are `corral_core`'s own request, response and consensus types.
//!
//! No 0-RTT anywhere (a replayed write would apply twice). TLS resumption is on,
//! keyed to the verifier that checked the original handshake, and forgotten
//! on both sides whenever the certificates reload.
//!
//! Failures name the remote address and say what failed; a refused remote is
//! told why in the QUIC close reason, so both ends log the same sentence.

mod config;
mod endpoint;
mod error;
pub mod frame;
pub mod free_ports;
mod hello;
mod link;
mod remote_gone;
mod resumption;
pub mod wire;

pub use config::{
    LinkConfig, QUIC_MAX_DATAGRAM_BYTES, QUIC_MIN_DATAGRAM_BYTES, STREAMS_BIDI_MAX_DEFAULT,
    streams_open_max,
};
pub use endpoint::{Endpoint, Incoming};
pub use error::{Result, TransportError};
pub use frame::{FrameReader, FrameSender, FrameWriter};
pub use hello::{HELLO_BYTES_MAX, LINK_PROTOCOL_VERSION, LinkHello, LinkWelcome};
pub use link::{ALPN_CLIENT, ALPN_PEER, Alpn, CloseCode, Link, LinkStats};

pub use corral_certs::{ExpectServer, Identity, NodeId};
