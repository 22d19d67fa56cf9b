//! Proves that peer links are authenticated: a peer whose certificate comes
//! from another CA is refused at the handshake; a certificate for a node id
//! that is not a member gets no link; and a node started with another
//! member's certificate (so claiming an id that is not its own) never joins:
//! it refuses to start or never receives the log, while the cluster serves on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use corral_certs::{CertPaths, CertStore, IssueOptions};
use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_transport::{Endpoint, LinkConfig};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

fn hosts() -> Vec<String> {
    vec!["127.0.0.1".into(), "localhost".into()]
}

/// A dialling endpoint presenting `cert`/`key`, trusting the cluster CA.
fn endpoint(cluster: &Cluster, cert: &Path, key: &Path) -> Endpoint {
    let store = CertStore::load(CertPaths {
        ca: cluster.manifest().client.ca.clone(),
        cert: cert.to_owned(),
        key: key.to_owned(),
    })
    .unwrap();
    let config = LinkConfig {
        cluster_id: cluster.manifest().cluster.clone(),
        ..LinkConfig::default()
    };
    Endpoint::client(([127, 0, 0, 1], 0).into(), Arc::clone(&store), config).unwrap()
}

/// Whether a dial as a peer either fails or yields a link the node closes soon.
async fn kept_out(endpoint: &Endpoint, addr: std::net::SocketAddr, node: u64) -> bool {
    match endpoint.connect_peer(addr, node).await {
        Err(e) => {
            eprintln!("dial refused: {e}");
            true
        }
        Ok(link) => tokio::time::timeout(Duration::from_secs(5), link.closed())
            .await
            .inspect(|why| eprintln!("link closed: {why}"))
            .is_ok(),
    }
}

async fn cannot_join() {
    let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let target = cluster.node(leader).unwrap().listen;
    let certs = cluster.root().join("certs");

    // Another CA's certificate for a member's id.
    let foreign = tempfile::tempdir().unwrap();
    corral_certs::init_ca(foreign.path(), &IssueOptions::ca()).unwrap();
    let other = ids.iter().copied().find(|&id| id != leader).unwrap();
    let files =
        corral_certs::issue_node(foreign.path(), other, &hosts(), &IssueOptions::leaf()).unwrap();
    let dialer = endpoint(&cluster, &files.cert, &files.key);
    assert!(
        dialer.connect_peer(target, leader).await.is_err(),
        "a certificate from another CA was accepted"
    );

    // The cluster's CA, but an id that is not a member.
    let files = corral_certs::issue_node(&certs, 9, &hosts(), &IssueOptions::leaf()).unwrap();
    let dialer = endpoint(&cluster, &files.cert, &files.key);
    assert!(
        kept_out(&dialer, target, leader).await,
        "non-member node 9 kept a peer link"
    );

    // A node started with another member's certificate.
    let impostor = *ids.iter().rev().find(|&&id| id != leader).unwrap();
    let victim = *ids
        .iter()
        .find(|&&id| id != leader && id != impostor)
        .unwrap();
    cluster.kill9(impostor).unwrap();
    let stolen = CertPaths::node(&certs, victim);
    cluster
        .set(impostor, "tls.cert", stolen.cert.display().to_string())
        .unwrap();
    cluster
        .set(impostor, "tls.key", stolen.key.display().to_string())
        .unwrap();
    let applied_before = cluster.status(leader).await.unwrap().committed_index;
    cluster.start_node(impostor).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = cluster.client(leader).await.unwrap();
    for i in 0..20 {
        client
            .create(&format!("/after-{i}"), b"", CreateMode::Persistent)
            .await
            .unwrap();
    }
    let committed = cluster.status(leader).await.unwrap().committed_index;
    cluster
        .wait_applied(&[leader, victim], committed, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    if cluster.is_running(impostor) {
        let applied = cluster
            .status(impostor)
            .await
            .map(|s| s.applied_index)
            .unwrap_or(0);
        assert!(
            applied < committed,
            "node {impostor} with node {victim}'s certificate applied {applied} \
             (log at {committed}, it had {applied_before} before)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_from_another_ca_or_with_another_nodes_id_cannot_join() {
    tokio::time::timeout(TEST_TIMEOUT, cannot_join())
        .await
        .unwrap();
}
