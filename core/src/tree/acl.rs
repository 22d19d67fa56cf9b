//! ACLs: permissions, identities and the schemes corral supports.
//!
//! Schemes, as ZooKeeper's providers define them:
//! - `world:anyone` matches every session.
//! - `x509:<name>` matches a session whose client certificate carried `<name>`.
//! - `digest:<user>:<base64(sha1(user:password))>` matches a session that authenticated
//!   with `user:password` (ZooKeeper's `DigestAuthenticationProvider`).
//! - `auth` in a create/setACL is replaced by every identity of the calling session
//!   (InvalidACL if it has none), as in ZooKeeper's `fixupACL`.
//!
//! The `ip` scheme is not supported: clients reach corral over QUIC through proxies and
//! NAT, so an address is no identity. An `ip` ACL is rejected with InvalidACL.

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

/// A set of ZooKeeper permissions (`ZooDefs.Perms`), a bit mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Perms(pub u32);

impl Perms {
    /// Read data and list children (1).
    pub const READ: Perms = Perms(1);
    /// Set data (2).
    pub const WRITE: Perms = Perms(2);
    /// Create children (4).
    pub const CREATE: Perms = Perms(4);
    /// Delete children (8).
    pub const DELETE: Perms = Perms(8);
    /// Set the ACL (16).
    pub const ADMIN: Perms = Perms(16);
    /// Every permission (31).
    pub const ALL: Perms = Perms(31);

    /// Whether this set shares any permission with `other`.
    pub fn intersects(self, other: Perms) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Perms {
    type Output = Perms;
    fn bitor(self, rhs: Perms) -> Perms {
        Perms(self.0 | rhs.0)
    }
}

/// An identity: a scheme and an id within it (ZooKeeper's `Id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Id {
    /// The scheme: `world`, `x509`, `digest` or `auth`.
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl Id {
    /// An id `scheme:id`.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Id {
        Id {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Id {
        Id::new(SCHEME_WORLD, "anyone")
    }

    /// `x509:<name>`, the identity a client certificate proves.
    pub fn x509(name: impl Into<String>) -> Id {
        Id::new(SCHEME_X509, name)
    }

    /// `digest:<user>:<base64 sha1>`, the identity `user:password` authenticates as.
    pub fn digest(user_password: &str) -> Id {
        Id::new(SCHEME_DIGEST, generate_digest(user_password))
    }
}

/// One ACL entry: permissions granted to an identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Acl {
    /// What the identity may do.
    pub perms: Perms,
    /// Who.
    pub id: Id,
}

impl Acl {
    /// An entry granting `perms` to `id`.
    pub fn new(perms: Perms, id: Id) -> Acl {
        Acl { perms, id }
    }

    /// ZooKeeper's `OPEN_ACL_UNSAFE`: everything for `world:anyone`.
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::anyone())]
    }

    /// ZooKeeper's `READ_ACL_UNSAFE`: read for `world:anyone`.
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl::new(Perms::READ, Id::anyone())]
    }

    /// ZooKeeper's `CREATOR_ALL_ACL`: everything for the caller's own identities (`auth`).
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::new(SCHEME_AUTH, ""))]
    }
}

/// A node's ACL list, shared between nodes that carry the same list (a thin pointer, to
/// keep nodes small).
pub type AclList = Arc<Vec<Acl>>;

/// The `world` scheme.
pub const SCHEME_WORLD: &str = "world";
/// The `x509` scheme.
pub const SCHEME_X509: &str = "x509";
/// The `digest` scheme.
pub const SCHEME_DIGEST: &str = "digest";
/// The `auth` pseudo-scheme, expanded to the caller's identities.
pub const SCHEME_AUTH: &str = "auth";

/// ZooKeeper's `DigestAuthenticationProvider.generateDigest`: `user:base64(sha1(user:password))`.
pub fn generate_digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = sha1::Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Whether `id` is valid in `scheme`, as the scheme's provider's `isValid` decides.
///
/// digest: exactly two `:`-separated parts once Java's `split` drops trailing empty parts.
/// x509: a non-empty name without control characters.
fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        SCHEME_DIGEST => {
            let mut parts: Vec<&str> = id.split(':').collect();
            while parts.len() > 1 && parts.last() == Some(&"") {
                parts.pop();
            }
            parts.len() == 2
        }
        SCHEME_X509 => !id.is_empty() && !id.chars().any(char::is_control),
        _ => false,
    }
}

/// Why `fixup_acl` refused an ACL; apply turns it into ZooKeeper's InvalidACL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidAcl;

/// ZooKeeper's `fixupACL`: drops duplicates, expands `auth` to the caller's identities and
/// rejects empty lists, unknown schemes and malformed ids.
pub fn fixup_acl(acl: &[Acl], identities: &[Id]) -> Result<Vec<Acl>, InvalidAcl> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(InvalidAcl);
    }
    let mut fixed = Vec::with_capacity(unique.len());
    for a in unique {
        if a.id.scheme == SCHEME_WORLD && a.id.id == "anyone" {
            fixed.push(a.clone());
        } else if a.id.scheme == SCHEME_AUTH {
            let mine: Vec<&Id> = identities.iter().filter(|i| is_authenticated(i)).collect();
            if mine.is_empty() {
                return Err(InvalidAcl);
            }
            fixed.extend(mine.into_iter().map(|i| Acl::new(a.perms, i.clone())));
        } else if is_valid_id(&a.id.scheme, &a.id.id) {
            fixed.push(a.clone());
        } else {
            return Err(InvalidAcl);
        }
    }
    Ok(fixed)
}

/// Whether an identity comes from an authenticating scheme (ZooKeeper's `isAuthenticated`).
fn is_authenticated(id: &Id) -> bool {
    id.scheme == SCHEME_DIGEST || id.scheme == SCHEME_X509
}

/// ZooKeeper's `checkACL`: whether a session holding `identities` has any of `perms` on a
/// node with `acl`. An empty ACL allows everything, as in ZooKeeper.
pub fn check_acl(acl: &[Acl], perms: Perms, identities: &[Id]) -> bool {
    if acl.is_empty() {
        return true;
    }
    acl.iter().filter(|a| a.perms.intersects(perms)).any(|a| {
        (a.id.scheme == SCHEME_WORLD && a.id.id == "anyone")
            || ((a.id.scheme == SCHEME_DIGEST || a.id.scheme == SCHEME_X509)
                && identities
                    .iter()
                    .any(|i| i.scheme == a.id.scheme && i.id == a.id.id))
    })
}

/// getACL's answer to a caller without ADMIN: digest hashes replaced by `x`, as ZooKeeper does.
pub fn redact_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == SCHEME_DIGEST {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl::new(a.perms, Id::new(SCHEME_DIGEST, format!("{user}:x")))
            } else {
                a.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeepers_known_value() {
        // From ZooKeeper's documentation: super:test -> super:D/InIHSb7yEEbrWz8b9l71RjZJU=
        assert_eq!(
            generate_digest("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
    }

    #[test]
    fn malformed_digest_ids_are_invalid() {
        assert!(is_valid_id(SCHEME_DIGEST, "user:hash"));
        assert!(!is_valid_id(SCHEME_DIGEST, "userhash"));
        assert!(!is_valid_id(SCHEME_DIGEST, "user:"));
        assert!(!is_valid_id(SCHEME_DIGEST, "a:b:c"));
    }
}
