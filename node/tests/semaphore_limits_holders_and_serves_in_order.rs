//! Proves corral-client's `Semaphore` against a real 3-node cluster of
//! `corral serve` processes, with sessions spread over every node: two leases
//! of two are held together and a third `try_acquire` fails and leaves
//! nothing queued; a waiter takes the lease returned first; a closed
//! session's lease goes back; and 5 sessions taking turns never hold more
//! than 2 leases at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corral_client::Client;
use corral_client::recipes::Semaphore;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::steps::{children_become, sessions_spread, step};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
/// Leases of the semaphores under test.
const LEASES: usize = 2;
/// Sessions and turns of each in the contention round.
const SESSIONS: usize = 5;
const TURNS: usize = 4;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

async fn leases_are_counted_and_handed_on(cluster: &Cluster, clients: &[Client]) {
    let dir = "/sems/order";
    let sem = |i: usize| Semaphore::new(&clients[i], dir, LEASES).unwrap();
    let first = step("the first lease", sem(0).acquire()).await.unwrap();
    let second = step("the second lease", sem(1).acquire()).await.unwrap();
    assert_eq!(sem(2).held().await.unwrap(), 2);
    assert!(
        step("try_acquire with none free", sem(2).try_acquire())
            .await
            .unwrap()
            .is_none(),
        "a third lease of two"
    );
    children_become(&clients[0], &format!("{dir}/lock"), 0).await;

    let waiter = sem(3);
    let waiting = tokio::spawn(async move { waiter.acquire().await });
    children_become(&clients[0], &format!("{dir}/lock"), 1).await;
    assert!(!waiting.is_finished(), "a lease taken with none free");
    first.release().await.unwrap();
    let third = step("the waiter, once a lease came back", waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sem(0).held().await.unwrap(), 2);

    // A lease ends with its session.
    let closing = cluster.client(cluster.ids()[0]).await.unwrap();
    let doomed = Semaphore::new(&closing, dir, LEASES).unwrap();
    let waiting = tokio::spawn(async move { doomed.acquire().await.map(|lease| (closing, lease)) });
    children_become(&clients[0], &format!("{dir}/lock"), 1).await;
    second.release().await.unwrap();
    let (closing, lease) = step("a lease for the session to close", waiting)
        .await
        .unwrap()
        .unwrap();
    std::mem::forget(lease);
    closing.close().await.unwrap();
    clients[0].sync("/").await.unwrap();
    assert_eq!(
        sem(0).held().await.unwrap(),
        1,
        "the closed session's lease"
    );
    third.release().await.unwrap();
    assert_eq!(sem(0).held().await.unwrap(), 0);
}

async fn never_more_holders_than_leases(clients: &[Client]) {
    let dir = "/sems/contended";
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients.iter().take(SESSIONS) {
        let (client, holding, most) = (client.clone(), holding.clone(), most.clone());
        tasks.spawn(async move {
            let sem = Semaphore::new(&client, dir, LEASES).unwrap();
            for _ in 0..TURNS {
                let lease = sem.acquire().await.unwrap();
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                holding.fetch_sub(1, Ordering::SeqCst);
                lease.release().await.unwrap();
            }
        });
    }
    step("every session's turns", async {
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }
    })
    .await;
    let most = most.load(Ordering::SeqCst);
    assert!((1..=LEASES).contains(&most), "{most} holders at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semaphore_limits_holders_and_serves_in_order() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
            .await
            .unwrap();
        let clients = sessions_spread(&cluster, SESSIONS).await;
        leases_are_counted_and_handed_on(&cluster, &clients).await;
        never_more_holders_than_leases(&clients).await;
    })
    .await
    .unwrap();
}
