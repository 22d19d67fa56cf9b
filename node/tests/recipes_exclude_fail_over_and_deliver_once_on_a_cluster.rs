//! Proves corral-client's recipes against a real 3-node cluster of `corral
//! serve` processes, with sessions spread over every node:
//! - Lock: 6 sessions taking it 5 times each never hold it together (a
//!   counter bumped by read-then-write without versions loses nothing) and
//!   see fencing tokens grow; `try_acquire` fails while it is held and leaves
//!   no node; a cancelled `acquire` leaves no node; closing the holder's
//!   session hands it on and the old guard's `lost()` says so; a holder whose
//!   node is killed keeps it while its session moves.
//! - Election: the observer sees the first candidate, its proclaimed value,
//!   the next candidate after a resignation, and the one after that when the
//!   leader's session closes.
//! - Group: `members()` and a `GroupWatch` follow joins, a leave, a dropped
//!   membership and a closed session; a taken name is refused.
//! - Queue: 3 producers and 3 consumers move 90 items, each taken exactly
//!   once; one producer's items come out in the order pushed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corral_client::recipes::{Election, Group, Lock, Queue};
use corral_client::{Client, CreateMode, ErrorCode, MultiOp, MultiOpResult, SessionState};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::steps::{children_become, step};
use tokio::sync::Mutex;

const TEST_TIMEOUT: Duration = Duration::from_secs(240);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// One session per node, in node order.
async fn sessions(cluster: &Cluster) -> Vec<Client> {
    let mut clients = Vec::new();
    for id in cluster.ids() {
        clients.push(cluster.client(id).await.unwrap());
    }
    clients
}

