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
//!
//! Versions: the hello's `protocol_version` is the oldest version the dialer
//! speaks, and the frame goes on with the newest (an older node, which
//! decodes only the hello and checks that version for equality, ignores the
//! rest). The acceptor answers with the newest version both speak, and the
//! link speaks that ([`crate::Link::protocol_version`]). So a node of this
//! build and one of the version before it can share a cluster while it is
//! upgraded one node at a time.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::link::Alpn;

/// Version of the client link protocol (hello, framing, wire messages) this
/// build speaks; peer links speak [`crate::wire::PEER_PROTOCOL_VERSION`].
pub const LINK_PROTOCOL_VERSION: u32 = 1;
/// Largest hello frame accepted: the hello is tiny, and read before any other limit applies.
pub const HELLO_BYTES_MAX: u32 = 4096;

/// The dialer's first frame on a link (followed, in the same frame, by the
/// newest version the dialer speaks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkHello {
    /// The oldest protocol version the dialer speaks on this ALPN.
    pub protocol_version: u32,
    /// The cluster the dialer belongs to or wants: required on peer links,
    /// optional on client links (checked when given).
    pub cluster_id: Option<String>,
}

/// The acceptor's answer when it takes the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkWelcome {
    /// The version the link speaks: the newest both ends speak.
    pub protocol_version: u32,
    /// The acceptor's cluster id.
    pub cluster_id: String,
}

/// The hello frame of a dialer that speaks `versions`.
pub(crate) fn hello_frame(
    versions: &RangeInclusive<u32>,
    cluster_id: Option<String>,
) -> (LinkHello, u32) {
    let hello = LinkHello {
        protocol_version: *versions.start(),
        cluster_id,
    };
    (hello, *versions.end())
}

/// A hello frame's hello and the dialer's versions; a frame with the hello
/// alone (a node from before negotiation) offers only its one version.
pub(crate) fn decode_hello(
    frame: &[u8],
) -> Result<(LinkHello, RangeInclusive<u32>), postcard::Error> {
    let (hello, rest) = postcard::take_from_bytes::<LinkHello>(frame)?;
    let newest = if rest.is_empty() {
        hello.protocol_version
    } else {
        postcard::from_bytes::<u32>(rest)?
    };
    let versions = hello.protocol_version..=newest;
    Ok((hello, versions))
}

/// The acceptor's checks of a hello received on `alpn` from a dialer that
/// speaks `theirs`, when this node speaks `ours`: the version the link will
/// speak, or the reason sent back to the dialer.
pub(crate) fn check_hello(
    hello: &LinkHello,
    theirs: &RangeInclusive<u32>,
    ours: &RangeInclusive<u32>,
    alpn: Alpn,
    cluster_id: &str,
) -> Result<u32, String> {
    let version = (*theirs.end()).min(*ours.end());
    if version < *theirs.start() || version < *ours.start() {
        return Err(format!(
            "link protocol version mismatch: the dialer speaks {}, this node speaks {}",
            versions_text(theirs),
            versions_text(ours)
        ));
    }
    match (&hello.cluster_id, alpn) {
        (Some(theirs), _) if theirs != cluster_id => Err(format!(
            "cluster id mismatch: the dialer is in {theirs:?}, this node in {cluster_id:?}"
        )),
        (None, Alpn::Peer) => Err("a peer hello must name its cluster".into()),
        _ => Ok(version),
    }
}

/// The dialer's check of the version the acceptor chose.
pub(crate) fn check_welcome(
    welcome: &LinkWelcome,
    ours: &RangeInclusive<u32>,
) -> Result<u32, String> {
    if ours.contains(&welcome.protocol_version) {
        Ok(welcome.protocol_version)
    } else {
        Err(format!(
            "the server chose link protocol version {}, and this node speaks {}",
            welcome.protocol_version,
            versions_text(ours)
        ))
    }
}

