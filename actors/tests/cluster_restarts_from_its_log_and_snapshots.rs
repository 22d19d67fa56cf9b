//! Proves that storage survives restarts: a whole cluster stopped and started
//! again on the same data directories still holds every acknowledged write;
//! and a follower kept down while the leader snapshots and compacts its log
//! comes back through InstallSnapshot and ends with the same tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_cluster_keeps_every_acknowledged_write() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("restart");
        let pki = root.join("pki");
        make_pki(&pki, &[1, 2, 3]);
        let specs = cluster_specs(&root, 3, 0);
        let mut nodes = Vec::new();
        for spec in specs.clone() {
            nodes.push(start_node(&pki, spec).await);
        }
        wait_leader(&nodes.iter().collect::<Vec<_>>()).await;
        let mut client = Client::connect(&pki, specs[1].listen).await;
        for j in 0..50 {
            let (_, result) = client.create(&format!("/r{j}"), b"x").await;
            assert!(result.is_ok(), "{result:?}");
        }
        drop(client);
        for node in nodes.drain(..) {
            node.kill().await;
        }
        for spec in specs.clone() {
            nodes.push(start_node(&pki, spec).await);
        }
        let refs: Vec<_> = nodes.iter().collect();
        wait_leader(&refs).await;
        let mut client = Client::connect(&pki, specs[0].listen).await;
        let (zxid, result) = client.create("/after", b"y").await;
        assert!(result.is_ok(), "{result:?}");
        wait_applied(&refs, zxid as u64).await;
        for node in &nodes {
            let v = current_view(node).await;
            for j in 0..50 {
                assert!(
                    v.tree.get(&format!("/r{j}")).is_some(),
                    "node {} lost /r{j}",
                    node.id()
                );
            }
        }
        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test exceeded 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_behind_the_compacted_log_catches_up_by_snapshot() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("snapshot");
        let pki = root.join("pki");
        make_pki(&pki, &[1, 2, 3]);
        let mut specs = cluster_specs(&root, 3, 0);
        for spec in &mut specs {
            spec.snapshot_entries = 40;
            spec.wal_segment_bytes_max = 4 << 10;
        }
        let mut nodes = Vec::new();
        for spec in specs.clone() {
            nodes.push(Some(start_node(&pki, spec).await));
        }
        let leader = wait_leader(&nodes.iter().flatten().collect::<Vec<_>>()).await;
        let down = if leader == 3 { 2 } else { 3 };
        let down_ix = down as usize - 1;
        nodes[down_ix]
            .take()
            .unwrap()
            .shutdown(Duration::from_secs(2))
            .await;
        let up: Vec<_> = specs
            .iter()
            .filter(|s| s.id != down)
            .map(|s| s.listen)
            .collect();
        let mut client = Client::connect(&pki, up[0]).await;
        let mut last = 0;
        for j in 0..200 {
            let (zxid, result) = client.create(&format!("/s{j}"), &[7u8; 200]).await;
            assert!(result.is_ok(), "{result:?}");
            last = zxid;
        }
        // The leader snapshotted and removed WAL segments the follower would need.
        let leader_dir = specs[leader as usize - 1].data_dir.join("snapshots");
        let snaps = std::fs::read_dir(&leader_dir).unwrap().count();
        assert!(snaps > 0, "the leader took no snapshot");
        nodes[down_ix] = Some(start_node(&pki, specs[down_ix].clone()).await);
        let refs: Vec<_> = nodes.iter().flatten().collect();
        wait_applied(&refs, last as u64).await;
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
        drop(refs);
        for node in nodes.into_iter().flatten() {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test exceeded 120 s");
}
