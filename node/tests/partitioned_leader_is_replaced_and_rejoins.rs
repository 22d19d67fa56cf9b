//! Proves that the harness's fault proxies cut a node off and that the
//! cluster handles it: with every peer link of the leader blackholed (both
//! ways), the other two elect a new leader and keep committing writes; once
//! the links heal, the old leader follows the new one and catches up, and
//! every node serves the same tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::tree_dump::dump_tree;
use corral_tests::udp_proxy::Faults;

const TEST_TIMEOUT: Duration = Duration::from_secs(180);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

fn set_links_of(cluster: &Cluster, node: u64, faults: Faults) {
    for other in cluster.ids().into_iter().filter(|&id| id != node) {
        for (from, to) in [(node, other), (other, node)] {
            cluster.proxy(from, to).unwrap().set_both(faults);
        }
    }
}

async fn partitioned_leader() {
    let options = ClusterOptions {
        proxies: true,
        ..ClusterOptions::new(3)
    };
    let cluster = Cluster::start_serving(binary(), options).await.unwrap();
    let ids = cluster.ids();
    let old = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let old_term = cluster.status(old).await.unwrap().term;

    set_links_of(&cluster, old, Faults::blackhole());
    let majority: Vec<u64> = ids.iter().copied().filter(|&id| id != old).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let new = loop {
        if let Some((id, status)) = cluster.leader_among(&majority).await {
            if status.term > old_term {
                break id;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new leader behind the partition"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dropped: u64 = majority
        .iter()
        .flat_map(|&id| [(old, id), (id, old)])
        .map(|(from, to)| cluster.proxy(from, to).unwrap().counts().dropped)
        .sum();
    assert!(
        dropped > 0,
        "the partition dropped no datagram: links bypass the proxies"
    );
    let client = cluster.client(new).await.unwrap();
    for i in 0..20 {
        client
            .create(&format!("/majority-{i}"), b"", CreateMode::Persistent)
            .await
            .unwrap();
    }

    set_links_of(&cluster, old, Faults::none());
    let committed = cluster.status(new).await.unwrap().committed_index;
    cluster
        .wait_applied(&ids, committed, Duration::from_secs(60))
        .await
        .unwrap();
    let old_status = cluster.status(old).await.unwrap();
    assert!(
        !old_status.is_leader || old_status.term > old_term,
        "the old leader still leads its old term"
    );
    let reference = dump_tree(&client).await.unwrap();
    for &id in &ids {
        let on_node = cluster.client(id).await.unwrap();
        on_node.sync("/").await.unwrap();
        assert_eq!(
            dump_tree(&on_node).await.unwrap(),
            reference,
            "node {id} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_is_replaced_and_rejoins() {
    tokio::time::timeout(TEST_TIMEOUT, partitioned_leader())
        .await
        .unwrap();
}
