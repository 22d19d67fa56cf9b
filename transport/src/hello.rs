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

use crate::link::Alpn;

/// Version of the client link protocol (hello, framing, wire messages) this
/// build speaks; peer links speak [`crate::wire::PEER_PROTOCOL_VERSION`].
pub const LINK_PROTOCOL_VERSION: u32 = 1;
/// Largest hello frame accepted: the hello is tiny, and read before any other limit applies.
pub const HELLO_BYTES_MAX: u32 = 4096;

/// The dialer's first frame on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkHello {
    /// The dialer's [`Alpn::protocol_version`].
    pub protocol_version: u32,
    /// The cluster the dialer belongs to or wants: required on peer links,
    /// optional on client links (checked when given).
    pub cluster_id: Option<String>,
}

/// The acceptor's answer when it takes the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkWelcome {
    /// The acceptor's [`Alpn::protocol_version`].
    pub protocol_version: u32,
    /// The acceptor's cluster id.
    pub cluster_id: String,
}

/// The acceptor's checks of a hello received on `alpn`; `Err` holds the reason
/// sent back to the dialer.
pub(crate) fn check_hello(hello: &LinkHello, alpn: Alpn, cluster_id: &str) -> Result<(), String> {
    let ours = alpn.protocol_version();
    if hello.protocol_version != ours {
        return Err(format!(
            "link protocol version mismatch: the dialer speaks {}, this node speaks {ours}",
            hello.protocol_version
        ));
    }
    match (&hello.cluster_id, alpn) {
        (Some(theirs), _) if theirs != cluster_id => Err(format!(
            "cluster id mismatch: the dialer is in {theirs:?}, this node in {cluster_id:?}"
        )),
        (None, Alpn::Peer) => Err("a peer hello must name its cluster".into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(version: u32, cluster: Option<&str>) -> LinkHello {
        LinkHello {
            protocol_version: version,
            cluster_id: cluster.map(str::to_owned),
        }
    }

    #[test]
    fn version_and_cluster_mismatches_are_refused_with_both_values() {
        assert_eq!(check_hello(&hello(3, Some("c")), Alpn::Peer, "c"), Ok(()));
        assert_eq!(check_hello(&hello(1, None), Alpn::Client, "c"), Ok(()));
        let err = check_hello(&hello(3, Some("c")), Alpn::Client, "c").unwrap_err();
        assert!(
            err.contains("version mismatch")
                && err.contains("speaks 3")
                && err.contains("speaks 1"),
            "{err}"
        );
        let err = check_hello(&hello(1, Some("other")), Alpn::Client, "c").unwrap_err();
        assert!(err.contains("\"other\"") && err.contains("\"c\""), "{err}");
        assert!(check_hello(&hello(3, None), Alpn::Peer, "c").is_err());
    }

    #[test]
    fn a_peer_of_the_version_before_origin_named_forwards_is_refused() {
        // Version 1 leaders answered every forward, and version 1 followers
        // wait for that answer: the two cannot share a cluster.
        let err = check_hello(&hello(1, Some("c")), Alpn::Peer, "c").unwrap_err();
        assert!(
            err.contains("speaks 1") && err.contains("speaks 3"),
            "{err}"
        );
        assert_eq!(Alpn::Client.protocol_version(), LINK_PROTOCOL_VERSION);
    }

    #[test]
    fn a_peer_of_the_version_before_durable_news_is_refused() {
        // A version 2 node cannot decode the leader's `Persisted` message and
        // would close the link at each one: refused at the hello instead.
        let err = check_hello(&hello(2, Some("c")), Alpn::Peer, "c").unwrap_err();
        assert!(
            err.contains("speaks 2") && err.contains("speaks 3"),
            "{err}"
        );
    }
}
