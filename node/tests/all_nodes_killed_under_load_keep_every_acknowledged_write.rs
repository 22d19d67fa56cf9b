//! Proves that acknowledged writes are durable (fsynced before the ack): every
//! node is killed with `kill -9` at once under a write load, all restart on
//! their data directories, and every acknowledged create is there on every
//! node; the history of writes is linearizable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::linearizability::Verdict;
use corral_tests::tree_dump::dump_tree;
use corral_tests::workload::{History, Load, prepare, record_final_reads};

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
const WRITERS: u64 = 6;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

async fn kill_all() {
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
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for &id in &ids {
        cluster.kill9(id).unwrap();
    }
    let stats = load.stop(Duration::from_secs(15)).await.unwrap();
    let acknowledged = history.acknowledged_creates();
    assert!(
        !acknowledged.is_empty(),
        "the load made no progress ({stats:?})"
    );

    for &id in &ids {
        cluster.start_node(id).unwrap();
    }
    cluster
        .wait_serving(&ids, Duration::from_secs(30))
        .await
        .unwrap();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    let reader = cluster.client(leader).await.unwrap();
    record_final_reads(&reader, &history).await.unwrap();
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
    }
    assert_eq!(history.check(), Verdict::Linearizable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_nodes_killed_under_load_keep_every_acknowledged_write() {
    tokio::time::timeout(TEST_TIMEOUT, kill_all())
        .await
        .unwrap();
}