/// "3", or "2 to 3".
fn versions_text(versions: &RangeInclusive<u32>) -> String {
    if versions.start() == versions.end() {
        versions.start().to_string()
    } else {
        format!("{} to {}", versions.start(), versions.end())
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

    /// What an acceptor speaking `ours` answers a dialer speaking `theirs`.
    fn settle(theirs: RangeInclusive<u32>, ours: RangeInclusive<u32>) -> Result<u32, String> {
        let hello = hello(*theirs.start(), Some("c"));
        check_hello(&hello, &theirs, &ours, Alpn::Peer, "c")
    }

    #[test]
    fn cluster_mismatches_and_anonymous_peers_are_refused_with_both_values() {
        let one = 1..=1;
        assert_eq!(
            check_hello(&hello(1, None), &one, &one, Alpn::Client, "c"),
            Ok(1)
        );
        let err = check_hello(&hello(1, Some("other")), &one, &one, Alpn::Client, "c").unwrap_err();
        assert!(err.contains("\"other\"") && err.contains("\"c\""), "{err}");
        assert!(check_hello(&hello(3, None), &(3..=3), &(3..=3), Alpn::Peer, "c").is_err());
    }

    #[test]
    fn a_link_speaks_the_newest_version_both_ends_speak() {
        assert_eq!(settle(2..=3, 2..=3), Ok(3));
        // A node of the version before negotiation offers its one version.
        assert_eq!(settle(2..=2, 2..=3), Ok(2));
        // One pinned to the older version by its configuration.
        assert_eq!(settle(2..=3, 2..=2), Ok(2));
        // A later build that still speaks ours.
        assert_eq!(settle(3..=4, 2..=3), Ok(3));
    }

    #[test]
    fn versions_with_nothing_in_common_are_refused_naming_both() {
        // Version 1 leaders answered every forward, and version 1 followers
        // wait for that answer: the two cannot share a cluster.
        let err = settle(1..=1, 2..=3).unwrap_err();
        assert!(
            err.contains("version mismatch") && err.contains("speaks 1,") && err.contains("2 to 3"),
            "{err}"
        );
        let err = settle(4..=5, 2..=3).unwrap_err();
        assert!(err.contains("4 to 5") && err.contains("2 to 3"), "{err}");
        assert_eq!(
            Alpn::Client.protocol_versions(&crate::LinkConfig::default()),
            LINK_PROTOCOL_VERSION..=LINK_PROTOCOL_VERSION
        );
    }

    #[test]
    fn a_hello_with_versions_decodes_as_the_older_hello_and_back() {
        let (hello, newest) = hello_frame(&(2..=3), Some("c".into()));
        let frame = postcard::to_allocvec(&(&hello, newest)).unwrap();
        // What a node before negotiation decodes (it ignores the rest) and checks.
        let old: LinkHello = postcard::from_bytes(&frame).unwrap();
        assert_eq!(old.protocol_version, 2);
        assert_eq!(old.cluster_id.as_deref(), Some("c"));
        assert_eq!(decode_hello(&frame).unwrap(), (hello.clone(), 2..=3));
        // The older node's hello: its version alone.
        let older = postcard::to_allocvec(&hello).unwrap();
        assert_eq!(decode_hello(&older).unwrap(), (hello, 2..=2));
        // A frame cut inside the hello does not decode.
        assert!(decode_hello(&frame[..1]).is_err());
    }

    #[test]
    fn a_welcome_outside_our_versions_is_refused() {
        let welcome = |v| LinkWelcome {
            protocol_version: v,
            cluster_id: "c".into(),
        };
        assert_eq!(check_welcome(&welcome(2), &(2..=3)), Ok(2));
        let err = check_welcome(&welcome(4), &(2..=3)).unwrap_err();
        assert!(
            err.contains("chose link protocol version 4") && err.contains("2 to 3"),
            "{err}"
        );
    }
}
