//! One znode as a line of `corral export` and `corral import`: its path,
//! mode, ACL and data, in JSON.
//!
//! ```text
//! {"path":"/app/config","mode":"persistent","acl":["world:anyone:cdrwa"],"data":"v=1","data_base64":"dj0x"}
//! {"path":"/app/jobs","mode":"container","acl":["x509:client-ops:cdrwa"],"data":"","data_base64":""}
//! {"path":"/app/lease","mode":"ttl","ttl_ms":60000,"acl":["world:anyone:r"],"data":null,"data_base64":"AP8="}
//! ```
//!
//! `data_base64` holds the exact bytes; `data` is the same as text, or null
//! when it is not UTF-8, for people reading the file. A hand-written record
//! may give only `data` (text), and may leave out `mode` (persistent) and
//! `acl` (`world:anyone:cdrwa`). Ephemerals are never written: they belong
//! to their sessions. Stats are not kept: a restored node has new zxids,
//! times and versions.

use base64::Engine as _;
use corral_client::{Acl, CreateMode, CreateRequest, Stat};
use corral_core::tree::EphemeralType;
use serde::{Deserialize, Serialize};

use super::acl_text::{acl_entry_text, parse_acl};
use super::data_text::{data_base64, data_utf8};

/// The modes a record can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RecordMode {
    /// Stays until deleted.
    #[default]
    Persistent,
    /// Deleted by the server once its last child is gone.
    Container,
    /// Deleted once unmodified and childless for `ttl_ms`.
    Ttl,
}

/// One znode, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ZnodeRecord {
    /// The znode's path.
    pub(crate) path: String,
    /// Its mode.
    #[serde(default)]
    pub(crate) mode: RecordMode,
    /// Its TTL in ms (TTL nodes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ttl_ms: Option<i64>,
    /// Its ACL, one `scheme:id:perms` per entry.
    #[serde(default)]
    pub(crate) acl: Vec<String>,
    /// Its data as text (null when not UTF-8).
    #[serde(default)]
    pub(crate) data: Option<String>,
    /// Its data's exact bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) data_base64: Option<String>,
}

/// Why a znode is not exported.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotExported {
    /// An ephemeral: it belongs to its session.
    Ephemeral,
    /// The ACL came back with this digest entry's hash hidden (no ADMIN permission).
    RedactedAcl(String),
}

impl ZnodeRecord {
    /// The record of the znode at `path`.
    pub(crate) fn of(
        path: &str,
        data: &[u8],
        stat: &Stat,
        acl: &[Acl],
    ) -> Result<ZnodeRecord, NotExported> {
        let owner = stat.ephemeral_owner;
        let (mode, ttl_ms) = match EphemeralType::of(owner) {
            EphemeralType::Void => (RecordMode::Persistent, None),
            EphemeralType::Container => (RecordMode::Container, None),
            EphemeralType::Ttl => (RecordMode::Ttl, Some(EphemeralType::ttl_ms(owner))),
            EphemeralType::Normal => return Err(NotExported::Ephemeral),
        };
        if let Some(entry) = acl.iter().find(|a| is_redacted(a)) {
            return Err(NotExported::RedactedAcl(acl_entry_text(entry)));
        }
        Ok(ZnodeRecord {
            path: path.to_owned(),
            mode,
            ttl_ms,
            acl: acl.iter().map(acl_entry_text).collect(),
            data: data_utf8(data).map(str::to_owned),
            data_base64: Some(data_base64(data)),
        })
    }

    /// The create that restores this record's znode; `Err` says what is wrong.
    pub(crate) fn create_request(&self) -> Result<CreateRequest, String> {
        let mode = match (self.mode, self.ttl_ms) {
            (RecordMode::Persistent, None) => CreateMode::Persistent,
            (RecordMode::Container, None) => CreateMode::Container,
            (RecordMode::Ttl, Some(_)) => CreateMode::PersistentWithTtl,
            (RecordMode::Ttl, None) => return Err("mode ttl needs ttl_ms".into()),
            (_, Some(_)) => return Err("ttl_ms is only for mode ttl".into()),
        };
        Ok(CreateRequest {
            path: self.path.clone(),
            data: self.bytes()?,
            acl: self.parsed_acl()?,
            mode,
            ttl_ms: self.ttl_ms,
        })
    }

