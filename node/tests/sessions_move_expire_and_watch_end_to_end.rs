//! Proves sessions as their users meet them, through corral-client against a
//! real 3-node cluster of `corral serve` processes over QUIC:
//! - every operation end to end: sequential, ephemeral, container and TTL
//!   nodes, multi and multiRead, ACLs with x509 and digest identities, and
//!   one-shot data, exist and child watches plus persistent and recursive ones;
//! - a session whose node is killed (kill -9) moves to another node, keeps its
//!   ephemerals and its watches, receives in order every event its persistent
//!   watch missed while it moved, and never reads data older than it has seen;
//! - a session whose client vanishes expires after its timeout: its ephemeral
//!   is gone on every node and a watcher of it gets NodeDeleted;
//! - a client whose certificate comes from another CA is refused clearly;
//! - a node runs one ZnodeActor per watched znode, for as long as it is watched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use corral_certs::{IssueOptions, init_ca, issue_client};
use corral_client::{
    AddWatchMode, Client, ClientConfig, EventType, ReadOp, ReadOpResult, SessionState, WatchItem,
    WatcherType,
};
use corral_core::tree::{Acl, CreateMode, ErrorCode, Id, MultiOp, MultiOpResult, Perms};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::node_status::metric_value;

const TEST_TIMEOUT: Duration = Duration::from_secs(240);
/// Bounds every single wait for an event or a state.
const STEP: Duration = Duration::from_secs(20);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

fn zk_code(e: &corral_client::Error) -> Option<ErrorCode> {
    match e {
        corral_client::Error::Zk(z) => Some(z.code),
        _ => None,
    }
}

/// A client config for `ids` with the certificate of client `name` (issued on demand).
fn config_as(cluster: &Cluster, ids: &[u64], name: &str) -> ClientConfig {
    let mut config = cluster.client_config(ids);
    let ca_dir = config.ca.parent().unwrap().to_path_buf();
    let cert = ca_dir.join(format!("client-{name}.pem"));
    if !cert.exists() {
        issue_client(&ca_dir, name, &IssueOptions::leaf()).unwrap();
    }
    config.cert = cert;
    config.key = ca_dir.join(format!("client-{name}.key"));
    config
}

async fn next_event(watch: &mut corral_client::PersistentWatch) -> corral_client::WatchedEvent {
    match tokio::time::timeout(STEP, watch.next()).await {
        Ok(Some(Ok(WatchItem::Event(e)))) => e,
        other => panic!("expected an event on {}: {other:?}", watch.path()),
    }
}

