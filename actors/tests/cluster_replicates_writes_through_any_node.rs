//! Proves that three (and five) in-process nodes over real QUIC on loopback elect a
//! leader, that a write sent to any node (leader or follower) commits and is
//! answered with its own entry's result (a follower matches the entry that
//! names its forward), and that afterwards every replica's tree is identical
//! (the same snapshot bytes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_core::tree::{CreateMode, ErrorCode, Request, Response};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_any_of_three_nodes_commit_on_all() {
    writes_through_any_node_commit_on_all(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_any_of_five_nodes_commit_on_all() {
    writes_through_any_node_commit_on_all(5).await;
}

async fn writes_through_any_node_commit_on_all(n: usize) {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(90), async {
        let root = temp_root(&format!("replicate-{n}"));
        let pki = root.join("pki");
        let ids: Vec<u64> = (1..=n as u64).collect();
        make_pki(&pki, &ids);
        let specs = cluster_specs(&root, n, 0);
        let addrs: Vec<_> = specs.iter().map(|s| s.listen).collect();
        let mut nodes = Vec::new();
        for spec in specs {
            nodes.push(start_node(&pki, spec).await);
        }
        let refs: Vec<_> = nodes.iter().collect();
        let leader = wait_leader(&refs).await;
        assert!(ids.contains(&leader));

        let mut last_zxid = 0;
        for (i, addr) in addrs.iter().enumerate() {
            let mut client = Client::connect(&pki, *addr).await;
            for j in 0..20 {
                let path = format!("/n{i}-{j}");
                let (zxid, result) = client.create(&path, b"hello").await;
                assert!(matches!(result, Ok(Response::Create { .. })), "{result:?}");
                last_zxid = last_zxid.max(zxid);
                // Read-your-writes on the node that answered.
                let (_, read) = client
                    .call(Request::GetData {
                        path: path.clone(),
                        watch: false,
                    })
                    .await;
                assert!(matches!(read, Ok(Response::GetData { .. })), "{read:?}");
            }
        }
        // Each write gets its own entry's answer, wherever it was sent:
        // sequential names follow each other in the order the writes were
        // made, a failed condition comes back as its error, and zxids rise.
        let mut names = Vec::new();
        for addr in &addrs {
            let mut client = Client::connect(&pki, *addr).await;
            for _ in 0..3 {
                let (zxid, result) = client
                    .create_mode("/seq-", CreateMode::PersistentSequential)
                    .await;
                match result {
                    Ok(Response::Create { path, .. }) => names.push(path),
                    other => panic!("sequential create through {addr}: {other:?}"),
                }
                assert!(zxid > last_zxid, "zxid {zxid} after {last_zxid}");
                last_zxid = zxid;
            }
            let (_, bad) = client
                .call(Request::SetData {
                    path: "/n0-0".into(),
                    data: b"x".to_vec(),
                    version: 99,
                })
                .await;
            assert_eq!(
                bad.map_err(|e| e.code),
                Err(ErrorCode::BadVersion),
                "through {addr}"
            );
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "sequential names out of order or repeated");
        assert_eq!(names.len(), 3 * n);
        wait_applied(&refs, last_zxid as u64).await;
        // Housekeeping entries keep coming: compare at a moment all stand at one index.
        let digests = tokio::time::timeout(STEP, async {
            loop {
                let views = current_views(&refs).await;
                if views.windows(2).all(|w| w[0].applied == w[1].applied) {
                    return views.iter().map(|v| v.tree.snapshot()).collect::<Vec<_>>();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("replicas never stood at one index");
        assert!(
            digests.windows(2).all(|w| w[0] == w[1]),
            "replica trees differ"
        );
        for node in &nodes {
            let v = current_view(node).await;
            for i in 0..n {
                let path = format!("/n{i}-19");
                assert!(
                    v.tree.get(&path).is_some(),
                    "node {} lacks {path}",
                    node.id()
                );
            }
        }
        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test exceeded 90 s");
}
