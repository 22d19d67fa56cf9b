//! Proves that `kill -9` of the leader under a write load loses no
//! acknowledged write: a new leader is elected within 2 s (default
//! timeouts), the writers carry on through the survivors, the killed node
//! restarts on its data directory and catches up, every acknowledged create is
//! then on every node, every node serves the same tree, and the recorded
//! history of writes (plus reads after a sync) is linearizable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::linearizability::Verdict;
use corral_tests::tree_dump::dump_tree;
use corral_tests::workload::{History, Load, prepare, record_final_reads};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const WRITERS: u64 = 6;
/// Issue [replication]: a new leader within 2 s with the default timeouts.
const NEW_LEADER_WITHIN: Duration = Duration::from_secs(2);
/// Bound on a restarted node catching up (the leader notices its old links
/// are dead after the peer idle timeout, a few election timeouts).
const RESTART_CATCH_UP: Duration = Duration::from_secs(60);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

async fn leader_crash() {
    let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();

    let history = History::new();
    prepare(&cluster.client(leader).await.unwrap(), &history)
        .await
        .unwrap();
    let mut config = cluster.client_config(&[]);
    config.connect_timeout = Duration::from_secs(1);
    let load = Load::start(config, WRITERS, &history);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    cluster.kill9(leader).unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
    let new_leader = cluster
        .wait_leader(&survivors, Duration::from_secs(10))
        .await
        .unwrap();
    let election = killed_at.elapsed();
    assert!(
        election <= NEW_LEADER_WITHIN,
        "new leader {new_leader} after {election:?}, more than {NEW_LEADER_WITHIN:?}"
    );
    let acknowledged_before = history.acknowledged_creates().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = load.stop(Duration::from_secs(15)).await.unwrap();
    let acknowledged = history.acknowledged_creates();
    assert!(
        acknowledged.len() > acknowledged_before,
        "no write was acknowledged after the crash ({stats:?})"
    );

    cluster.start_node(leader).unwrap();
    cluster
        .wait_serving(&[leader], RESTART_CATCH_UP)
        .await
        .unwrap();
    let committed = cluster.status(new_leader).await.unwrap().committed_index;
    cluster
        .wait_applied(&ids, committed, RESTART_CATCH_UP)
        .await
        .unwrap();

    let reader = cluster.client(new_leader).await.unwrap();
    record_final_reads(&reader, &history).await.unwrap();
    let mut dumps = Vec::new();
    for &id in &ids {
        let client = cluster.client(id).await.unwrap();
        client.sync("/").await.unwrap();
        let dump = dump_tree(&client).await.unwrap();
        for path in &acknowledged {
            assert!(
                dump.contains_key(path),
                "node {id} lost acknowledged {path}"
            );
        }
        dumps.push((id, dump));
    }
    for (id, dump) in &dumps[1..] {
        assert_eq!(
            dump, &dumps[0].1,
            "node {id}'s tree differs from node {}'s",
            dumps[0].0
        );
    }
    assert_eq!(history.check(), Verdict::Linearizable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_crash_loses_no_acknowledged_write() {
    tokio::time::timeout(TEST_TIMEOUT, leader_crash())
        .await
        .unwrap();
}
