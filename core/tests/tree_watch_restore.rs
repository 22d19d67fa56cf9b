//! Proves SetWatches after a reconnect: one-shot watches fire at once for
//! znodes changed since the client's zxid (as ZooKeeper's DataTree.setWatches
//! does) and are registered otherwise; persistent watches replay every event
//! they missed, in order, from the change history; a gap older than the history
//! gets ResyncNeeded; bad paths and unknown sessions change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tree_support;

use corral_core::tree::*;
use tree_support::H;

use CreateMode::*;
use EventType::*;

fn ev(r: &Restored) -> Vec<(EventType, String)> {
    r.notifications
        .iter()
        .map(|n| (n.event.event_type, n.event.path.clone()))
        .collect()
}

#[test]
fn one_shot_watches_fire_for_changes_since_the_clients_zxid() {
    let mut h = H::new();
    let s = h.session(vec![]);
    h.put("/same", b"1");
    h.put("/changed", b"1");
    h.put("/gone", b"1");
    h.put("/parent", b"");
    h.put("/quiet", b"");
    let seen = h.zxid;
    h.set("/changed", b"2", -1).unwrap();
    h.del("/gone", -1).unwrap();
    h.put("/born", b"");
    h.mk("/parent/kid", Persistent).unwrap();

    let restored =
        h.t.restore_watches(
            s,
            &WatchesToRestore {
                relative_zxid: seen,
                data: vec!["/same".into(), "/changed".into(), "/gone".into()],
                exist: vec!["/born".into(), "/never".into()],
                child: vec!["/parent".into(), "/quiet".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ev(&restored),
        vec![
            (NodeDataChanged, "/changed".to_string()),
            (NodeDeleted, "/gone".to_string()),
            (NodeCreated, "/born".to_string()),
            (NodeChildrenChanged, "/parent".to_string()),
        ]
    );
    assert!(restored.resync.is_empty());
    // Fired one-shot events carry the current zxid; the rest are registered.
    assert!(
        restored
            .notifications
            .iter()
            .all(|n| n.event.zxid == h.zxid)
    );
    let w = h.t.watches();
    assert_eq!(w.kinds(s, "/same"), vec![WatchKind::Data]);
    assert_eq!(w.kinds(s, "/never"), vec![WatchKind::Data]);
    assert_eq!(w.kinds(s, "/quiet"), vec![WatchKind::Child]);
    assert!(w.kinds(s, "/changed").is_empty());
    assert!(w.kinds(s, "/parent").is_empty());

    // The registered ones fire like any watch afterwards.
    let a = h.req(Request::SetData {
        path: "/same".into(),
        data: b"x".to_vec(),
        version: -1,
    });
    assert_eq!(a.notifications().len(), 1);
    assert_eq!(a.notifications()[0].session, s);
    assert_eq!(a.notifications()[0].event.event_type, NodeDataChanged);
}

#[test]
fn persistent_watches_replay_every_missed_event_in_order() {
    let mut h = H::new();
    let s = h.session(vec![]);
    h.put("/r", b"");
    h.put("/p", b"");
    let seen = h.zxid;
    h.mk("/r/a", Persistent).unwrap();
    h.set("/r/a", b"1", -1).unwrap();
    h.mk("/p/kid", Persistent).unwrap();
    h.set("/p", b"d", -1).unwrap();
    h.del("/r/a", -1).unwrap();
    h.put("/elsewhere", b"");

    let restored =
        h.t.restore_watches(
            s,
            &WatchesToRestore {
                relative_zxid: seen,
                persistent: vec!["/p".into()],
                persistent_recursive: vec!["/r".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ev(&restored),
        vec![
            (NodeCreated, "/r/a".to_string()),
            (NodeDataChanged, "/r/a".to_string()),
            (NodeChildrenChanged, "/p".to_string()),
            (NodeDataChanged, "/p".to_string()),
            (NodeDeleted, "/r/a".to_string()),
        ]
    );
    let zxids: Vec<i64> = restored
        .notifications
        .iter()
        .map(|n| n.event.zxid)
        .collect();
    assert!(zxids.windows(2).all(|w| w[0] < w[1]), "{zxids:?}");
    // Still registered, and never removed by firing.
    assert_eq!(h.t.watches().kinds(s, "/p"), vec![WatchKind::Persistent]);
    let a = h.req(Request::SetData {
        path: "/p".into(),
        data: b"e".to_vec(),
        version: -1,
    });
    assert_eq!(a.notifications().len(), 1);
}

#[test]
fn a_gap_older_than_the_history_gets_resync_needed() {
    let mut h = H::new();
    h.t.set_history_limit(4);
    let s = h.session(vec![]);
    h.put("/r", b"");
    let seen = h.zxid;
    for i in 0..10 {
        h.set("/r", format!("{i}").as_bytes(), -1).unwrap();
    }
    assert_eq!(h.t.history_len(), 4);
    let restored =
        h.t.restore_watches(
            s,
            &WatchesToRestore {
                relative_zxid: seen,
                persistent: vec!["/r".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert!(restored.notifications.is_empty());
    assert_eq!(restored.resync.len(), 1);
    let r = &restored.resync[0];
    assert_eq!(r.path, "/r");
    assert_eq!(r.last_zxid_seen, seen);
    assert!(r.oldest_zxid > seen + 1, "{r:?}");
    // The watch is registered all the same.
    assert_eq!(h.t.watches().kinds(s, "/r"), vec![WatchKind::Persistent]);

    // A client that has seen recent enough zxids replays without a resync.
    let recent = h.zxid - 2;
    let again =
        h.t.restore_watches(
            s,
            &WatchesToRestore {
                relative_zxid: recent,
                persistent: vec!["/r".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert!(again.resync.is_empty());
    assert_eq!(again.notifications.len(), 2);
}

#[test]
fn bad_paths_and_unknown_sessions_change_nothing() {
    let mut h = H::new();
    let s = h.session(vec![]);
    h.put("/a", b"");
    let bad = WatchesToRestore {
        relative_zxid: 0,
        data: vec!["/a".into(), "no-slash".into()],
        ..Default::default()
    };
    let e = h.t.restore_watches(s, &bad).unwrap_err();
    assert_eq!(e.code, ErrorCode::BadArguments);
    assert!(e.to_string().contains("no-slash"), "{e}");
    assert!(h.t.watches().is_empty());
    let unknown = WatchesToRestore {
        data: vec!["/a".into()],
        ..Default::default()
    };
    let e = h.t.restore_watches(0x7777, &unknown).unwrap_err();
    assert_eq!(e.code, ErrorCode::SessionExpired);
    assert!(h.t.watches().is_empty());
}

#[test]
fn an_unreadable_znode_fires_no_event_on_restore() {
    let mut h = H::new();
    let reader = h.session(vec![]);
    let owner = h.session(vec![Id::x509("owner")]);
    h.create_as(
        owner,
        "/secret",
        b"1",
        Persistent,
        None,
        vec![Acl::new(Perms::ALL, Id::x509("owner"))],
    )
    .unwrap();
    let seen = h.zxid;
    h.req_as(
        owner,
        Request::SetData {
            path: "/secret".into(),
            data: b"2".to_vec(),
            version: -1,
        },
    );
    let restored =
        h.t.restore_watches(
            reader,
            &WatchesToRestore {
                relative_zxid: seen,
                data: vec!["/secret".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert!(restored.notifications.is_empty());
}

#[test]
fn an_entry_whose_changes_are_only_partly_held_is_never_replayed_in_part() {
    let mut h = H::new();
    let s = h.session(vec![]);
    h.put("/r", b"");
    let before_create = h.zxid;
    // One entry, two changes: NodeCreated /r/x and NodeChildrenChanged /r.
    h.mk("/r/x", Persistent).unwrap();
    let created = h.zxid;
    h.set("/r/x", b"1", -1).unwrap();
    // Two changes held: the second of the create and the set.
    h.t.set_history_limit(2);
    assert_eq!(h.t.history_len(), 2);

    let restore = |h: &mut H, seen: i64| {
        h.t.restore_watches(
            s,
            &WatchesToRestore {
                relative_zxid: seen,
                persistent_recursive: vec!["/r".into()],
                ..Default::default()
            },
        )
        .unwrap()
    };
    // Seen before the create: half of it is gone, so the gap needs a resync.
    let gap = restore(&mut h, before_create);
    assert!(gap.notifications.is_empty(), "{:?}", ev(&gap));
    assert_eq!(gap.resync.len(), 1);
    assert_eq!(gap.resync[0].oldest_zxid, created + 1);
    // Seen the create: only the set is replayed, not the create's remnant.
    let replay = restore(&mut h, created);
    assert!(replay.resync.is_empty(), "{:?}", replay.resync);
    assert_eq!(ev(&replay), vec![(NodeDataChanged, "/r/x".to_string())]);
}
