//! Shared fixtures of the transport tests: a PKI made once per test binary, and
//! a server endpoint whose accept results come out of a channel.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use corral_certs::{CertPaths, CertStore, IssueOptions, init_ca, issue_client, issue_node};
use corral_transport::{Endpoint, Link, LinkConfig, Result};
use tokio::sync::mpsc;

/// Every test step is bounded by this.
pub const STEP: Duration = Duration::from_secs(10);

/// The test PKI: cluster CA `main` and a stranger CA `other`.
pub struct Pki {
    /// Cluster CA: nodes 1, 2, 3; client alice; expired node 4 and client old.
    pub main: PathBuf,
    /// Another CA: node 2 and client alice.
    pub other: PathBuf,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "corral-transport-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn hosts() -> Vec<String> {
    vec!["127.0.0.1".into(), "localhost".into()]
}

pub fn make_cluster(dir: &Path) {
    init_ca(dir, &IssueOptions::ca()).unwrap();
    for id in [1, 2, 3] {
        issue_node(dir, id, &hosts(), &IssueOptions::leaf()).unwrap();
    }
    issue_client(dir, "alice", &IssueOptions::leaf()).unwrap();
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let main = temp_dir("pki-main");
        make_cluster(&main);
        let expired = IssueOptions {
            validity_days: 1,
            not_before: Some(SystemTime::now() - Duration::from_secs(10 * 86_400)),
            force: false,
        };
        issue_node(&main, 4, &hosts(), &expired).unwrap();
        issue_client(&main, "old", &expired).unwrap();
        let other = temp_dir("pki-other");
        make_cluster(&other);
        Pki { main, other }
    })
}

pub fn node_store(dir: &Path, id: u64) -> Arc<CertStore> {
    CertStore::load(CertPaths::node(dir, id)).unwrap()
}

pub fn client_store(dir: &Path, name: &str) -> Arc<CertStore> {
    CertStore::load(CertPaths::client(dir, name)).unwrap()
}

pub fn config() -> LinkConfig {
    LinkConfig {
        handshake_timeout_ms: 5_000,
        cert_reload_poll_ms: 0,
        ..LinkConfig::default()
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A server endpoint; each accepted connection's outcome arrives on the channel.
pub fn server(store: Arc<CertStore>) -> (Endpoint, SocketAddr, mpsc::Receiver<Result<Link>>) {
    let endpoint = Endpoint::server(loopback(), store, config()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(16);
    let acceptor = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = acceptor.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(incoming.establish().await).await;
            });
        }
    });
    (endpoint, addr, rx)
}

pub fn dialer(store: Arc<CertStore>) -> Endpoint {
    Endpoint::client(loopback(), store, config()).unwrap()
}

/// The next accept outcome, bounded by [`STEP`].
pub async fn next_accept(rx: &mut mpsc::Receiver<Result<Link>>) -> Result<Link> {
    tokio::time::timeout(STEP, rx.recv())
        .await
        .expect("accept timed out")
        .expect("server gone")
}

/// Bounds a whole test: no test may hang, whatever it awaits.
pub async fn within<F: std::future::Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test exceeded 60 s")
}
