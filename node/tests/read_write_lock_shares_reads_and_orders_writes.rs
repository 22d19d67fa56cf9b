//! Proves corral-client's `RwLock` against a real 3-node cluster of `corral
//! serve` processes, with sessions spread over every node: readers hold
//! together; a writer waits for them; a reader that comes after a waiting
//! writer waits for it too (writers are not starved), and `try_read` then
//! fails and leaves no node; a plain `Lock` on the same directory counts as a
//! writer; and under contention writers never overlap anyone (a counter
//! bumped by read-then-write loses nothing, and readers never see it move).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use corral_client::recipes::{Lock, RwLock};
use corral_client::{Client, CreateMode};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::steps::{children_become, sessions_spread, step};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
/// Writers and readers in the contention round, and the turns of each.
const CONTENDERS: usize = 3;
const TURNS: usize = 4;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

async fn readers_share_and_writers_queue_in_order(clients: &[Client]) {
    let dir = "/rw/order";
    let lock = |i: usize| RwLock::new(&clients[i], dir).unwrap();
    let r0 = step("the first read lock", lock(0).read()).await;
    let r1 = step("a second read lock beside it", lock(1).read()).await;

    let writer = lock(2);
    let writing = tokio::spawn(async move { writer.write().await });
    children_become(&clients[0], dir, 3).await;
    assert!(!writing.is_finished(), "a writer held beside two readers");

    let late_reader = lock(3);
    let late_reading = tokio::spawn(async move { late_reader.read().await });
    children_become(&clients[0], dir, 4).await;
    assert!(
        step("try_read behind a waiting writer", lock(4).try_read())
            .await
            .unwrap()
            .is_none(),
        "a reader passed a waiting writer"
    );
    children_become(&clients[0], dir, 4).await;
    assert!(
        step("Lock::try_acquire beside readers", async {
            Lock::new(&clients[4], dir).unwrap().try_acquire().await
        })
        .await
        .unwrap()
        .is_none(),
        "a plain lock held beside readers"
    );
    children_become(&clients[0], dir, 4).await;

    r0.unwrap().release().await.unwrap();
    assert!(!writing.is_finished(), "the writer held beside a reader");
    r1.unwrap().release().await.unwrap();
    let w = step("the writer, once the readers left", writing)
        .await
        .unwrap()
        .unwrap();
    children_become(&clients[0], dir, 2).await;
    assert!(
        !late_reading.is_finished(),
        "a reader held beside the writer"
    );
    w.release().await.unwrap();
    let r = step("the late reader, once the writer left", late_reading)
        .await
        .unwrap()
        .unwrap();
    r.release().await.unwrap();
    children_become(&clients[0], dir, 0).await;
}

/// The counter the writers bump.
const COUNTER: &str = "/rw/counter";

/// The counter's value as `client` reads it.
async fn counter_value(client: &Client) -> usize {
    let (data, _) = client.get_data(COUNTER).await.unwrap();
    String::from_utf8(data).unwrap().parse().unwrap()
}

async fn writers_exclude_everyone_under_contention(clients: &[Client]) {
    let dir = "/rw/contended";
    clients[0]
        .create(COUNTER, b"0", CreateMode::Persistent)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..2 * CONTENDERS {
        let client = clients[i % clients.len()].clone();
        tasks.spawn(async move {
            let lock = RwLock::new(&client, dir).unwrap();
            for _ in 0..TURNS {
                if i % 2 == 0 {
                    let guard = lock.write().await.unwrap();
                    let seen = counter_value(&client).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let next = (seen + 1).to_string();
                    client
                        .set_data(COUNTER, next.as_bytes(), None)
                        .await
                        .unwrap();
                    guard.release().await.unwrap();
                } else {
                    let guard = lock.read().await.unwrap();
                    let before = counter_value(&client).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let after = counter_value(&client).await;
                    assert_eq!(before, after, "the counter moved under a read lock");
                    guard.release().await.unwrap();
                }
            }
        });
    }
    step("every contender's turns", async {
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }
    })
    .await;
    clients[0].sync("/").await.unwrap();
    assert_eq!(counter_value(&clients[0]).await, CONTENDERS * TURNS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_lock_shares_reads_and_orders_writes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
            .await
            .unwrap();
        let clients = sessions_spread(&cluster, 5).await;
        readers_share_and_writers_queue_in_order(&clients).await;
        writers_exclude_everyone_under_contention(&clients).await;
    })
    .await
    .unwrap();
}
