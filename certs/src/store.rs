//! Loading a certificate set, and swapping in a new one when its files change.
//!
//! ```text
//!   ca.pem, <me>.pem, <me>.key ──load──► CertSet ──Arc──► CertStore.current
//!                       ▲                                   │  read on every handshake
//!   reload_if_changed() ┘ (mtime/size/inode poll)            ▼  by the resolvers and verifiers
//! ```
//!
//! A handshake takes one `Arc<CertSet>` and uses it throughout, so a reload
//! never mixes generations within a connection; established connections keep
//! the certificates they were made with. A set whose files fail to load (say a
//! rotation caught half-way) is reported and the previous set stays in force.

use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;

use crate::error::{CertError, Result};
use crate::identity::{Identity, NodeId, inspect};
use crate::issue::{ca_files, client_files, node_files};

/// Where one party's certificate set lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The cluster CA certificate (PEM; may hold several, all trusted).
    pub ca: PathBuf,
    /// This party's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// This party's private key (PEM, PKCS#8 or SEC1).
    pub key: PathBuf,
}

impl CertPaths {
    /// The files `issue_node` wrote for node `id` in `dir`.
    pub fn node(dir: &Path, id: NodeId) -> Self {
        let files = node_files(dir, id);
        Self {
            ca: ca_files(dir).cert,
            cert: files.cert,
            key: files.key,
        }
    }

    /// The files `issue_client` wrote for client `name` in `dir`.
    pub fn client(dir: &Path, name: &str) -> Self {
        let files = client_files(dir, name);
        Self {
            ca: ca_files(dir).cert,
            cert: files.cert,
            key: files.key,
        }
    }
}

/// One loaded generation of certificates: what a handshake uses.
pub struct CertSet {
    /// Our chain and signing key, as rustls presents them.
    pub certified_key: Arc<CertifiedKey>,
    /// The CA certificates we trust.
    pub roots: Arc<RootCertStore>,
    /// The identity our own certificate names.
    pub identity: Identity,
    /// Our certificate's serial number (big-endian bytes).
    pub serial: Vec<u8>,
    /// Checks client certificates against `roots` (rebuilt with each set).
    pub(crate) client_verifier: Arc<dyn ClientCertVerifier>,
}

impl fmt::Debug for CertSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSet")
            .field("identity", &self.identity)
            .field("serial", &self.serial)
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl CertSet {
    /// Loads and checks the three files of `paths`.
    pub fn load(paths: &CertPaths, provider: &Arc<CryptoProvider>) -> Result<Self> {
        let ca_pem = read(&paths.ca)?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            let cert = cert.map_err(|e| pem_error(&paths.ca, e))?;
            roots.add(cert).map_err(|source| CertError::Tls {
                context: format!("adding CA of {}", paths.ca.display()),
                source,
            })?;
        }
        if roots.is_empty() {
            return Err(CertError::Pem {
                path: paths.ca.clone(),
                what: "no CERTIFICATE".into(),
            });
        }
        let roots = Arc::new(roots);

        let cert_pem = read(&paths.cert)?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_error(&paths.cert, e))?;
        let leaf = chain.first().ok_or_else(|| CertError::Pem {
            path: paths.cert.clone(),
            what: "no CERTIFICATE".into(),
        })?;
        let info = inspect(leaf).map_err(|e| CertError::Pem {
            path: paths.cert.clone(),
            what: e.to_string(),
        })?;
        let key_pem = read(&paths.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_error(&paths.key, e))?;
        // from_der checks that the key belongs to the certificate.
        let certified_key =
            CertifiedKey::from_der(chain, key, provider).map_err(|source| CertError::Tls {
                context: format!(
                    "pairing {} with {}",
                    paths.cert.display(),
                    paths.key.display()
                ),
                source,
            })?;
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| CertError::Pem {
                    path: paths.ca.clone(),
                    what: format!("building the client verifier: {e}"),
                })?;
        Ok(Self {
            certified_key: Arc::new(certified_key),
            roots,
            identity: info.identity,
            serial: info.serial,
            client_verifier,
        })
    }
}

/// corral's crypto provider: ring, preferring AES-128-GCM (the fastest of
/// TLS 1.3's suites with AES hardware; QUIC's own initial suite), then
/// AES-256-GCM, then ChaCha20-Poly1305.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

/// A file's change stamp: modification time, size and inode.
type Stamp = Option<(SystemTime, u64, u64)>;

/// The current certificate set of this process, swapped when its files change.
pub struct CertStore {
    paths: CertPaths,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertSet>>,
    stamps: Mutex<[Stamp; 3]>,
    generation: AtomicU64,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("paths", &self.paths)
            .field("current", &self.current())
            .finish()
    }
}

impl CertStore {
    /// Loads the set at `paths` with corral's crypto provider ([`provider`]).
    pub fn load(paths: CertPaths) -> Result<Arc<Self>> {
        Self::load_with_provider(paths, provider())
    }

    /// Loads the set at `paths` with the given crypto provider.
    pub fn load_with_provider(
        paths: CertPaths,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<Self>> {
        let stamps = stamps(&paths);
        let set = CertSet::load(&paths, &provider)?;
        Ok(Arc::new(Self {
            paths,
            provider,
            current: RwLock::new(Arc::new(set)),
            stamps: Mutex::new(stamps),
            generation: AtomicU64::new(0),
        }))
    }

    /// The set new handshakes use now.
    pub fn current(&self) -> Arc<CertSet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times a new set was swapped in; caches keyed to the old
    /// certificates (TLS sessions) compare it to know when to forget.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The files this store loads from.
    pub fn paths(&self) -> &CertPaths {
        &self.paths
    }

    /// The crypto provider (ring) every config built on this store uses.
    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    /// Reloads if any file's mtime, size or inode changed; `Ok(true)` if swapped.
    ///
    /// On error the previous set stays current and the next call tries again.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let now = stamps(&self.paths);
        let mut seen = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == now {
            return Ok(false);
        }
        self.reload()?;
        *seen = now;
        Ok(true)
    }

    /// Loads the files again and makes them current.
    pub fn reload(&self) -> Result<()> {
        let set = CertSet::load(&self.paths, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().certified_key.clone())
    }
}

impl ResolvesClientCert for CertStore {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current().certified_key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn stamps(paths: &CertPaths) -> [Stamp; 3] {
    [&paths.ca, &paths.cert, &paths.key].map(|path| {
        let meta = fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len(), meta.ino()))
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| CertError::io("read", path, e))
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> CertError {
    CertError::Pem {
        path: path.to_path_buf(),
        what: e.to_string(),
    }
}
