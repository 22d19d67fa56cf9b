//! ACLs in ZooKeeper's text form: `scheme:id:perms` entries separated by
//! commas, perms from `cdrwa` (create, delete, read, write, admin), e.g.
//! `world:anyone:r,x509:client-dev:cdrwa,digest:user:hash:rw`. The id is
//! everything between the first and the last colon, so digest ids keep theirs.

use corral_client::{Acl, Id, Perms};
use serde::Serialize;

use super::failure::{CliResult, Failure};

/// Permission letters in ZooKeeper's order, with their bits.
const PERM_LETTERS: [(char, Perms); 5] = [
    ('c', Perms::CREATE),
    ('d', Perms::DELETE),
    ('r', Perms::READ),
    ('w', Perms::WRITE),
    ('a', Perms::ADMIN),
];

/// Parses a comma-separated ACL; the error quotes the bad entry.
pub(crate) fn parse_acl(text: &str) -> CliResult<Vec<Acl>> {
    let mut acl = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| {
            Failure::usage(format!(
                "error: ACL entry {entry:?}: {why} (expected scheme:id:perms, perms from cdrwa)"
            ))
        };
        let (scheme, rest) = entry.split_once(':').ok_or_else(|| bad("no id"))?;
        let (id, letters) = rest.rsplit_once(':').ok_or_else(|| bad("no perms"))?;
        if scheme.is_empty() {
            return Err(bad("empty scheme"));
        }
        let perms = parse_perms(letters).ok_or_else(|| bad("bad perms"))?;
        acl.push(Acl::new(perms, Id::new(scheme, id)));
    }
    if acl.is_empty() {
        return Err(Failure::usage(format!("error: ACL {text:?} has no entry")));
    }
    Ok(acl)
}

/// The permissions of `cdrwa` letters; none if empty or another letter appears.
fn parse_perms(letters: &str) -> Option<Perms> {
    if letters.is_empty() {
        return None;
    }
    letters.chars().try_fold(Perms(0), |perms, letter| {
        let (_, bit) = PERM_LETTERS.iter().find(|(l, _)| *l == letter)?;
        Some(perms | *bit)
    })
}

/// `cdrwa` letters of `perms`, in ZooKeeper's order.
pub(crate) fn perms_text(perms: Perms) -> String {
    PERM_LETTERS
        .iter()
        .filter(|(_, bit)| perms.intersects(*bit))
        .map(|(letter, _)| *letter)
        .collect()
}

/// One entry as `scheme:id:perms`.
pub(crate) fn acl_entry_text(acl: &Acl) -> String {
    format!("{}:{}:{}", acl.id.scheme, acl.id.id, perms_text(acl.perms))
}

/// One ACL entry in JSON.
#[derive(Debug, Serialize)]
pub(crate) struct AclJson {
    /// `world`, `x509` or `digest`.
    pub(crate) scheme: String,
    /// The id within the scheme.
    pub(crate) id: String,
    /// `cdrwa` letters.
    pub(crate) perms: String,
}

impl From<&Acl> for AclJson {
    fn from(acl: &Acl) -> Self {
        Self {
            scheme: acl.id.scheme.clone(),
            id: acl.id.id.clone(),
            perms: perms_text(acl.perms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeepers_text_form_parses_and_prints_back() {
        let text = "world:anyone:cdrwa,x509:client-dev:r,digest:user:hash=:rw";
        let acl = parse_acl(text).unwrap();
        assert_eq!(
            acl,
            vec![
                Acl::new(Perms::ALL, Id::anyone()),
                Acl::new(Perms::READ, Id::x509("client-dev")),
                Acl::new(Perms::READ | Perms::WRITE, Id::new("digest", "user:hash=")),
            ]
        );
        let back: Vec<String> = acl.iter().map(acl_entry_text).collect();
        assert_eq!(back.join(","), text);
    }

    #[test]
    fn perms_print_in_zookeepers_order() {
        assert_eq!(perms_text(parse_perms("awrdc").unwrap()), "cdrwa");
        assert_eq!(perms_text(Perms::READ | Perms::ADMIN), "ra");
    }

    #[test]
    fn malformed_entries_are_refused_with_the_entry() {
        for bad in [
            "",
            "world",
            "world:anyone",
            "world:anyone:",
            "world:anyone:rx",
            ":a:r",
        ] {
            let failure = parse_acl(bad).unwrap_err();
            assert!(
                failure.message.starts_with("error: ACL"),
                "{bad}: {}",
                failure.message
            );
        }
    }
}
