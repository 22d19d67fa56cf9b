//! The leader's process dies (kill -9): the followers elect a new leader as
//! soon as they hear that it is gone, not after their election timeout. Each
//! follower dials the leader from a socket that reads ICMP port unreachable;
//! its link's keep-alive (one and a half heartbeats) is the first datagram
//! sent to the dead port, and the answer makes it campaign at once
//! (`Node::peer_gone`), as a ZooKeeper follower starts looking for a leader
//! when its leader's socket is reset.
//!
//! The cluster runs with 5 s election timeouts (100 ticks of 50 ms), so
//! without the report no follower can campaign within 5 s of the leader's
//! last heartbeat; the new leader is awaited for 4 s. A session on a
//! follower writes before and after, keeps its id, and the restarted old
//! leader follows the new one with every write. A new session asked for
//! right after the kill opens once the new leader is there: the followers
//! refuse it while they forward to the dead leader, and the client tries
//! again rather than failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_client::{Client, CreateMode};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::steps::create_across_leader_change;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Below the shortest election timeout (100 ticks of 50 ms).
const ELECT_WITHIN: Duration = Duration::from_secs(4);
const WRITES: usize = 20;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// The sum of a counter over `ids` (a node that does not answer counts 0).
async fn total(cluster: &Cluster, ids: &[u64], series: &str) -> f64 {
    let mut sum = 0.0;
    for &id in ids {
        sum += cluster.metric(id, series).await.unwrap_or(0.0);
    }
    sum
}

async fn leader_replaced() {
    let options = ClusterOptions::new(3).set("timing.election_timeout_ticks", 100);
    let mut cluster = Cluster::start_serving(binary(), options).await.unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(30))
        .await
        .unwrap();
    let survivors: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
    let home = survivors[0];
    let client: Client = cluster.client(home).await.unwrap();
    let session = client.session_id();
    client
        .create("/before", b"", CreateMode::Persistent)
        .await
        .unwrap();
    for i in 0..WRITES {
        client
            .create(&format!("/before/{i}"), b"v", CreateMode::Persistent)
            .await
            .unwrap();
    }
    let gone_before = total(&cluster, &survivors, "corral_replica_leader_gone_total").await;

    cluster.kill9(leader).unwrap();
    let killed = Instant::now();
    // A new session asked for while the survivors still forward to the dead
    // leader: they answer that the leader changed, and the client tries
    // again until the election is over, instead of failing.
    let newcomer = tokio::spawn(Client::connect(cluster.client_config(&survivors)));
    let new_leader = cluster
        .wait_leader(&survivors, ELECT_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("no leader before any election timeout could end: {e}"));
    eprintln!(
        "node {new_leader} leads {} ms after the kill of leader {leader}",
        killed.elapsed().as_millis()
    );
    let gone_after = total(&cluster, &survivors, "corral_replica_leader_gone_total").await;
    assert!(
        gone_after > gone_before,
        "no survivor counted the leader gone ({gone_before} -> {gone_after})"
    );

    let newcomer = newcomer
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("a session asked for during the election was refused: {e}"));
    newcomer
        .create("/newcomer", b"", CreateMode::Ephemeral)
        .await
        .unwrap();

    // The session on the surviving follower writes on, under the new leader.
    create_across_leader_change(&client, "/after").await;
    assert_eq!(client.session_id(), session);

    // The old leader, restarted, follows and holds every write.
    cluster.start_node(leader).unwrap();
    cluster
        .wait_serving(&[leader], Duration::from_secs(30))
        .await
        .unwrap();
    let back = cluster.client(leader).await.unwrap();
    back.sync("/").await.unwrap();
    let children = back.get_children("/before").await.unwrap();
    assert_eq!(children.len(), WRITES);
    assert!(back.exists("/after").await.unwrap().is_some());
    let status = cluster.status(leader).await.unwrap();
    assert!(!status.is_leader, "the restarted node leads again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_process_dies_is_replaced_before_any_election_timeout() {
    tokio::time::timeout(TEST_TIMEOUT, leader_replaced())
        .await
        .expect("test timed out");
}