    /// The data: `data_base64`'s bytes, else `data`'s text, else none.
    pub(crate) fn bytes(&self) -> Result<Vec<u8>, String> {
        match (&self.data_base64, &self.data) {
            (Some(encoded), _) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("data_base64 is not base64: {e}")),
            (None, Some(text)) => Ok(text.as_bytes().to_vec()),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// The ACL; `world:anyone:cdrwa` when the record gives none.
    pub(crate) fn parsed_acl(&self) -> Result<Vec<Acl>, String> {
        if self.acl.is_empty() {
            return Ok(Acl::open_unsafe());
        }
        parse_acl(&self.acl.join(",")).map_err(|f| f.message)
    }
}

/// Whether getACL hid this entry's secret: a digest id whose hash is `x`.
fn is_redacted(acl: &Acl) -> bool {
    acl.id.scheme == "digest"
        && acl
            .id
            .id
            .rsplit_once(':')
            .is_some_and(|(_, hash)| hash == "x")
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_client::{Id, Perms};
    use corral_core::tree::CONTAINER_EPHEMERAL_OWNER;

    fn stat(ephemeral_owner: i64) -> Stat {
        Stat {
            ephemeral_owner,
            ..Stat::default()
        }
    }

    #[test]
    fn modes_come_from_the_ephemeral_owner_and_round_trip_to_a_create() {
        let acl = Acl::open_unsafe();
        let ttl_owner = i64::from_be_bytes([0xff, 0, 0, 0, 0, 0, 0xea, 0x60]);
        for (owner, mode, ttl, create) in [
            (0, RecordMode::Persistent, None, CreateMode::Persistent),
            (
                CONTAINER_EPHEMERAL_OWNER,
                RecordMode::Container,
                None,
                CreateMode::Container,
            ),
            (
                ttl_owner,
                RecordMode::Ttl,
                Some(60_000),
                CreateMode::PersistentWithTtl,
            ),
        ] {
            let record = ZnodeRecord::of("/a", b"v", &stat(owner), &acl).unwrap();
            assert_eq!((record.mode, record.ttl_ms), (mode, ttl));
            let line = serde_json::to_string(&record).unwrap();
            let back: ZnodeRecord = serde_json::from_str(&line).unwrap();
            assert_eq!(back, record);
            let request = back.create_request().unwrap();
            assert_eq!(
                (request.mode, request.ttl_ms, request.data, request.acl),
                (create, ttl, b"v".to_vec(), acl.clone())
            );
        }
    }

    #[test]
    fn ephemerals_and_hidden_digests_are_not_exported() {
        let acl = Acl::open_unsafe();
        assert_eq!(
            ZnodeRecord::of("/e", b"", &stat(0x1234), &acl),
            Err(NotExported::Ephemeral)
        );
        let hidden = vec![Acl::new(Perms::READ, Id::new("digest", "ops:x"))];
        assert_eq!(
            ZnodeRecord::of("/d", b"", &stat(0), &hidden),
            Err(NotExported::RedactedAcl("digest:ops:x:r".into()))
        );
        let shown = vec![Acl::new(
            Perms::READ,
            Id::new("digest", "ops:bm90LWhpZGRlbg=="),
        )];
        let record = ZnodeRecord::of("/d", b"", &stat(0), &shown).unwrap();
        assert_eq!(record.parsed_acl().unwrap(), shown);
    }

    #[test]
    fn binary_data_is_kept_exactly_and_text_is_readable() {
        let acl = Acl::open_unsafe();
        let binary = ZnodeRecord::of("/b", &[0, 0xff, b'\n'], &stat(0), &acl).unwrap();
        assert_eq!(binary.data, None);
        assert_eq!(binary.bytes().unwrap(), vec![0, 0xff, b'\n']);
        let text = ZnodeRecord::of("/t", "héllo".as_bytes(), &stat(0), &acl).unwrap();
        assert_eq!(text.data.as_deref(), Some("héllo"));
    }

    #[test]
    fn a_hand_written_record_needs_only_a_path() {
        let record: ZnodeRecord =
            serde_json::from_str(r#"{"path":"/app/config","data":"v=1"}"#).unwrap();
        let request = record.create_request().unwrap();
        assert_eq!(request.mode, CreateMode::Persistent);
        assert_eq!(request.acl, Acl::open_unsafe());
        assert_eq!(request.data, b"v=1".to_vec());
    }

    #[test]
    fn bad_records_are_refused_with_the_reason() {
        let bad = |line: &str| {
            let record: ZnodeRecord = serde_json::from_str(line).unwrap();
            record.create_request().expect_err(line)
        };
        assert!(bad(r#"{"path":"/a","mode":"ttl"}"#).contains("needs ttl_ms"));
        assert!(bad(r#"{"path":"/a","ttl_ms":5}"#).contains("only for mode ttl"));
        assert!(bad(r#"{"path":"/a","data_base64":"%%"}"#).contains("not base64"));
        assert!(bad(r#"{"path":"/a","acl":["world:anyone:q"]}"#).contains("bad perms"));
        assert!(
            serde_json::from_str::<ZnodeRecord>(r#"{"path":"/a","mode":"ephemeral"}"#).is_err()
        );
        assert!(serde_json::from_str::<ZnodeRecord>(r#"{"path":"/a","colour":1}"#).is_err());
    }
}
