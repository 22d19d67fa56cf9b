//! A follower's link to the leader goes down (its direction blackholed by the
//! harness's proxy, while the leader's link to it stays up, so it still
//! knows the leader). Two writes its client pipelines meanwhile are
//! forwarded into a peer queue with no link: the queue holds them, and once
//! the link is back sends them first, in order, so both commit in the order
//! sent. Before, the queue dropped them: each waited for the request timeout
//! and failed with ConnectionLoss.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_client::{Client, CreateMode};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::udp_proxy::Faults;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

async fn forwards_held_and_sent_in_order() {
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
    let held = format!("corral_peer_forwards_held_total{{peer=\"{leader}\"}}");
    let held_before = cluster.metric(follower, &held).await.unwrap_or(0.0);

    // Only the follower's own link to the leader: the leader still reaches
    // it, so it keeps following and forwarding to that leader.
    let proxy = cluster.proxy(follower, leader).unwrap();
    proxy.set_both(Faults::blackhole());
    let connected = format!("corral_peer_connected{{peer=\"{leader}\"}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.metric(follower, &connected).await != Some(0.0) {
        assert!(
            Instant::now() < deadline,
            "the follower's link to the leader did not go down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Two writes pipelined on the session: the client sends them in order.
    let (first, second) = {
        let (a, b) = (client.clone(), client.clone());
        let first =
            tokio::spawn(async move { a.create("/during-1", b"1", CreateMode::Persistent).await });
        // The second is sent once the first is in flight.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second =
            tokio::spawn(async move { b.create("/during-2", b"2", CreateMode::Persistent).await });
        (first, second)
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !first.is_finished() && !second.is_finished(),
        "a write committed without a link"
    );
    proxy.set_both(Faults::none());

    assert_eq!(first.await.unwrap().unwrap(), "/during-1");
    assert_eq!(second.await.unwrap().unwrap(), "/during-2");
    let (_, stat_1) = client.get_data("/during-1").await.unwrap();
    let (_, stat_2) = client.get_data("/during-2").await.unwrap();
    assert!(
        stat_1.czxid < stat_2.czxid,
        "committed out of order: {} then {}",
        stat_1.czxid,
        stat_2.czxid
    );
    for &id in &ids {
        let on_node = cluster.client(id).await.unwrap();
        on_node.sync("/").await.unwrap();
        for (path, data) in [("/during-1", b"1"), ("/during-2", b"2")] {
            let (on_node_data, _) = on_node.get_data(path).await.unwrap();
            assert_eq!(on_node_data, data, "node {id}, {path}");
        }
    }
    let held_after = cluster.metric(follower, &held).await.unwrap_or(0.0);
    assert!(
        held_after >= held_before + 2.0,
        "{held}: {held_before} before the outage, {held_after} after"
    );
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_queued_while_the_link_to_the_leader_is_down_are_held_and_sent_in_order() {
    tokio::time::timeout(TEST_TIMEOUT, forwards_held_and_sent_in_order())
        .await
        .unwrap();
}
