//! Proves the WAL's recovery rules on a real node: a record cut short at a
//! random byte at the end of the newest segment (a crash mid-write) is cut
//! off and the node starts, catches up and serves the same tree as the
//! others; a flipped byte in a record in the middle of the log is reported
//! (a CRC error in the log) and the node refuses to start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::tree_dump::dump_tree;
use corral_tests::wal_files::{flip_payload_byte, records, tear_last_record};
use rand::{Rng, SeedableRng};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WRITES: usize = 60;
/// Bound on a restarted node catching up (the leader notices its old links
/// are dead after the peer idle timeout, a few election timeouts).
const RESTART_CATCH_UP: Duration = Duration::from_secs(60);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// A 3-node cluster with `WRITES` znodes written and applied everywhere;
/// returns it with its leader and one follower.
async fn cluster_with_writes() -> (Cluster, u64, u64) {
    let cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let follower = *ids.iter().find(|&&id| id != leader).unwrap();
    let client = cluster.client(leader).await.unwrap();
    for i in 0..WRITES {
        client
            .create(&format!("/w-{i}"), b"x", CreateMode::Persistent)
            .await
            .unwrap();
    }
    let committed = cluster.status(leader).await.unwrap().committed_index;
    cluster
        .wait_applied(&ids, committed, Duration::from_secs(10))
        .await
        .unwrap();
    (cluster, leader, follower)
}

async fn torn_tail() {
    let (mut cluster, leader, follower) = cluster_with_writes().await;
    cluster.kill9(follower).unwrap();
    let newest = cluster.wal_segments(follower).unwrap().pop().unwrap();
    let last = *records(&newest).unwrap().last().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let keep = rand::rngs::SmallRng::seed_from_u64(seed).random_range(1..last.frame_bytes);
    eprintln!(
        "seed {seed}: keeping {keep} of {} bytes of the last record",
        last.frame_bytes
    );
    tear_last_record(&newest, keep).unwrap();

    cluster.start_node(follower).unwrap();
    cluster
        .wait_serving(&[follower], RESTART_CATCH_UP)
        .await
        .unwrap();
    let client = cluster.client(leader).await.unwrap();
    client
        .create("/after", b"y", CreateMode::Persistent)
        .await
        .unwrap();
    let committed = cluster.status(leader).await.unwrap().committed_index;
    cluster
        .wait_applied(&[follower], committed, RESTART_CATCH_UP)
        .await
        .unwrap();
    let on_follower = cluster.client(follower).await.unwrap();
    on_follower.sync("/").await.unwrap();
    assert_eq!(
        dump_tree(&on_follower).await.unwrap(),
        dump_tree(&client).await.unwrap()
    );
}

async fn corrupt_middle() {
    let (mut cluster, _leader, follower) = cluster_with_writes().await;
    cluster.kill9(follower).unwrap();
    let segments = cluster.wal_segments(follower).unwrap();
    let (segment, count) = segments
        .iter()
        .map(|s| (s.clone(), records(s).unwrap().len()))
        .max_by_key(|(_, n)| *n)
        .unwrap();
    assert!(
        count >= 3,
        "too few records ({count}) to corrupt one in the middle"
    );
    let at = flip_payload_byte(&segment, count / 2).unwrap();
    eprintln!("flipped byte {at} of {}", segment.display());

    cluster.start_node(follower).unwrap();
    let status = cluster
        .wait_exit(follower, Duration::from_secs(20))
        .unwrap();
    assert!(!status.success(), "the node started on a corrupt WAL");
    let log = cluster.log(follower).to_lowercase();
    assert!(
        log.contains("crc") || log.contains("corrupt"),
        "the node's error does not report the corruption:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_wal_tail_is_cut_and_the_node_catches_up() {
    tokio::time::timeout(TEST_TIMEOUT, torn_tail())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_mid_wal_is_reported_and_the_node_refuses_to_start() {
    tokio::time::timeout(TEST_TIMEOUT, corrupt_middle())
        .await
        .unwrap();
}
