//! A follower's link to the leader goes down (its direction blackholed by the
//! harness's proxy, while the leader's link to it stays up, so it still
//! knows the leader). A write its client sends meanwhile is forwarded into
//! a peer queue that has no link: the queue drops it. The follower sends it
//! again on its next ticks, so once the link is back the write commits,
//! where it used to wait for the request timeout and fail with
//! ConnectionLoss.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_client::{Client, CreateMode};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::node_status::metric_value;
use corral_tests::udp_proxy::Faults;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// Node `id`'s value of `series` (a name with its labels), if it has one.
async fn metric(cluster: &Cluster, id: u64, series: &str) -> Option<f64> {
    metric_value(&cluster.metrics(id).await.ok()?, series)
}

async fn forwards_sent_again() {
    let options = ClusterOptions {
        proxies: true,
        ..ClusterOptions::new(3)
    };
    let cluster = Cluster::start_serving(binary(), options).await.unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let follower = ids.iter().copied().find(|&id| id != leader).unwrap();
    // A long session timeout: the session's heartbeats reach the leader over
    // the same link, and the session must outlive the outage.
    let mut config = cluster.client_config(&[follower]);
    config.session_timeout = Duration::from_secs(30);
    let client = Client::connect(config).await.unwrap();
    client
        .create("/before", b"", CreateMode::Persistent)
        .await
        .unwrap();
    let resent = "corral_replica_forwards_resent_total";
    let resent_before = metric(&cluster, follower, resent).await.unwrap_or(0.0);

    // Only the follower's own link to the leader: the leader still reaches
    // it, so it keeps following and forwarding to that leader.
    let proxy = cluster.proxy(follower, leader).unwrap();
    proxy.set_both(Faults::blackhole());
    let connected = format!("corral_peer_connected{{peer=\"{leader}\"}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&cluster, follower, &connected).await != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "the follower's link to the leader did not go down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let write = {
        let client = client.clone();
        tokio::spawn(async move { client.create("/during", b"v", CreateMode::Persistent).await })
    };
    // Dropped, and sent again on every tick, while the link is down.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!write.is_finished(), "the write committed without a link");
    proxy.set_both(Faults::none());

    let created = write.await.unwrap();
    assert_eq!(created.unwrap(), "/during");
    for &id in &ids {
        let on_node = cluster.client(id).await.unwrap();
        on_node.sync("/").await.unwrap();
        let (data, _) = on_node.get_data("/during").await.unwrap();
        assert_eq!(data, b"v", "node {id}");
    }
    let resent_after = metric(&cluster, follower, resent).await.unwrap_or(0.0);
    assert!(
        resent_after > resent_before,
        "{resent}: {resent_before} before the outage, {resent_after} after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_dropped_while_the_link_to_the_leader_is_down_are_sent_again() {
    tokio::time::timeout(TEST_TIMEOUT, forwards_sent_again())
        .await
        .unwrap();
}
