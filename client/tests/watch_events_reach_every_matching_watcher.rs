//! Proves the client's materialization of watch events (ZooKeeper's
//! `ZKWatchManager.materialize`): the server sends one event per change, and
//! the client hands it to exactly the local watchers it concerns, for every
//! event type and every watch kind. One-shot watchers are registered from the
//! reply (exists on a missing node leaves an exist watch, on an existing node
//! a data watch). A fake node scripts the events; a final "sentinel" event
//! that the recursive watch on `/` receives proves every earlier event was
//! handled, so watchers that did not fire can be checked without waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_client::{
    Client, EventType, OneShotWatch, PersistentWatch, Response, Stat, WatchItem, WatchedEvent,
};
use futures_util::FutureExt;
use support::{FakeServer, FakeSession, STEP, client_config, make_pki};

/// Every kind of watcher, on /a, /b and /.
struct Watchers {
    data_a: OneShotWatch,
    /// exists on the existing /a: a data watch.
    exists_a: OneShotWatch,
    /// exists on the missing /b: an exist watch.
    exist_b: OneShotWatch,
    child_a: OneShotWatch,
    persistent_a: PersistentWatch,
    persistent_b: PersistentWatch,
    recursive_a: PersistentWatch,
    recursive_root: PersistentWatch,
}

struct Setup {
    _pki: tempfile::TempDir,
    _server: FakeServer,
    session: FakeSession,
    _client: Client,
    w: Watchers,
}

async fn setup() -> Setup {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let mut server = FakeServer::start(pki.path(), 1);
    let config = client_config(
        pki.path(),
        &[server.addr],
        std::time::Duration::from_secs(5),
    );
    let connect = tokio::spawn(Client::connect(config));
    let mut session = server.next_session().await;
    session.accept(10).await;
    let client = connect.await.unwrap().unwrap();
    let stat = Stat::default();
    let data = Response::GetData {
        data: b"x".to_vec(),
        stat,
    };
    let (r, _) = tokio::join!(client.get_data_watch("/a"), session.answer(11, Ok(data)));
    let (_, _, data_a) = r.unwrap();
    let exists = Response::Exists { stat: Some(stat) };
    let (r, _) = tokio::join!(client.exists_watch("/a"), session.answer(11, Ok(exists)));
    let (found, exists_a) = r.unwrap();
    assert!(found.is_some());
    let missing = Response::Exists { stat: None };
    let (r, _) = tokio::join!(client.exists_watch("/b"), session.answer(11, Ok(missing)));
    let (found, exist_b) = r.unwrap();
    assert!(found.is_none());
    let children = Response::GetChildren {
        children: vec!["x".into()],
        stat: Some(stat),
    };
    let (r, _) = tokio::join!(
        client.get_children_watch("/a"),
        session.answer(11, Ok(children))
    );
    let (_, _, child_a) = r.unwrap();
    let mut persistent = Vec::new();
    for (path, recursive) in [("/a", false), ("/b", false), ("/a", true), ("/", true)] {
        let (r, _) = tokio::join!(
            client.watch(path, recursive),
            session.answer(11, Ok(Response::AddWatch))
        );
        persistent.push(r.unwrap());
    }
    let mut persistent = persistent.into_iter();
    let mut next = || persistent.next().unwrap();
    let w = Watchers {
        data_a,
        exists_a,
        exist_b,
        child_a,
        persistent_a: next(),
        persistent_b: next(),
        recursive_a: next(),
        recursive_root: next(),
    };
    Setup {
        _pki: pki,
        _server: server,
        session,
        _client: client,
        w,
    }
}

fn event(event_type: EventType, path: &str, zxid: i64) -> WatchedEvent {
    WatchedEvent {
        event_type,
        path: path.into(),
        zxid,
    }
}

/// The sentinel: a data change the recursive watch on / always gets.
fn sentinel() -> WatchedEvent {
    event(EventType::NodeDataChanged, "/sentinel", 99)
}

