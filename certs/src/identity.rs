//! Who a certificate names: a node of the cluster or a named client.
//!
//! The identity lives in one URI subject-alternative name, and nowhere else:
//!
//! | kind   | URI SAN                    | CN            | OU              | EKU                     |
//! |--------|----------------------------|---------------|-----------------|-------------------------|
//! | node   | `corral://node/<id>`       | `node-<id>`   | `corral-node`   | serverAuth, clientAuth  |
//! | client | `corral://client/<name>`   | `<name>`      | `corral-client` | clientAuth              |
//!
//! CN and OU are for humans reading `openssl x509 -text`; only the URI SAN is
//! trusted. A client certificate cannot act as a server (no serverAuth EKU) and
//! cannot pose as a node (its URI says `client`).

use std::fmt;

use crate::error::{CertError, Result};

/// A node's id in the cluster (the same number as the consensus core's).
pub type NodeId = u64;

/// URI prefix of a node identity.
pub const NODE_URI_PREFIX: &str = "corral://node/";
/// URI prefix of a client identity.
pub const CLIENT_URI_PREFIX: &str = "corral://client/";
/// Longest client name accepted, in bytes.
pub const CLIENT_NAME_BYTES_MAX: usize = 64;

/// The identity a certificate proves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// A replica of the cluster.
    Node(NodeId),
    /// A client; the name is its x509 ACL identity.
    Client(String),
}

impl Identity {
    /// The node id, if this is a node.
    pub fn node_id(&self) -> Option<NodeId> {
        match self {
            Identity::Node(id) => Some(*id),
            Identity::Client(_) => None,
        }
    }

    /// The client name, if this is a client.
    pub fn client_name(&self) -> Option<&str> {
        match self {
            Identity::Node(_) => None,
            Identity::Client(name) => Some(name),
        }
    }

    /// The URI SAN that carries this identity.
    pub fn uri(&self) -> String {
        match self {
            Identity::Node(id) => format!("{NODE_URI_PREFIX}{id}"),
            Identity::Client(name) => format!("{CLIENT_URI_PREFIX}{name}"),
        }
    }

    /// Parses a URI SAN; `None` if it is not a corral identity.
    pub fn from_uri(uri: &str) -> Option<Identity> {
        if let Some(id) = uri.strip_prefix(NODE_URI_PREFIX) {
            // Canonical decimal only, so one node has exactly one spelling.
            let parsed: NodeId = id.parse().ok()?;
            return (parsed.to_string() == id).then_some(Identity::Node(parsed));
        }
        let name = uri.strip_prefix(CLIENT_URI_PREFIX)?;
        check_client_name(name).ok()?;
        Some(Identity::Client(name.to_owned()))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Node(id) => write!(f, "node {id}"),
            Identity::Client(name) => write!(f, "client {name:?}"),
        }
    }
}

/// Checks a client name: 1..=64 bytes of `[A-Za-z0-9._-]`, not starting with a dot.
///
/// The name becomes a file name and part of a URI, so it stays in a small alphabet.
pub fn check_client_name(name: &str) -> Result<()> {
    let invalid = |why| CertError::Invalid {
        what: "client name",
        value: name.to_owned(),
        why,
    };
    if name.is_empty() || name.len() > CLIENT_NAME_BYTES_MAX {
        return Err(invalid("must be 1 to 64 bytes long"));
    }
    if name.starts_with('.') {
        return Err(invalid("must not start with '.'"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid("may hold only letters, digits, '.', '_' and '-'"));
    }
    Ok(())
}

/// What corral reads from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The identity of its URI SAN.
    pub identity: Identity,
    /// Its serial number, big-endian bytes.
    pub serial: Vec<u8>,
    /// End of validity, seconds since the Unix epoch.
    pub not_after_unix_s: i64,
}

/// Reads the corral identity, serial and expiry from a DER certificate.
pub fn inspect(cert_der: &[u8]) -> Result<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| CertError::Parse(e.to_string()))?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| CertError::Parse(e.to_string()))?;
    let mut identity = None;
    for name in sans.iter().flat_map(|ext| ext.value.general_names.iter()) {
        if let x509_parser::extensions::GeneralName::URI(uri) = name {
            if let Some(found) = Identity::from_uri(uri) {
                if identity.is_some() {
                    // Two identities in one certificate: trust neither.
                    return Err(CertError::NoIdentity);
                }
                identity = Some(found);
            }
        }
    }
    Ok(CertInfo {
        identity: identity.ok_or(CertError::NoIdentity)?,
        serial: cert.raw_serial().to_vec(),
        not_after_unix_s: cert.validity().not_after.timestamp(),
    })
}

/// Reads only the corral identity of a DER certificate.
pub fn identity_of(cert_der: &[u8]) -> Result<Identity> {
    inspect(cert_der).map(|info| info.identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_acceptable_client_name_round_trips_and_nothing_panics(
            name in prop_oneof!["[A-Za-z0-9._-]{0,70}", "\\PC{0,70}"]
        ) {
            let parsed = Identity::from_uri(&format!("{CLIENT_URI_PREFIX}{name}"));
            if check_client_name(&name).is_ok() {
                prop_assert_eq!(parsed, Some(Identity::Client(name)));
            } else {
                prop_assert_eq!(parsed, None);
            }
        }

        #[test]
        fn every_node_id_round_trips(id in any::<u64>()) {
            prop_assert_eq!(Identity::from_uri(&Identity::Node(id).uri()), Some(Identity::Node(id)));
        }

        #[test]
        fn random_bytes_are_never_a_certificate(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            prop_assert!(inspect(&bytes).is_err());
        }
    }

    #[test]
    fn uris_round_trip_and_reject_odd_spellings() {
        for id in [
            Identity::Node(0),
            Identity::Node(u64::MAX),
            Identity::Client("app-1.x".into()),
        ] {
            assert_eq!(Identity::from_uri(&id.uri()), Some(id));
        }
        for bad in [
            "corral://node/07",
            "corral://node/-1",
            "corral://node/",
            "corral://client/",
            "corral://client/a b",
            "corral://client/.hidden",
            "http://node/1",
        ] {
            assert_eq!(Identity::from_uri(bad), None, "{bad}");
        }
    }
}
