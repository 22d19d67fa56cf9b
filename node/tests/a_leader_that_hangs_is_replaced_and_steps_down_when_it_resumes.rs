//! The leader's process hangs (SIGSTOP, as in a long GC pause or a frozen
//! VM): its sockets stay open, so nothing reports it gone, and the followers
//! elect a new leader at their election timeout. A write sent to the hung
//! leader meanwhile waits in its socket. When the process resumes it still
//! believes it leads an old term; it must step down and follow the new
//! leader, and the write it held either ends in ConnectionLoss (outcome
//! unknown) or succeeds, but it is never acknowledged without being on
//! every node. Writes through the new leader go on while the old one hangs,
//! and the tree is the same on every node afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_client::CreateMode;
use corral_core::tree::ErrorCode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::steps::create_across_leader_change;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Several election timeouts (10 to 20 ticks of 50 ms by default).
const ELECT_WITHIN: Duration = Duration::from_secs(10);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

async fn hung_leader() {
    let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    let old = cluster
        .wait_leader(&ids, Duration::from_secs(30))
        .await
        .unwrap();
    let survivors: Vec<u64> = ids.iter().copied().filter(|&id| id != old).collect();
    // A session that can only be on the old leader, and one on a follower.
    let stuck = cluster.client(old).await.unwrap();
    let other = cluster.client(survivors[0]).await.unwrap();
    stuck
        .create("/x", b"before", CreateMode::Persistent)
        .await
        .unwrap();
    let old_term = cluster.status(old).await.unwrap().term;

    cluster.pause(old).unwrap();
    let paused = Instant::now();
    let held = tokio::spawn(async move {
        let result = stuck.set_data("/x", b"held", None).await;
        (stuck, result)
    });
    let new = cluster
        .wait_leader(&survivors, ELECT_WITHIN)
        .await
        .unwrap_or_else(|e| panic!("no new leader while the old one hangs: {e}"));
    eprintln!(
        "node {new} leads {} ms after node {old} was paused",
        paused.elapsed().as_millis()
    );
    create_across_leader_change(&other, "/during").await;

    cluster.resume(old).unwrap();
    let (stuck, result) = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .expect("the held write got no answer within 30 s of the resume")
        .unwrap();
    let acknowledged = match &result {
        Ok(_) => true,
        // The link lost (`code` maps it to ConnectionLoss too), or the
        // server's answer that the entry was lost.
        Err(e) if e.code() == Some(ErrorCode::ConnectionLoss) => false,
        Err(e) => panic!("the held write failed with {e}, not Ok or ConnectionLoss"),
    };
    eprintln!("the write held by the hung leader: {result:?}");

    // The resumed node steps down and follows the new term.
    let deadline = Instant::now() + ELECT_WITHIN;
    loop {
        let status = cluster.status(old).await.unwrap();
        if !status.is_leader && status.term > old_term {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {old} still leads term {} ({ELECT_WITHIN:?} after its resume)",
            status.term
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every node holds the same tree: the write made while the old leader
    // hung, and /x as one value, the held write's if it was acknowledged.
    let mut values = Vec::new();
    for &id in &ids {
        let reader = cluster.client(id).await.unwrap();
        reader.sync("/").await.unwrap();
        assert!(
            reader.exists("/during").await.unwrap().is_some(),
            "node {id} lacks the write made while the old leader hung"
        );
        let (data, _) = reader.get_data("/x").await.unwrap();
        values.push((id, data));
    }
    let first = values[0].1.clone();
    assert!(
        values.iter().all(|(_, v)| *v == first),
        "the nodes disagree on /x: {values:?}"
    );
    if acknowledged {
        assert_eq!(first, b"held", "an acknowledged write is missing");
    }

    // The session on the resumed node writes on, through the new leader.
    create_across_leader_change(&stuck, "/after").await;
    let reader = cluster.client(new).await.unwrap();
    reader.sync("/").await.unwrap();
    assert!(reader.exists("/after").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_hangs_is_replaced_and_steps_down_when_it_resumes() {
    tokio::time::timeout(TEST_TIMEOUT, hung_leader())
        .await
        .expect("test timed out");
}