async fn every_operation(cluster: &Cluster) {
    let alice = Client::connect(config_as(cluster, &[1], "alice"))
        .await
        .unwrap();
    let bob = Client::connect(config_as(cluster, &[2], "bob"))
        .await
        .unwrap();

    // Sequential, ephemeral, container and TTL nodes.
    alice
        .create("/ops", b"root", CreateMode::Persistent)
        .await
        .unwrap();
    let s1 = alice
        .create("/ops/q-", b"", CreateMode::PersistentSequential)
        .await
        .unwrap();
    let s2 = alice
        .create("/ops/q-", b"", CreateMode::EphemeralSequential)
        .await
        .unwrap();
    assert_eq!(s1, "/ops/q-0000000000");
    assert_eq!(s2, "/ops/q-0000000001");
    alice
        .create("/ops/c", b"", CreateMode::Container)
        .await
        .unwrap();
    let (ttl_path, _) = alice
        .create_ttl(
            "/ops/t",
            b"",
            CreateMode::PersistentWithTtl,
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(ttl_path, "/ops/t");
    let e = alice
        .create("/ops/q-0000000001/kid", b"", CreateMode::Persistent)
        .await
        .unwrap_err();
    assert_eq!(zk_code(&e), Some(ErrorCode::NoChildrenForEphemerals), "{e}");
    assert_eq!(
        alice.get_ephemerals("/ops").await.unwrap(),
        vec!["/ops/q-0000000001".to_string()]
    );
    assert_eq!(alice.get_all_children_number("/ops").await.unwrap(), 4);

    // Data, versions, children, through two nodes.
    let stat = alice.set_data("/ops", b"v1", Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    let e = bob.set_data("/ops", b"v2", Some(0)).await.unwrap_err();
    assert_eq!(zk_code(&e), Some(ErrorCode::BadVersion), "{e}");
    bob.sync("/ops").await.unwrap();
    let (data, stat) = bob.get_data("/ops").await.unwrap();
    assert_eq!((data.as_slice(), stat.version), (b"v1".as_slice(), 1));
    let mut kids = bob.get_children("/ops").await.unwrap();
    kids.sort();
    assert_eq!(kids, ["c", "q-0000000000", "q-0000000001", "t"]);
    assert!(bob.exists("/nope").await.unwrap().is_none());

    // multi is atomic; multiRead answers each read.
    // A failed multi answers each op (the failing one's error, the others'
    // RuntimeInconsistency or Ok placeholder, as ZooKeeper) and applies nothing.
    let results = alice
        .multi(vec![
            MultiOp::Create(corral_core::tree::CreateRequest {
                path: "/ops/m1".into(),
                data: vec![],
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl_ms: None,
            }),
            MultiOp::Check {
                path: "/ops".into(),
                version: 7,
            },
        ])
        .await
        .unwrap();
    assert!(
        matches!(results[1], MultiOpResult::Error(ErrorCode::BadVersion)),
        "{results:?}"
    );
    assert!(alice.exists("/ops/m1").await.unwrap().is_none());
    let results = alice
        .multi(vec![
            MultiOp::Check {
                path: "/ops".into(),
                version: 1,
            },
            MultiOp::SetData {
                path: "/ops".into(),
                data: b"v2".to_vec(),
                version: 1,
            },
        ])
        .await
        .unwrap();
    assert!(
        matches!(results[1], MultiOpResult::SetData { .. }),
        "{results:?}"
    );
    let reads = alice
        .multi_read(vec![
            ReadOp::GetData {
                path: "/ops".into(),
            },
            ReadOp::GetData {
                path: "/nope".into(),
            },
        ])
        .await
        .unwrap();
    assert!(matches!(&reads[0], ReadOpResult::GetData { data, .. } if data == b"v2"));
    assert!(matches!(reads[1], ReadOpResult::Error(ErrorCode::NoNode)));

    // ACLs: x509 from the certificate, digest through addAuth.
    let only_alice = vec![Acl::new(Perms::ALL, Id::x509("alice"))];
    alice
        .create_with(corral_core::tree::CreateRequest {
            path: "/ops/alice".into(),
            data: b"a".to_vec(),
            acl: only_alice,
            mode: CreateMode::Persistent,
            ttl_ms: None,
        })
        .await
        .unwrap();
    bob.sync("/").await.unwrap();
    let e = bob.get_data("/ops/alice").await.unwrap_err();
    assert_eq!(zk_code(&e), Some(ErrorCode::NoAuth), "{e}");
    assert_eq!(alice.get_data("/ops/alice").await.unwrap().0, b"a");
    let digest = Id::digest("ops:secret");
    alice
        .set_acl("/ops/c", vec![Acl::new(Perms::ALL, digest)], None)
        .await
        .unwrap();
    bob.sync("/").await.unwrap();
    let e = bob.set_data("/ops/c", b"x", None).await.unwrap_err();
    assert_eq!(zk_code(&e), Some(ErrorCode::NoAuth), "{e}");
    bob.add_auth("digest", b"ops:secret").await.unwrap();
    bob.set_data("/ops/c", b"x", None).await.unwrap();
    let (acl, _) = bob.get_acl("/ops/c").await.unwrap();
    assert_eq!(acl.len(), 1);

    // Watches of every kind, set through one node, fired by writes through another.
    let (_, _, data_watch) = bob.get_data_watch("/ops").await.unwrap();
    let (none, exist_watch) = bob.exists_watch("/ops/new").await.unwrap();
    assert!(none.is_none());
    let (_, _, child_watch) = bob.get_children_watch("/ops").await.unwrap();
    let mut persistent = bob.watch("/ops", false).await.unwrap();
    let mut recursive = bob
        .add_watch("/ops", AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    alice.set_data("/ops", b"v3", None).await.unwrap();
    alice
        .create("/ops/new", b"", CreateMode::Persistent)
        .await
        .unwrap();
    let e = tokio::time::timeout(STEP, data_watch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/ops")
    );
    let e = tokio::time::timeout(STEP, exist_watch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeCreated, "/ops/new")
    );
    let e = tokio::time::timeout(STEP, child_watch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeChildrenChanged, "/ops")
    );
    let got: Vec<_> = [
        next_event(&mut persistent).await,
        next_event(&mut persistent).await,
    ]
    .into_iter()
    .map(|e| e.event_type)
    .collect();
    assert_eq!(
        got,
        [EventType::NodeDataChanged, EventType::NodeChildrenChanged]
    );
    let got: Vec<_> = [
        next_event(&mut recursive).await,
        next_event(&mut recursive).await,
    ]
    .into_iter()
    .map(|e| (e.event_type, e.path))
    .collect();
    assert_eq!(
        got,
        [
            (EventType::NodeDataChanged, "/ops".to_string()),
            (EventType::NodeCreated, "/ops/new".to_string()),
        ]
    );
    alice.close().await.unwrap();
    // Alice's ephemeral went with her session.
    bob.sync("/").await.unwrap();
    assert!(bob.exists("/ops/q-0000000001").await.unwrap().is_none());
}

async fn session_moves_when_its_node_dies(cluster: &mut Cluster) {
    let ids = cluster.ids();
    let mut config = cluster.client_config(&ids);
    config.session_timeout = Duration::from_secs(10);
    let mover = Client::connect(config).await.unwrap();
    let home = cluster
        .manifest()
        .nodes
        .iter()
        .find(|n| n.listen == mover.server())
        .map(|n| n.id)
        .unwrap();
    let other = *ids.iter().find(|&&i| i != home).unwrap();
    let writer = cluster.client(other).await.unwrap();

    mover
        .create("/moving", b"0", CreateMode::Persistent)
        .await
        .unwrap();
    mover
        .create("/moving/eph", b"", CreateMode::Ephemeral)
        .await
        .unwrap();
    let mut watch = mover.watch("/moving", false).await.unwrap();
    writer.set_data("/moving", b"1", None).await.unwrap();
    let first = next_event(&mut watch).await;
    let (data, seen) = mover.get_data("/moving").await.unwrap();
    assert_eq!(data, b"1");
    let mut states = mover.state_changes();

    cluster.kill9(home).unwrap();
    let survivors: Vec<u64> = ids.iter().copied().filter(|&i| i != home).collect();
    cluster
        .wait_leader(&survivors, Duration::from_secs(10))
        .await
        .unwrap();
    // Changes while the session is between nodes. A write cut by the leader
    // change has an unknown outcome: read back to learn whether it applied.
    let mut written = Vec::new();
    for i in 2..7 {
        let value = format!("{i}").into_bytes();
        let mut tries = 0;
        let zxid = loop {
            tries += 1;
            match writer.set_data("/moving", &value, None).await {
                Ok(stat) => break stat.mzxid,
                Err(e) if tries < 20 => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if writer.sync("/").await.is_ok() {
                        if let Ok((data, stat)) = writer.get_data("/moving").await {
                            if data == value {
                                break stat.mzxid;
                            }
                        }
                    }
                    eprintln!("write {i} retried after: {e}");
                }
                Err(e) => panic!("write {i}: {e}"),
            }
        };
        written.push(zxid);
    }
    // It comes back connected to another node, same session.
    let reconnected = tokio::time::timeout(STEP, async {
        let mut lost = false;
        while let Some(state) = states.next().await {
            match state {
                SessionState::Disconnected => lost = true,
                SessionState::Connected if lost => return true,
                _ => {}
            }
        }
        false
    })
    .await;
    assert!(matches!(reconnected, Ok(true)), "{reconnected:?}");
    assert_ne!(mover.server(), cluster.node(home).unwrap().listen);
    // Every missed event, in order, then live ones.
    let mut got = Vec::new();
    for _ in 0..written.len() {
        let e = next_event(&mut watch).await;
        assert_eq!(e.event_type, EventType::NodeDataChanged);
        got.push(e.zxid);
    }
    assert_eq!(got, written, "missed events replayed in order");
    assert!(first.zxid < got[0]);
    // Never older than what it had seen.
    let (data, stat) = mover.get_data("/moving").await.unwrap();
    assert!(stat.mzxid >= seen.mzxid);
    assert_eq!(data, b"6");
    // Its ephemeral survived the move.
    writer.sync("/").await.unwrap();
    assert!(writer.exists("/moving/eph").await.unwrap().is_some());
    writer.set_data("/moving", b"live", None).await.unwrap();
    let e = next_event(&mut watch).await;
    assert!(e.zxid > *written.last().unwrap());

    cluster.start_node(home).unwrap();
    cluster
        .wait_serving(&ids, Duration::from_secs(60))
        .await
        .unwrap();
}

