//! Proves that bad input from a peer costs only that peer its connection: a
//! link (with a member's certificate) that sends undecodable frames, or a
//! frame header declaring 2 GiB, is disconnected; a peer of another cluster is
//! refused at the hello; and the node keeps running and the cluster keeps
//! committing writes through every node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_certs::{CertPaths, CertStore};
use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_transport::{Endpoint, LinkConfig};
use rand::{RngCore, SeedableRng};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

fn endpoint(cluster: &Cluster, as_node: u64, cluster_id: &str) -> Endpoint {
    let store = CertStore::load(CertPaths::node(&cluster.root().join("certs"), as_node)).unwrap();
    let config = LinkConfig {
        cluster_id: cluster_id.to_owned(),
        ..LinkConfig::default()
    };
    Endpoint::client(([127, 0, 0, 1], 0).into(), Arc::clone(&store), config).unwrap()
}

/// Dials `target` as node `as_node`, sends `bytes` on a fresh stream, and
/// waits for the node to end the stream or the connection.
async fn disconnected_after(cluster: &Cluster, as_node: u64, target: u64, bytes: &[u8]) -> bool {
    let dialer = endpoint(cluster, as_node, &cluster.manifest().cluster);
    let addr = cluster.node(target).unwrap().listen;
    let link = dialer.connect_peer(addr, target).await.unwrap();
    let (mut send, mut recv) = link.connection().open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    let mut sink = [0u8; 1024];
    let ended = async {
        loop {
            tokio::select! {
                why = link.closed() => {
                    eprintln!("connection closed: {why}");
                    return;
                }
                read = recv.read(&mut sink) => match read {
                    Ok(Some(_)) => continue,
                    other => {
                        eprintln!("stream ended: {other:?}");
                        return;
                    }
                },
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .is_ok()
}

async fn garbage() {
    let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    let target = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let as_node = *ids.iter().find(|&&id| id != target).unwrap();

    let mut noise = vec![0u8; 4 + 256];
    rand::rngs::SmallRng::seed_from_u64(5).fill_bytes(&mut noise);
    noise[..4].copy_from_slice(&256u32.to_le_bytes());
    assert!(
        disconnected_after(&cluster, as_node, target, &noise).await,
        "undecodable frames did not end the link"
    );
    let oversize = (2u32 << 30).to_le_bytes();
    assert!(
        disconnected_after(&cluster, as_node, target, &oversize).await,
        "a 2 GiB frame header did not end the link"
    );
    let stranger = endpoint(&cluster, as_node, "another-cluster");
    let addr = cluster.node(target).unwrap().listen;
    assert!(
        stranger.connect_peer(addr, target).await.is_err(),
        "a peer of another cluster was accepted"
    );

    assert!(
        cluster.is_running(target),
        "node {target} died of bad input"
    );
    // The impersonated member reconnects; then writes commit through every node.
    for &id in &ids {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let attempt = async {
                let client = cluster.client(id).await?;
                client
                    .create(&format!("/through-{id}"), b"", CreateMode::Persistent)
                    .await?;
                anyhow::Ok(())
            };
            match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                Ok(Ok(())) => break,
                other => assert!(
                    Instant::now() < deadline,
                    "no write through node {id} after the bad input: {other:?}\n{}",
                    cluster.logs_tail(20)
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(
        cluster.is_running(target),
        "node {target} died of bad input"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_sending_garbage_is_disconnected_and_the_node_keeps_serving() {
    tokio::time::timeout(TEST_TIMEOUT, garbage()).await.unwrap();
}
