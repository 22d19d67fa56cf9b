//! Proves that a leader's commit news reaches its followers on its own: with
//! heartbeats two seconds apart and no session housekeeping for seconds,
//! every lone write through the leader is applied on each follower long
//! before a heartbeat could have carried its commit index. (The news waits
//! at most a millisecond for an append to ride on, then leaves by itself.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_core::tree::Response;
use support::*;

/// How often the leader heartbeats in this test.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a follower may take to apply a lone write: a quarter of the
/// heartbeat interval, so a follower that had to wait for a heartbeat would
/// miss it three times in four, and all five writes with odds of 1 in 1,000.
const APPLIED_WITHIN: Duration = Duration::from_millis(500);
/// Lone writes made.
const WRITES: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_write_reaches_the_followers_without_a_heartbeat() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let cluster = start_cluster("news", 3, |spec| {
            spec.tick_ms = 50;
            spec.heartbeat_ticks = 40;
            // Elections stay far off while heartbeats are rare.
            spec.election_timeout_ticks = 120;
            // Sessions are touched every timeout_min / 8: every 5 s here,
            // so no housekeeping entry carries the commit meanwhile.
            spec.session_timeout_ms_min = 40_000;
            spec.session_timeout_ms_max = 60_000;
        })
        .await;
        assert_eq!(
            HEARTBEAT,
            Duration::from_millis(cluster.specs[0].tick_ms * 40),
            "the test's heartbeat interval"
        );
        let leader = (cluster.leader - 1) as usize;
        let followers: Vec<_> = (0..cluster.nodes.len()).filter(|&i| i != leader).collect();
        let mut client =
            Client::connect_with_timeout(&cluster.pki, cluster.specs[leader].listen, 40_000).await;
        for i in 0..WRITES {
            let (zxid, result) = client.create(&format!("/lone-{i}"), b"x").await;
            assert!(matches!(result, Ok(Response::Create { .. })), "{result:?}");
            let index = u64::try_from(zxid).expect("zxid of a write");
            for &f in &followers {
                tokio::time::timeout(APPLIED_WITHIN, cluster.nodes[f].view().at_least(index))
                    .await
                    .unwrap_or_else(|_| {
                        panic!(
                            "write {i} (zxid {zxid}) not applied on node {} within {APPLIED_WITHIN:?}",
                            cluster.specs[f].id
                        )
                    })
                    .expect("replica stopped");
            }
        }
    })
    .await
    .expect("test bound");
}