async fn vanished_client_expires(cluster: &Cluster) {
    let ids = cluster.ids();
    let mut config = cluster.client_config(&ids[..1]);
    config.session_timeout = Duration::from_secs(3);
    let vanishing = Client::connect(config).await.unwrap();
    vanishing
        .create("/gone", b"", CreateMode::Ephemeral)
        .await
        .unwrap();
    let watcher = cluster.client(ids[1]).await.unwrap();
    watcher.sync("/").await.unwrap();
    let (_, _, deleted) = watcher.get_data_watch("/gone").await.unwrap();
    let granted = vanishing.session_timeout();
    // Dropped without Close: the server expires it after its timeout.
    drop(vanishing);
    let e = tokio::time::timeout(granted + STEP, deleted)
        .await
        .expect("no NodeDeleted in time")
        .unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/gone")
    );
    for id in &ids {
        let c = cluster.client(*id).await.unwrap();
        c.sync("/").await.unwrap();
        assert!(c.exists("/gone").await.unwrap().is_none(), "node {id}");
    }
}

/// `corral_znode_actors` on node `id`.
async fn znode_actors(cluster: &Cluster, id: u64) -> f64 {
    let body = cluster.metrics(id).await.unwrap();
    metric_value(&body, "corral_znode_actors").unwrap_or(0.0)
}