/// Sends `events` and the sentinel; returns what the recursive watch on /
/// received up to the sentinel.
async fn send_and_settle(setup: &mut Setup, events: &[WatchedEvent]) -> Vec<WatchedEvent> {
    for e in events {
        setup.session.event(e.clone()).await;
    }
    setup.session.event(sentinel()).await;
    let mut seen = Vec::new();
    loop {
        match setup.w.recursive_root.next().await.unwrap().unwrap() {
            WatchItem::Event(e) if e == sentinel() => return seen,
            WatchItem::Event(e) => seen.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn fired(watch: &mut OneShotWatch) -> Option<WatchedEvent> {
    watch.try_take().map(|r| r.unwrap())
}

fn pending_items(stream: &mut PersistentWatch) -> Vec<WatchItem> {
    let mut items = Vec::new();
    while let Some(Some(item)) = stream.next().now_or_never() {
        items.push(item.unwrap());
    }
    items
}

#[tokio::test]
async fn data_changed_fires_data_watchers_persistent_and_recursive_ancestors() {
    tokio::time::timeout(STEP * 2, async {
        let mut s = setup().await;
        let changed = event(EventType::NodeDataChanged, "/a", 20);
        let root = send_and_settle(&mut s, std::slice::from_ref(&changed)).await;
        assert_eq!(root, vec![changed.clone()]);
        assert_eq!(fired(&mut s.w.data_a), Some(changed.clone()));
        assert_eq!(fired(&mut s.w.exists_a), Some(changed.clone()));
        assert_eq!(
            fired(&mut s.w.child_a),
            None,
            "child watches ignore data changes"
        );
        assert_eq!(fired(&mut s.w.exist_b), None);
        let item = WatchItem::Event(changed);
        assert_eq!(pending_items(&mut s.w.persistent_a), vec![item.clone()]);
        assert_eq!(pending_items(&mut s.w.recursive_a), vec![item]);
        assert_eq!(pending_items(&mut s.w.persistent_b), vec![]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn created_fires_exist_watchers_persistent_and_recursive_ancestors() {
    tokio::time::timeout(STEP * 2, async {
        let mut s = setup().await;
        let created = event(EventType::NodeCreated, "/b", 20);
        let below = event(EventType::NodeCreated, "/a/new", 21);
        let root = send_and_settle(&mut s, &[created.clone(), below.clone()]).await;
        assert_eq!(root, vec![created.clone(), below.clone()]);
        assert_eq!(fired(&mut s.w.exist_b), Some(created.clone()));
        assert_eq!(fired(&mut s.w.data_a), None);
        assert_eq!(fired(&mut s.w.exists_a), None);
        assert_eq!(
            fired(&mut s.w.child_a),
            None,
            "NodeCreated at a child is not the parent's"
        );
        assert_eq!(
            pending_items(&mut s.w.persistent_b),
            vec![WatchItem::Event(created)]
        );
        assert_eq!(
            pending_items(&mut s.w.persistent_a),
            vec![],
            "a persistent watch covers its own path only"
        );
        assert_eq!(
            pending_items(&mut s.w.recursive_a),
            vec![WatchItem::Event(below)]
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn children_changed_fires_child_watchers_and_persistent_never_recursive() {
    tokio::time::timeout(STEP * 2, async {
        let mut s = setup().await;
        let children = event(EventType::NodeChildrenChanged, "/a", 20);
        let root = send_and_settle(&mut s, std::slice::from_ref(&children)).await;
        assert_eq!(
            root,
            vec![],
            "recursive watches never get NodeChildrenChanged"
        );
        assert_eq!(fired(&mut s.w.child_a), Some(children.clone()));
        assert_eq!(fired(&mut s.w.data_a), None);
        assert_eq!(fired(&mut s.w.exists_a), None);
        assert_eq!(
            pending_items(&mut s.w.persistent_a),
            vec![WatchItem::Event(children)]
        );
        assert_eq!(pending_items(&mut s.w.recursive_a), vec![]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn deleted_fires_data_exist_and_child_watchers_and_every_persistent_kind() {
    tokio::time::timeout(STEP * 2, async {
        let mut s = setup().await;
        let deleted = event(EventType::NodeDeleted, "/a", 20);
        let deep = event(EventType::NodeDeleted, "/a/x/y", 21);
        let root = send_and_settle(&mut s, &[deleted.clone(), deep.clone()]).await;
        assert_eq!(root, vec![deleted.clone(), deep.clone()]);
        assert_eq!(fired(&mut s.w.data_a), Some(deleted.clone()));
        assert_eq!(fired(&mut s.w.exists_a), Some(deleted.clone()));
        assert_eq!(fired(&mut s.w.child_a), Some(deleted.clone()));
        assert_eq!(fired(&mut s.w.exist_b), None);
        assert_eq!(
            pending_items(&mut s.w.persistent_a),
            vec![WatchItem::Event(deleted.clone())]
        );
        assert_eq!(
            pending_items(&mut s.w.recursive_a),
            vec![WatchItem::Event(deleted), WatchItem::Event(deep)]
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn one_shot_watchers_fire_once_and_persistent_ones_keep_firing() {
    tokio::time::timeout(STEP * 2, async {
        let mut s = setup().await;
        let first = event(EventType::NodeDataChanged, "/a", 20);
        let second = event(EventType::NodeDataChanged, "/a", 21);
        send_and_settle(&mut s, &[first.clone(), second.clone()]).await;
        assert_eq!(
            fired(&mut s.w.data_a),
            Some(first.clone()),
            "the first change fires it"
        );
        assert_eq!(
            pending_items(&mut s.w.persistent_a),
            vec![WatchItem::Event(first), WatchItem::Event(second)]
        );
    })
    .await
    .unwrap();
}
