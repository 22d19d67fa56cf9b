//! Issuing the cluster CA, node certificates and client certificates (rcgen).
//!
//! The library behind `corral certs init|node|client`. Every function writes PEM
//! files into one directory and returns their paths:
//!
//! ```text
//! D/ca.pem  D/ca.key                      init_ca
//! D/node-<id>.pem  D/node-<id>.key        issue_node   (signed by D/ca.*)
//! D/client-<name>.pem  D/client-<name>.key issue_client (signed by D/ca.*)
//! ```

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::error::{CertError, Result};
use crate::files::{CERT_FILE_MODE, KEY_FILE_MODE, check_absent, ensure_dir, write_file};
use crate::identity::{Identity, NodeId, check_client_name};

/// Default validity of the CA, in days (10 years).
pub const CA_VALIDITY_DAYS_DEFAULT: u32 = 3650;
/// Default validity of node and client certificates, in days.
pub const LEAF_VALIDITY_DAYS_DEFAULT: u32 = 365;
/// How far back `not_before` is set by default, to tolerate clock skew.
pub const BACKDATE_S_DEFAULT: u64 = 3600;

/// How to issue a certificate.
#[derive(Debug, Clone)]
pub struct IssueOptions {
    /// Validity in days from `not_before`.
    pub validity_days: u32,
    /// Start of validity; `None` means now minus [`BACKDATE_S_DEFAULT`].
    pub not_before: Option<SystemTime>,
    /// Overwrite existing files.
    pub force: bool,
}

impl IssueOptions {
    /// Defaults for a CA: 10 years, no overwrite.
    pub fn ca() -> Self {
        Self {
            validity_days: CA_VALIDITY_DAYS_DEFAULT,
            not_before: None,
            force: false,
        }
    }

    /// Defaults for a node or client certificate: 1 year, no overwrite.
    pub fn leaf() -> Self {
        Self {
            validity_days: LEAF_VALIDITY_DAYS_DEFAULT,
            not_before: None,
            force: false,
        }
    }

    /// The same options with `force` set.
    pub fn forced(mut self) -> Self {
        self.force = true;
        self
    }
}

/// The files one command wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM, PKCS#8, mode 0600).
    pub key: PathBuf,
}

/// Paths of the CA files in `dir`.
pub fn ca_files(dir: &Path) -> IssuedFiles {
    IssuedFiles {
        cert: dir.join("ca.pem"),
        key: dir.join("ca.key"),
    }
}

/// Paths of node `id`'s files in `dir`.
pub fn node_files(dir: &Path, id: NodeId) -> IssuedFiles {
    IssuedFiles {
        cert: dir.join(format!("node-{id}.pem")),
        key: dir.join(format!("node-{id}.key")),
    }
}

/// Paths of client `name`'s files in `dir`.
pub fn client_files(dir: &Path, name: &str) -> IssuedFiles {
    IssuedFiles {
        cert: dir.join(format!("client-{name}.pem")),
        key: dir.join(format!("client-{name}.key")),
    }
}

/// Creates a new cluster CA (ECDSA P-256) in `dir`: `ca.pem` and `ca.key`.
pub fn init_ca(dir: &Path, opts: &IssueOptions) -> Result<IssuedFiles> {
    let files = ca_files(dir);
    ensure_dir(dir)?;
    check_absent(&[&files.cert, &files.key], opts.force)?;
    let key = generate_key("CA key")?;
    let mut params = base_params(opts)?;
    let mut dn = DistinguishedName::new();
    // A CA name of its own (from its key) so that a certificate of another
    // cluster's CA reads as "unknown issuer", not as a bad signature.
    let tag: String = key
        .public_key_raw()
        .iter()
        .skip(1)
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    dn.push(DnType::CommonName, format!("corral cluster CA {tag}"));
    dn.push(DnType::OrganizationalUnitName, "corral-ca");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params
        .self_signed(&key)
        .map_err(|source| CertError::Generate {
            what: "CA certificate".into(),
            source,
        })?;
    write_pair(&files, &cert.pem(), &key.serialize_pem(), opts.force)?;
    Ok(files)
}

