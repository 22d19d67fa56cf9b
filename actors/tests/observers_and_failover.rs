//! Proves two behaviours of a running cluster: an observer (learner) receives
//! the log, serves reads and forwards writes but never leads; and when the
//! leader dies, a new one is elected and every acknowledged write is still
//! there, and the old leader catches up when it returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_core::broadcast::Role;
use corral_core::tree::{Request, Response};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_observer_serves_reads_forwards_writes_and_never_leads() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("observer");
        let pki = root.join("pki");
        make_pki(&pki, &[1, 2, 3, 4]);
        let specs = cluster_specs(&root, 4, 1);
        assert!(specs[3].observer);
        let mut nodes = Vec::new();
        for spec in specs.clone() {
            nodes.push(start_node(&pki, spec).await);
        }
        let refs: Vec<_> = nodes.iter().collect();
        let leader = wait_leader(&refs).await;
        assert_ne!(leader, 4, "an observer leads");
        let mut client = Client::connect(&pki, specs[3].listen).await;
        for j in 0..10 {
            let (_, result) = client.create(&format!("/o{j}"), b"x").await;
            assert!(result.is_ok(), "{result:?}");
            let (_, read) = client
                .call(Request::GetData {
                    path: format!("/o{j}"),
                    watch: false,
                })
                .await;
            assert!(matches!(read, Ok(Response::GetData { .. })), "{read:?}");
        }
        // Kill the leader: the observer must not take over; a voter does.
        let leader_ix = leader as usize - 1;
        let old = nodes.remove(leader_ix);
        old.kill().await;
        let refs: Vec<_> = nodes.iter().collect();
        let next = wait_leader(&refs).await;
        assert_ne!(next, 4, "an observer leads");
        assert_eq!(
            nodes
                .iter()
                .find(|n| n.id() == 4)
                .unwrap()
                .view()
                .published()
                .role,
            Role::Follower
        );
        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test exceeded 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_keeps_every_acknowledged_write_and_the_old_one_catches_up() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("failover");
        let pki = root.join("pki");
        make_pki(&pki, &[1, 2, 3]);
        let specs = cluster_specs(&root, 3, 0);
        let mut nodes: Vec<Option<_>> = Vec::new();
        for spec in specs.clone() {
            nodes.push(Some(start_node(&pki, spec).await));
        }
        let leader = wait_leader(&nodes.iter().flatten().collect::<Vec<_>>()).await;
        let follower = if leader == 1 { 2 } else { 1 };
        let mut client = Client::connect(&pki, specs[follower as usize - 1].listen).await;
        for j in 0..30 {
            let (_, result) = client.create(&format!("/a{j}"), b"x").await;
            assert!(result.is_ok(), "{result:?}");
        }
        nodes[leader as usize - 1].take().unwrap().kill().await;
        let survivors: Vec<_> = nodes.iter().flatten().collect();
        let started = std::time::Instant::now();
        let next = wait_leader(&survivors).await;
        assert_ne!(next, leader);
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "new leader"
        );
        // Writes through the same follower continue under the new leader.
        let mut last = 0;
        for j in 30..40 {
            let (zxid, result) = client.create(&format!("/a{j}"), b"x").await;
            assert!(result.is_ok(), "{result:?}");
            last = zxid;
        }
        nodes[leader as usize - 1] =
            Some(start_node(&pki, specs[leader as usize - 1].clone()).await);
        let all: Vec<_> = nodes.iter().flatten().collect();
        wait_applied(&all, last as u64).await;
        for node in &all {
            let v = current_view(node).await;
            for j in 0..40 {
                assert!(
                    v.tree.get(&format!("/a{j}")).is_some(),
                    "node {} lacks /a{j}",
                    node.id()
                );
            }
        }
        drop(all);
        for node in nodes.into_iter().flatten() {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test exceeded 120 s");
}