async fn lock_excludes_and_fences(cluster: &Cluster) {
    let first = cluster.client(1).await.unwrap();
    first
        .create("/counter", b"0", CreateMode::Persistent)
        .await
        .unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let last_token = Arc::new(Mutex::new(0_i64));
    let mut tasks = Vec::new();
    for i in 0..6_u64 {
        let client = cluster.client(1 + i % 3).await.unwrap();
        let holders = holders.clone();
        let last_token = last_token.clone();
        tasks.push(tokio::spawn(async move {
            let lock = Lock::new(&client, "/locks/counter").unwrap();
            for _ in 0..5 {
                let guard = step("acquire", lock.acquire()).await.unwrap();
                assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                {
                    let mut last = last_token.lock().await;
                    assert!(guard.fencing_token() > *last, "the token did not grow");
                    *last = guard.fencing_token();
                }
                let (data, _) = client.get_data("/counter").await.unwrap();
                let n: u64 = String::from_utf8(data).unwrap().parse().unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
                client
                    .set_data("/counter", (n + 1).to_string().as_bytes(), None)
                    .await
                    .unwrap();
                holders.fetch_sub(1, Ordering::SeqCst);
                guard.release().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    first.sync("/").await.unwrap();
    let (data, _) = first.get_data("/counter").await.unwrap();
    assert_eq!(
        data, b"30",
        "an update was lost: two sessions held the lock"
    );
    assert!(
        first
            .get_children("/locks/counter")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn lock_try_cancel_and_hand_over(cluster: &Cluster) {
    let [a, b, c] = <[Client; 3]>::try_from(sessions(cluster).await).unwrap();
    let lock_a = Lock::new(&a, "/locks/job").unwrap();
    let lock_b = Lock::new(&b, "/locks/job").unwrap();
    let guard = lock_a.try_acquire().await.unwrap().expect("a free lock");
    assert!(lock_b.try_acquire().await.unwrap().is_none(), "taken twice");
    c.sync("/").await.unwrap();
    assert_eq!(c.get_children("/locks/job").await.unwrap().len(), 1);

    // A cancelled acquire leaves nothing queued.
    let cancelled = tokio::time::timeout(Duration::from_millis(300), lock_b.acquire()).await;
    assert!(cancelled.is_err(), "acquired a held lock");
    children_become(&a, "/locks/job", 1).await;

    // Closing the holder's session hands the lock to the waiter.
    let waiter = tokio::spawn(async move { lock_b.acquire().await });
    children_become(&a, "/locks/job", 2).await;
    let lost = {
        let guard = &guard;
        async move { guard.lost().await }
    };
    let (lost, closed) = tokio::join!(step("lost()", lost), a.clone().close());
    closed.unwrap();
    assert!(lost.is_session_ended(), "lost() said {lost:?}");
    let taken = step("the waiter", waiter).await.unwrap().unwrap();
    assert!(taken.fencing_token() > guard.fencing_token());
    // Writes guarded by the lock: the new holder's apply, the old one's
    // (whose session is gone) cannot.
    let write = |data: &str| {
        vec![MultiOp::SetData {
            path: "/counter".into(),
            data: data.as_bytes().to_vec(),
            version: -1,
        }]
    };
    let results = taken.multi(write("by the holder")).await.unwrap();
    assert!(
        matches!(results[..], [MultiOpResult::SetData { .. }]),
        "{results:?}"
    );
    let e = guard.multi(write("by the old holder")).await.unwrap_err();
    assert!(e.is_session_ended(), "{e:?}");
    drop(guard);
    c.sync("/").await.unwrap();
    let (data, _) = c.get_data("/counter").await.unwrap();
    assert_eq!(data, b"by the holder");
    taken.release().await.unwrap();
    // A holder whose node was deleted under it writes nothing either.
    let held = Lock::new(&c, "/locks/job")
        .unwrap()
        .acquire()
        .await
        .unwrap();
    c.delete(held.path(), None).await.unwrap();
    let e = held.multi(write("by a deposed holder")).await.unwrap_err();
    assert!(matches!(e, corral_client::Error::NodeLost { .. }), "{e:?}");
    let (data, _) = c.get_data("/counter").await.unwrap();
    assert_eq!(data, b"by the holder");
    held.release().await.unwrap();

    // Bad directories are refused before anything is sent.
    let e = Lock::new(&c, "/").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadArguments), "{e}");
}

async fn election_follows_the_leader(cluster: &Cluster) {
    let [a, b, c] = <[Client; 3]>::try_from(sessions(cluster).await).unwrap();
    let watcher = cluster.client(1).await.unwrap();
    let mut observer = Election::new(&watcher, "/elections/sched")
        .unwrap()
        .observe()
        .await
        .unwrap();
    assert_eq!(step("no leader yet", observer.next()).await.unwrap(), None);

    let leader_a = step(
        "a elected",
        Election::new(&a, "/elections/sched")
            .unwrap()
            .campaign(b"a"),
    )
    .await
    .unwrap();
    let seen = step("a seen", observer.next()).await.unwrap().unwrap();
    assert_eq!(
        (seen.value.as_slice(), seen.term),
        (&b"a"[..], leader_a.term())
    );

    let election_b = Election::new(&b, "/elections/sched").unwrap();
    let election_c = Election::new(&c, "/elections/sched").unwrap();
    let campaign_b = tokio::spawn(async move { election_b.campaign(b"b").await });
    children_become(&watcher, "/elections/sched", 2).await;
    let campaign_c = tokio::spawn(async move { election_c.campaign(b"c").await });
    children_become(&watcher, "/elections/sched", 3).await;
    assert!(!campaign_b.is_finished() && !campaign_c.is_finished());

    leader_a.proclaim(b"a2").await.unwrap();
    let seen = step("a2 seen", observer.next()).await.unwrap().unwrap();
    assert_eq!(seen.value, b"a2");

    let term_a = leader_a.term();
    leader_a.resign().await.unwrap();
    let leader_b = step("b elected", campaign_b).await.unwrap().unwrap();
    let seen = step("b seen", observer.next()).await.unwrap().unwrap();
    assert_eq!(
        (seen.value.as_slice(), seen.term),
        (&b"b"[..], leader_b.term())
    );
    assert!(leader_b.term() > term_a, "terms must grow");
    assert!(!campaign_c.is_finished(), "c elected while b leads");

    b.clone().close().await.unwrap();
    let leader_c = step("c elected", campaign_c).await.unwrap().unwrap();
    let seen = step("c seen", observer.next()).await.unwrap().unwrap();
    assert_eq!(
        (seen.value.as_slice(), seen.term),
        (&b"c"[..], leader_c.term())
    );
    leader_c.resign().await.unwrap();
    assert_eq!(step("none left", observer.next()).await.unwrap(), None);
    drop(leader_b);
}

async fn group_follows_members(cluster: &Cluster) {
    let [a, b, c] = <[Client; 3]>::try_from(sessions(cluster).await).unwrap();
    let group = Group::new(&c, "/services/api").unwrap();
    let mut watch = group.watch().await.unwrap();
    assert!(step("empty", watch.next()).await.unwrap().is_empty());

    let member_a = Group::new(&a, "/services/api")
        .unwrap()
        .join("a", b"10.0.0.1:80")
        .await
        .unwrap();
    let names = |members: Vec<corral_client::recipes::Member>| -> Vec<String> {
        members.into_iter().map(|m| m.name).collect()
    };
    assert_eq!(names(step("a joins", watch.next()).await.unwrap()), ["a"]);
    let member_b = Group::new(&b, "/services/api")
        .unwrap()
        .join("b", b"10.0.0.2:80")
        .await
        .unwrap();
    let seen = step("b joins", watch.next()).await.unwrap();
    assert_eq!(names(seen.clone()), ["a", "b"]);
    assert_eq!(seen[1].data, b"10.0.0.2:80");

    let e = Group::new(&c, "/services/api")
        .unwrap()
        .join("a", b"")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NodeExists), "{e}");

    member_b.update(b"10.0.0.2:81").await.unwrap();
    let seen = step("b moves", watch.next()).await.unwrap();
    assert_eq!(seen[1].data, b"10.0.0.2:81");

    // A member whose node someone else deletes is told.
    let victim = group.join("victim", b"").await.unwrap();
    assert_eq!(
        names(step("victim joins", watch.next()).await.unwrap()),
        ["a", "b", "victim"]
    );
    let (why, deleted) = tokio::join!(step("lost()", victim.lost()), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.delete("/services/api/victim", None).await
    });
    deleted.unwrap();
    assert!(
        matches!(why, corral_client::Error::NodeLost { .. }),
        "lost() said {why:?}"
    );
    assert_eq!(
        names(step("victim gone", watch.next()).await.unwrap()),
        ["a", "b"]
    );
    let e = victim.update(b"x").await.unwrap_err();
    assert!(matches!(e, corral_client::Error::NodeLost { .. }), "{e:?}");
    victim.leave().await.unwrap();

    member_b.leave().await.unwrap();
    assert_eq!(names(step("b leaves", watch.next()).await.unwrap()), ["a"]);
    drop(member_a);
    assert!(step("a dropped", watch.next()).await.unwrap().is_empty());

    let _member_c = group.join("c", b"").await.unwrap();
    assert_eq!(names(step("c joins", watch.next()).await.unwrap()), ["c"]);
    let other = cluster.client(1).await.unwrap();
    let _other_member = Group::new(&other, "/services/api")
        .unwrap()
        .join("d", b"")
        .await
        .unwrap();
    assert_eq!(
        names(step("d joins", watch.next()).await.unwrap()),
        ["c", "d"]
    );
    other.clone().close().await.unwrap();
    assert_eq!(
        names(step("d's session closes", watch.next()).await.unwrap()),
        ["c"]
    );
    assert_eq!(names(group.members().await.unwrap()), ["c"]);

    // A watcher that falls behind its bounded buffer still ends up with the
    // whole list: the overflowed watch is set again and the group re-read.
    let small = cluster.client_config(&[]).with_watch_buffer_max(2);
    let slow = Client::connect(small).await.unwrap();
    let mut behind = Group::new(&slow, "/services/api")
        .unwrap()
        .watch()
        .await
        .unwrap();
    assert_eq!(
        names(step("c, to the slow watcher", behind.next()).await.unwrap()),
        ["c"]
    );
    let mut joined = Vec::new();
    for i in 0..8 {
        joined.push(group.join(&format!("m{i}"), b"").await.unwrap());
    }
    slow.sync("/").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 9 {
        seen = names(
            step("every member, after an overflow", behind.next())
                .await
                .unwrap(),
        );
    }
    assert_eq!(seen, ["c", "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    // The rest of the buffer, then the overflow: nothing new to report.
    let quiet = tokio::time::timeout(Duration::from_millis(500), behind.next()).await;
    assert!(quiet.is_err(), "no change, yet the watcher said {quiet:?}");
    joined.push(group.join("n", b"").await.unwrap());
    let seen = names(step("n, after the overflow", behind.next()).await.unwrap());
    assert_eq!(seen.len(), 10, "{seen:?}");
}

async fn queue_delivers_each_item_once(cluster: &Cluster) {
    let clients = sessions(cluster).await;
    // One producer alone: first in, first out.
    let queue = Queue::new(&clients[0], "/queues/fifo").unwrap();
    for i in 0..10 {
        queue.push(format!("{i}").as_bytes()).await.unwrap();
    }
    assert_eq!(queue.len().await.unwrap(), 10);
    let consumer = Queue::new(&clients[1], "/queues/fifo").unwrap();
    for i in 0..10 {
        let item = consumer.pop().await.unwrap();
        assert_eq!(item.data, format!("{i}").as_bytes());
    }
    assert!(consumer.try_pop().await.unwrap().is_none());

    // Three producers and three consumers, on every node.
    let taken = Arc::new(Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for client in &clients {
        let queue = Queue::new(client, "/queues/work").unwrap();
        let taken = taken.clone();
        consumers.push(tokio::spawn(async move {
            loop {
                let item = queue.pop().await.unwrap();
                if item.data == b"stop" {
                    return;
                }
                taken
                    .lock()
                    .await
                    .push(String::from_utf8(item.data).unwrap());
            }
        }));
    }
    let mut producers = Vec::new();
    for (p, client) in clients.iter().enumerate() {
        let queue = Queue::new(client, "/queues/work").unwrap();
        producers.push(tokio::spawn(async move {
            for i in 0..30 {
                queue.push(format!("{p}-{i}").as_bytes()).await.unwrap();
            }
        }));
    }
    for producer in producers {
        producer.await.unwrap();
    }
    let stopper = Queue::new(&clients[0], "/queues/work").unwrap();
    for _ in 0..consumers.len() {
        stopper.push(b"stop").await.unwrap();
    }
    for consumer in consumers {
        step("a consumer to stop", consumer).await.unwrap();
    }
    let taken = taken.lock().await.clone();
    let distinct: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), 90, "items taken: {}", taken.len());
    assert_eq!(distinct.len(), 90, "an item was taken twice");
    // The consumers took the last items through other nodes.
    clients[0].sync("/").await.unwrap();
    assert!(stopper.is_empty().await.unwrap());
}

async fn lock_survives_its_holders_node_dying(cluster: &mut Cluster) {
    let holder = Client::connect(cluster.client_config(&[])).await.unwrap();
    let holder_node = cluster
        .ids()
        .into_iter()
        .find(|id| cluster.node(*id).unwrap().listen == holder.server())
        .expect("the holder's node");
    let other = cluster
        .ids()
        .into_iter()
        .find(|id| *id != holder_node)
        .unwrap();
    let waiter = cluster.client(other).await.unwrap();
    let guard = Lock::new(&holder, "/locks/failover")
        .unwrap()
        .acquire()
        .await
        .unwrap();
    let lock_w = Lock::new(&waiter, "/locks/failover").unwrap();
    let waiting = tokio::spawn(async move { lock_w.acquire().await });
    children_become(&waiter, "/locks/failover", 2).await;

    let mut states = holder.state_changes();
    cluster.kill9(holder_node).unwrap();
    step("the holder to resume elsewhere", async {
        let mut lost = false;
        while let Some(state) = states.next().await {
            lost |= state == SessionState::Disconnected;
            if lost && state == SessionState::Connected {
                return;
            }
            assert!(
                !state.is_terminal(),
                "the holder's session ended: {state:?}"
            );
        }
    })
    .await;
    assert_ne!(holder.server(), cluster.node(holder_node).unwrap().listen);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the waiter took a held lock");
    assert_eq!(
        holder
            .exists(guard.path())
            .await
            .unwrap()
            .map(|s| s.ephemeral_owner),
        Some(holder.session_id())
    );

    guard.release().await.unwrap();
    let taken = step("the waiter", waiting).await.unwrap().unwrap();
    taken.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recipes_on_a_cluster() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
            .await
            .unwrap();
        lock_excludes_and_fences(&cluster).await;
        lock_try_cancel_and_hand_over(&cluster).await;
        election_follows_the_leader(&cluster).await;
        group_follows_members(&cluster).await;
        queue_delivers_each_item_once(&cluster).await;
        lock_survives_its_holders_node_dying(&mut cluster).await;
    })
    .await
    .expect("test exceeded its time bound");
}
