//! Proves that sessions are replicated state: a session kept alive by pings
//! through a follower survives past its timeout (heartbeats reach the leader);
//! a session whose client vanished expires and its ephemeral node disappears
//! on every replica; a closed session's ephemerals go at once; and a leader
//! stopped gracefully hands leadership over to another node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_core::tree::{CreateMode, Request};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_live_by_heartbeats_and_expire_without_them() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let TestCluster {
            root: _root,
            pki,
            specs,
            mut nodes,
            leader,
        } = start_cluster("sessions", 3, |spec| {
            spec.session_timeout_ms_min = 1_000;
        })
        .await;
        let refs: Vec<_> = nodes.iter().collect();
        let follower = if leader == 1 { 2 } else { 1 };
        let leader_addr = specs[leader as usize - 1].listen;
        let follower_addr = specs[follower as usize - 1].listen;

        let mut alive = Client::connect_with_timeout(&pki, follower_addr, 1_000).await;
        let (_, r) = alive.create_mode("/eph-alive", CreateMode::Ephemeral).await;
        assert!(r.is_ok(), "{r:?}");
        let mut gone = Client::connect_with_timeout(&pki, leader_addr, 1_000).await;
        let (_, r) = gone.create_mode("/eph-gone", CreateMode::Ephemeral).await;
        assert!(r.is_ok(), "{r:?}");
        let mut closed = Client::connect_with_timeout(&pki, follower_addr, 1_000).await;
        let (_, r) = closed
            .create_mode("/eph-closed", CreateMode::Ephemeral)
            .await;
        assert!(r.is_ok(), "{r:?}");
        let (zxid, r) = closed.call(Request::Close).await;
        assert!(r.is_ok(), "{r:?}");
        wait_applied(&refs, zxid as u64).await;
        for node in &nodes {
            assert!(current_view(node).await.tree.get("/eph-closed").is_none());
        }
        drop(gone);

        // Three timeouts pass; `alive` pings through the follower all along.
        let until = std::time::Instant::now() + Duration::from_millis(3_000);
        while std::time::Instant::now() < until {
            alive.ping().await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        for node in &nodes {
            let v = current_view(node).await;
            assert!(
                v.tree.get("/eph-alive").is_some(),
                "node {}: a live session expired",
                node.id()
            );
            assert!(
                v.tree.get("/eph-gone").is_none(),
                "node {}: a dead session lives",
                node.id()
            );
        }

        // A leader stopped gracefully hands over: the others elect quickly.
        let ix = nodes.iter().position(|n| n.id() == leader).unwrap();
        let old = nodes.remove(ix);
        let started = std::time::Instant::now();
        old.shutdown(Duration::from_secs(2)).await;
        let refs: Vec<_> = nodes.iter().collect();
        let next = wait_leader(&refs).await;
        assert_ne!(next, leader);
        tracing::info!(ms = started.elapsed().as_millis() as u64, "handover");
        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test exceeded 120 s");
}