/// Waits until node `id` runs `want` ZnodeActors (they stop asynchronously).
async fn expect_znode_actors(cluster: &Cluster, id: u64, want: f64, when: &str) {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let got = znode_actors(cluster, id).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{when}: {got} ZnodeActors, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A ZnodeActor per watched znode: started by the first watch, shared by the
/// next, stopped when the last watch on it goes (fired, removed, or its
/// session closed).
async fn znode_actors_follow_the_watches(cluster: &Cluster) {
    let ids = cluster.ids();
    let id = ids[1];
    let writer = cluster.client(ids[0]).await.unwrap();
    for p in ["/za", "/zb"] {
        writer.create(p, b"", CreateMode::Persistent).await.unwrap();
    }
    let a = cluster.client(id).await.unwrap();
    let b = cluster.client(id).await.unwrap();
    a.sync("/").await.unwrap();
    b.sync("/").await.unwrap();
    let base = znode_actors(cluster, id).await;
    let (_, _, fired) = a.get_data_watch("/za").await.unwrap();
    let _also = b.get_data_watch("/za").await.unwrap();
    let mut persistent = a.add_watch("/zb", AddWatchMode::Persistent).await.unwrap();
    let _missing = b.exists_watch("/zc").await.unwrap();
    expect_znode_actors(cluster, id, base + 3.0, "three watched znodes").await;
    // /za's one-shot watches fire: its actor goes with them.
    writer.set_data("/za", b"1", None).await.unwrap();
    let e = tokio::time::timeout(STEP, fired).await.unwrap().unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/za")
    );
    expect_znode_actors(cluster, id, base + 2.0, "after /za fired").await;
    // A persistent watch keeps its actor through events.
    writer.set_data("/zb", b"1", None).await.unwrap();
    let e = next_event(&mut persistent).await;
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDataChanged, "/zb")
    );
    expect_znode_actors(cluster, id, base + 2.0, "after /zb's event").await;
    a.remove_watches("/zb", WatcherType::Any).await.unwrap();
    expect_znode_actors(cluster, id, base + 1.0, "after removeWatches").await;
    // b's close deletes its ephemeral /ze and ends b's own watch on it in the
    // same entry that fires (and consumes) a's: a is still told.
    b.create("/ze", b"", CreateMode::Ephemeral).await.unwrap();
    let _own = b.get_data_watch("/ze").await.unwrap();
    let (_, _, deleted) = a.get_data_watch("/ze").await.unwrap();
    expect_znode_actors(cluster, id, base + 2.0, "/zc and /ze watched").await;
    // The exist watch on /zc goes with its session.
    b.close().await.unwrap();
    let e = tokio::time::timeout(STEP, deleted).await.unwrap().unwrap();
    assert_eq!(
        (e.event_type, e.path.as_str()),
        (EventType::NodeDeleted, "/ze")
    );
    expect_znode_actors(cluster, id, base, "after the session closed").await;
    for p in ["/za", "/zb"] {
        writer.delete(p, None).await.unwrap();
    }
}

async fn client_from_another_ca_is_refused(cluster: &Cluster) {
    let dir = cluster.root().join("other-ca");
    init_ca(&dir, &IssueOptions::ca()).unwrap();
    issue_client(&dir, "mallory", &IssueOptions::leaf()).unwrap();
    let mut config = cluster.client_config(&[]);
    config.cert = dir.join("client-mallory.pem");
    config.key = dir.join("client-mallory.key");
    config.connect_timeout = Duration::from_secs(3);
    let e = Client::connect(config).await.unwrap_err().to_string();
    assert!(
        e.contains("certificate") || e.contains("CA") || e.contains("issuer"),
        "unclear refusal: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_end_to_end() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let mut cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
            .await
            .unwrap();
        every_operation(&cluster).await;
        znode_actors_follow_the_watches(&cluster).await;
        client_from_another_ca_is_refused(&cluster).await;
        vanished_client_expires(&cluster).await;
        session_moves_when_its_node_dies(&mut cluster).await;
    })
    .await
    .expect("test exceeded its time bound");
}
