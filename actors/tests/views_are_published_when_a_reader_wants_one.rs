//! Proves that a node publishes a read view only when readers are about (one
//! wants a newer view, or read the last), and that readers never see less
//! than what is applied: writes nobody reads leave the published view behind,
//! while the writer's next read, a read by another session on a follower, and
//! `Views::current` all see every write applied before they asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_core::tree::{Request, Response};
use support::*;

/// Writes made before any read.
const WRITES: i32 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unread_writes_publish_nothing_and_reads_see_them_all() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(90), async {
        let TestCluster {
            root: _root,
            pki,
            specs,
            nodes,
            leader,
        } = start_cluster("views", 3, |_| {}).await;
        let follower = if leader == 1 { 2 } else { 1 };
        let leader_node = &nodes[leader as usize - 1];
        let follower_node = &nodes[follower as usize - 1];
        let mut writer = Client::connect(&pki, specs[leader as usize - 1].listen).await;
        let mut reader = Client::connect(&pki, specs[follower as usize - 1].listen).await;

        let (_, created) = writer.create("/v", b"0").await;
        assert!(created.is_ok(), "{created:?}");
        let mut last = 0;
        for i in 1..=WRITES {
            let (zxid, result) = writer
                .call(Request::SetData {
                    path: "/v".into(),
                    data: i.to_string().into_bytes(),
                    version: -1,
                })
                .await;
            assert!(result.is_ok(), "{result:?}");
            last = u64::try_from(zxid).unwrap();
        }

        // Applied everywhere, yet no reader asked: the views stay behind.
        for node in [leader_node, follower_node] {
            let views = node.view();
            tokio::time::timeout(STEP, async {
                while views.applied() < last {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("the writes did not apply in time");
            assert!(
                views.published().applied < last,
                "node {} published a view at {} that nobody asked for (applied {last})",
                node.id(),
                views.published().applied
            );
        }

        // The writer reads its own last write; the follower's session reads it too.
        for client in [&mut writer, &mut reader] {
            let (zxid, read) = client
                .call(Request::GetData {
                    path: "/v".into(),
                    watch: false,
                })
                .await;
            match read {
                Ok(Response::GetData { data, stat }) => {
                    assert_eq!(data, WRITES.to_string().into_bytes());
                    assert_eq!(stat.version, WRITES);
                }
                other => panic!("getData /v: {other:?}"),
            }
            assert!(u64::try_from(zxid).unwrap() >= last);
        }
        for node in [leader_node, follower_node] {
            assert!(node.view().published().applied >= last);
        }

        // `current` answers at once when nothing new is applied, and sees a
        // write as soon as it is applied.
        let mut views = follower_node.view();
        let now = views.current().await.expect("replica stopped");
        assert!(now.applied >= last);
        let again = tokio::time::timeout(STEP, views.current())
            .await
            .expect("current() waited with nothing new applied")
            .expect("replica stopped");
        assert!(again.applied >= now.applied);
        let (zxid, result) = writer
            .call(Request::SetData {
                path: "/v".into(),
                data: b"after".to_vec(),
                version: -1,
            })
            .await;
        assert!(result.is_ok(), "{result:?}");
        let after = views
            .at_least(u64::try_from(zxid).unwrap())
            .await
            .expect("replica stopped");
        assert_eq!(
            after.tree.get("/v").map(|(data, _)| data.to_vec()),
            Some(b"after".to_vec())
        );
        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
    })
    .await
    .expect("test timed out");
}
