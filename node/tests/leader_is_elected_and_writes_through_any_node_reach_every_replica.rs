//! Proves that 3- and 5-node clusters of real `corral serve` processes elect
//! one leader, that writes sent through every node (followers forward them)
//! commit, and that afterwards every node serves the same tree: each node's
//! whole tree is read through a session on that node and compared. With
//! three voters the followers commit forwarded writes on the leader's news
//! that its write is durable; with five, where a pair is no quorum, never.
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

async fn elect_write_compare(nodes: u64) {
    let cluster = Cluster::start_serving(binary(), ClusterOptions::new(nodes))
        .await
        .unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let mut leaders = 0;
    let leader_term = cluster.status(leader).await.unwrap().term;
    for &id in &ids {
        let status = cluster.status(id).await.unwrap();
        if status.is_leader && status.term == leader_term {
            leaders += 1;
        }
    }
    assert_eq!(leaders, 1, "exactly one leader in term {leader_term}");

    let clients = write_through_each(&cluster, &ids, WRITES_PER_NODE)
        .await
        .unwrap();
    assert_every_node_agrees(&clients, WRITES_PER_NODE)
        .await
        .unwrap();

    // The counters are sampled once a tick (50 ms): wait for a sample past
    // the writes.
    let deadline = Instant::now() + Duration::from_secs(if nodes <= 3 { 5 } else { 1 });
    let early = loop {
        let mut early = 0.0;
        for &id in &ids {
            early += early_commits(&cluster, id).await;
        }
        if early > 0.0 || Instant::now() >= deadline {
            break early;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if nodes <= 3 {
        assert!(early > 0.0, "no follower committed on the leader's news");
    } else {
        assert_eq!(early, 0.0, "a pair of {nodes} voters is no quorum");
    }
}

/// `corral_replica_commits_on_leader_durable_total` on node `id`.
async fn early_commits(cluster: &Cluster, id: u64) -> f64 {
    let body = cluster.metrics(id).await.unwrap();
    metric_value(&body, EARLY_COMMITS).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_leader_and_agree_on_every_write() {
    tokio::time::timeout(TEST_TIMEOUT, elect_write_compare(3))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_elect_a_leader_and_agree_on_every_write() {
    tokio::time::timeout(TEST_TIMEOUT, elect_write_compare(5))
        .await
        .unwrap();
}
