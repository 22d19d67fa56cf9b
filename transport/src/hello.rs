//! The link hello: the first exchange on every link, after TLS.
//!
//! ```text
//!   dialer                                   acceptor
//!     │── open bi stream: LinkHello ─────────►│ checks version, cluster id,
//!     │                                       │ certificate kind for the ALPN
//!     │◄──────────────── LinkWelcome ─────────│ ok
//!     │◄── CONNECTION_CLOSE(Refused, reason) ─│ or refused, saying why
//! ```
//!
//! Waiting for the welcome also means the dialer learns, as a clear error, any
//! refusal of its certificate: in TLS 1.3 the client finishes its handshake
//! before the server has checked the client's certificate.

use serde::{Deserialize, Serialize};

/// Version of the link protocol (hello, framing, wire messages) this build speaks.
pub const LINK_PROTOCOL_VERSION: u32 = 1;
/// Largest hello frame accepted: the hello is tiny, and read before any other limit applies.
pub const HELLO_BYTES_MAX: u32 = 4096;

/// The dialer's first frame on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkHello {
    /// The dialer's [`LINK_PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The cluster the dialer belongs to or wants: required on peer links,
    /// optional on client links (checked when given).
    pub cluster_id: Option<String>,
}

/// The acceptor's answer when it takes the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkWelcome {
    /// The acceptor's [`LINK_PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The acceptor's cluster id.
    pub cluster_id: String,
}
