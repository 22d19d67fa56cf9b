//! Bounded steps for scenarios on a cluster: every wait has a limit and a
//! panic that names what did not happen.

use std::future::Future;
use std::time::Duration;

use corral_client::{Client, CreateMode, ErrorCode};

use crate::cluster::Cluster;

/// Bounds each single step of a scenario.
pub const STEP: Duration = Duration::from_secs(20);

/// Runs `future` within [`STEP`]; panics naming `what` otherwise.
pub async fn step<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {STEP:?}"))
}

/// Creates the persistent znode `path` through `client` while the leader
/// may be changing: a ConnectionLoss (the link lost, or the write lost with
/// an old leader's term) is retried, and NodeExists (an earlier try that
/// was applied after all) counts as created.
///
/// # Panics
/// On any other error, or if `path` is not created within [`STEP`].
pub async fn create_across_leader_change(client: &Client, path: &str) {
    step(&format!("creating {path} across a leader change"), async {
        loop {
            match client.create(path, b"", CreateMode::Persistent).await {
                Ok(_) => return,
                Err(e) if e.code() == Some(ErrorCode::NodeExists) => return,
                // The link lost (`code` maps it to ConnectionLoss too), or
                // the server's answer that the entry was lost.
                Err(e) if e.code() == Some(ErrorCode::ConnectionLoss) => {}
                Err(e) => panic!("creating {path} failed with {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Waits until `dir` has `count` children as `client` sees them.
///
/// # Panics
/// If a read fails, or the count is not reached within [`STEP`].
pub async fn children_become(client: &Client, dir: &str, count: usize) {
    step(&format!("{dir} to have {count} children"), async {
        loop {
            match client.get_children(dir).await {
                Ok(children) if children.len() == count => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => panic!("listing {dir}: {e}"),
            }
        }
    })
    .await;
}

/// `count` sessions, spread over the cluster's nodes in turn.
///
/// # Panics
/// If a session cannot be opened.
pub async fn sessions_spread(cluster: &Cluster, count: usize) -> Vec<Client> {
    let ids = cluster.ids();
    let mut clients = Vec::with_capacity(count);
    for i in 0..count {
        let id = ids[i % ids.len()];
        match cluster.client(id).await {
            Ok(client) => clients.push(client),
            Err(e) => panic!("a session on node {id}: {e}"),
        }
    }
    clients
}