/// Issues node `id`'s certificate (id 0 is reserved), valid for `hosts` (DNS
/// names or IP addresses).
pub fn issue_node(
    dir: &Path,
    id: NodeId,
    hosts: &[String],
    opts: &IssueOptions,
) -> Result<IssuedFiles> {
    if id == 0 {
        // The consensus core reserves id 0 ("no node").
        return Err(CertError::Invalid {
            what: "node id",
            value: "0".into(),
            why: "0 is reserved",
        });
    }
    let mut sans = vec![SanType::URI(ia5(&Identity::Node(id).uri(), "node URI")?)];
    for host in hosts {
        sans.push(match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(ia5(host, "host")?),
        });
    }
    let usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    issue_leaf(
        dir,
        node_files(dir, id),
        &format!("node-{id}"),
        "corral-node",
        sans,
        usages,
        opts,
    )
}

/// Issues client `name`'s certificate; the name is its x509 ACL identity.
pub fn issue_client(dir: &Path, name: &str, opts: &IssueOptions) -> Result<IssuedFiles> {
    check_client_name(name)?;
    let sans = vec![SanType::URI(ia5(
        &Identity::Client(name.to_owned()).uri(),
        "client URI",
    )?)];
    let usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue_leaf(
        dir,
        client_files(dir, name),
        name,
        "corral-client",
        sans,
        usages,
        opts,
    )
}

fn issue_leaf(
    dir: &Path,
    files: IssuedFiles,
    common_name: &str,
    unit: &str,
    sans: Vec<SanType>,
    usages: Vec<ExtendedKeyUsagePurpose>,
    opts: &IssueOptions,
) -> Result<IssuedFiles> {
    check_absent(&[&files.cert, &files.key], opts.force)?;
    let ca = ca_files(dir);
    let ca_key_pem = read_string(&ca.key)?;
    let ca_cert_pem = read_string(&ca.cert)?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|source| CertError::Generate {
        what: format!("loading {}", ca.key.display()),
        source,
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key).map_err(|source| CertError::Generate {
            what: format!("loading {}", ca.cert.display()),
            source,
        })?;
    let key = generate_key(common_name)?;
    let mut params = base_params(opts)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationalUnitName, unit);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = usages;
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| CertError::Generate {
            what: format!("certificate of {common_name}"),
            source,
        })?;
    write_pair(&files, &cert.pem(), &key.serialize_pem(), opts.force)?;
    Ok(files)
}

fn base_params(opts: &IssueOptions) -> Result<CertificateParams> {
    let now = SystemTime::now();
    let not_before = opts
        .not_before
        .unwrap_or(now - Duration::from_secs(BACKDATE_S_DEFAULT));
    let not_after = not_before + Duration::from_secs(u64::from(opts.validity_days) * 86_400);
    let mut params = CertificateParams::default();
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    // No serial given: rcgen derives one from a hash of the (fresh) public key, so
    // every issued certificate, reissues included, has its own.
    Ok(params)
}

fn generate_key(what: &str) -> Result<KeyPair> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| CertError::Generate {
        what: what.to_owned(),
        source,
    })
}

fn ia5(value: &str, what: &'static str) -> Result<rcgen::string::Ia5String> {
    rcgen::string::Ia5String::try_from(value.to_owned()).map_err(|_| CertError::Invalid {
        what,
        value: value.to_owned(),
        why: "not ASCII",
    })
}

fn read_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| CertError::io("read", path, e))
}

fn write_pair(files: &IssuedFiles, cert_pem: &str, key_pem: &str, force: bool) -> Result<()> {
    // Key first: a certificate never sits on disk without its key.
    write_file(&files.key, key_pem.as_bytes(), KEY_FILE_MODE, force)?;
    write_file(&files.cert, cert_pem.as_bytes(), CERT_FILE_MODE, force)
}
