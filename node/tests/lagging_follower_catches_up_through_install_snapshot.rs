//! Proves that a follower kept down until the leader has compacted its log
//! comes back through InstallSnapshot: with small snapshot thresholds and WAL
//! segments, the leader snapshots and removes the log segments the follower
//! would need; the follower restarts, receives the snapshot, catches up, and
//! serves the same tree as the leader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::tree_dump::dump_tree;

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WRITES: usize = 1_500;
const WRITE_TASKS: usize = 16;
/// Bound on a restarted node catching up (the leader notices its old links
/// are dead after the peer idle timeout, a few election timeouts).
const RESTART_CATCH_UP: Duration = Duration::from_secs(60);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// The first log index a segment holds, from its name (`<index:020>.wal`).
fn first_index(segment: &Path) -> u64 {
    let stem = segment.file_stem().unwrap().to_string_lossy();
    stem.parse().unwrap()
}

async fn lagging_follower() {
    let options = ClusterOptions::new(3)
        .set("limits.snapshot_entries", 200)
        .set("limits.wal_segment_bytes_max", 16 * 1024);
    let mut cluster = Cluster::start_serving(binary(), options).await.unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let follower = *ids.iter().find(|&&id| id != leader).unwrap();
    let client = cluster.client(leader).await.unwrap();
    client
        .create("/early", b"before", CreateMode::Persistent)
        .await
        .unwrap();
    let follower_applied = {
        let committed = cluster.status(leader).await.unwrap().committed_index;
        cluster
            .wait_applied(&[follower], committed, Duration::from_secs(10))
            .await
            .unwrap();
        cluster.status(follower).await.unwrap().applied_index
    };
    cluster.kill9(follower).unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..WRITE_TASKS {
        let client = client.clone();
        tasks.spawn(async move {
            for i in (t..WRITES).step_by(WRITE_TASKS) {
                let path = format!("/bulk-{i}");
                client
                    .create(&path, &[7u8; 100], CreateMode::Persistent)
                    .await?;
            }
            Ok::<(), corral_client::Error>(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }

    // The leader must have dropped the log the follower would need.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let oldest = cluster
            .wal_segments(leader)
            .unwrap()
            .first()
            .map(|s| first_index(s));
        if oldest.is_some_and(|first| first > follower_applied + 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "leader {leader} kept its log from {oldest:?} (follower applied {follower_applied})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    cluster.start_node(follower).unwrap();
    cluster
        .wait_serving(&[follower], RESTART_CATCH_UP)
        .await
        .unwrap();
    let committed = cluster.status(leader).await.unwrap().committed_index;
    cluster
        .wait_applied(&[follower], committed, RESTART_CATCH_UP)
        .await
        .unwrap();
    let snapshots = cluster.node(follower).unwrap().data_dir.join("snapshots");
    let snapshot_files = std::fs::read_dir(&snapshots)
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        snapshot_files > 0,
        "the follower holds no snapshot in {}",
        snapshots.display()
    );

    let on_follower = cluster.client(follower).await.unwrap();
    on_follower.sync("/").await.unwrap();
    let follower_tree = dump_tree(&on_follower).await.unwrap();
    let leader_tree = dump_tree(&client).await.unwrap();
    assert_eq!(
        follower_tree.len(),
        WRITES + 2,
        "/, /early and every /bulk-*"
    );
    assert_eq!(follower_tree, leader_tree);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_follower_catches_up_through_install_snapshot() {
    tokio::time::timeout(TEST_TIMEOUT, lagging_follower())
        .await
        .unwrap();
}
