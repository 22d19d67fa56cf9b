//! Proves that a cluster can be upgraded one node at a time across a peer
//! protocol change: a follower restarted speaking the version before this
//! build's (`peer_protocol_version = 2`, which is what a node of that build
//! offers) rejoins, every link to it settles on version 2, writes through
//! every node commit, and the nodes agree on the tree. The version 2 node
//! never hears the leader's durable news (it would not decode it): it never
//! counts a commit on it, while a current follower does under a current leader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::node_status::metric_value;
use corral_tests::through_every_node::{assert_every_node_agrees, write_through_each};

const EARLY_COMMITS: &str = "corral_replica_commits_on_leader_durable_total";
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const WRITES_PER_NODE: usize = 30;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// The peer protocol version node `id`'s link to `peer` settled on, once it is up.
async fn link_version(cluster: &Cluster, id: u64, peer: u64) -> f64 {
    let series = format!("corral_peer_protocol_version{{peer=\"{peer}\"}} ");
    let connected = format!("corral_peer_connected{{peer=\"{peer}\"}} 1");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = cluster.metrics(id).await.unwrap();
        let version = text
            .lines()
            .find_map(|line| line.strip_prefix(&series)?.trim().parse::<f64>().ok());
        if let (Some(version), true) = (version, text.contains(&connected)) {
            return version;
        }
        assert!(
            Instant::now() < deadline,
            "node {id}'s link to {peer} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn upgrade_in_reverse() {
    let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let followers: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
    let (old, current) = (followers[0], followers[1]);

    cluster.stop(old, Duration::from_secs(20)).unwrap();
    cluster.set(old, "peer_protocol_version", 2).unwrap();
    cluster.start_node(old).unwrap();
    cluster
        .wait_ready(&[old], Duration::from_secs(30))
        .await
        .unwrap();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();

    // Every link to and from the old node speaks 2; the others speak 3.
    for &id in &ids {
        for &peer in ids.iter().filter(|&&p| p != id) {
            let expected = if id == old || peer == old { 2.0 } else { 3.0 };
            assert_eq!(
                link_version(&cluster, id, peer).await,
                expected,
                "node {id}'s link to {peer}"
            );
        }
    }

    let clients = write_through_each(&cluster, &ids, WRITES_PER_NODE)
        .await
        .unwrap();
    assert_every_node_agrees(&clients, WRITES_PER_NODE)
        .await
        .unwrap();

    // Counters are sampled once a tick: wait for samples past the writes.
    let deadline = Instant::now() + Duration::from_secs(5);
    let current_early = loop {
        let text = cluster.metrics(current).await.unwrap();
        let n = metric_value(&text, EARLY_COMMITS).unwrap_or(0.0);
        if n > 0.0 || Instant::now() >= deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let old_early =
        metric_value(&cluster.metrics(old).await.unwrap(), EARLY_COMMITS).unwrap_or(0.0);
    assert_eq!(old_early, 0.0, "the version 2 node heard durable news");
    if leader == old {
        // A leader on version 2 sends no durable news at all.
        assert_eq!(current_early, 0.0, "durable news from a version 2 leader");
    } else {
        assert!(
            current_early > 0.0,
            "the current follower never committed on durable news"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_on_the_older_peer_protocol_rejoins_and_every_write_commits() {
    tokio::time::timeout(TEST_TIMEOUT, upgrade_in_reverse())
        .await
        .unwrap();
}
