//! Firing rules of every watch type.

use super::*;

pub(super) fn watch_cases() -> Vec<Case> {
    vec![
        ("data_watch_fires_node_data_changed_once", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            let a = h.req(Request::SetData {
                path: "/a".into(),
                data: b"1".to_vec(),
                version: -1,
            });
            assert_eq!(events(&a), vec![(s, NodeDataChanged, "/a".into())]);
            assert_eq!(a.notifications()[0].event.zxid, h.zxid);
            let a = h.req(Request::SetData {
                path: "/a".into(),
                data: b"2".to_vec(),
                version: -1,
            });
            assert!(a.notifications().is_empty(), "one-shot watch fired twice");
            assert!(h.t.watches().is_empty());
        }),
        ("data_watch_fires_node_deleted", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            assert_eq!(
                events(&h.req(Request::Delete {
                    path: "/a".into(),
                    version: -1
                })),
                vec![(s, NodeDeleted, "/a".into())]
            );
        }),
        ("exists_watch_on_missing_node_fires_node_created", || {
            let mut h = H::new();
            let s = h.s;
            h.watch_exists(s, "/a");
            assert_eq!(h.t.watches().kinds(s, "/a"), vec![WatchKind::Data]);
            let a = h.req(create_req("/a", Persistent));
            assert_eq!(events(&a), vec![(s, NodeCreated, "/a".into())]);
        }),
        ("exists_watch_on_existing_node_fires_on_data_change", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_exists(s, "/a");
            assert_eq!(
                events(&h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![],
                    version: -1
                })),
                vec![(s, NodeDataChanged, "/a".into())]
            );
        }),
        ("get_data_on_missing_node_leaves_no_watch", || {
            let mut h = H::new();
            let s = h.s;
            assert!(
                h.read_as(
                    s,
                    Request::GetData {
                        path: "/a".into(),
                        watch: true
                    }
                )
                .is_err()
            );
            assert!(h.t.watches().is_empty());
        }),
        ("child_watch_fires_on_child_create", || {
            let mut h = H::new();
            h.put("/p", b"");
            let s = h.s;
            h.watch_children(s, "/p");
            assert_eq!(
                events(&h.req(create_req("/p/c", Persistent))),
                vec![(s, NodeChildrenChanged, "/p".into())]
            );
        }),
        ("child_watch_fires_on_child_delete", || {
            let mut h = H::new();
            h.put("/p", b"");
            h.put("/p/c", b"");
            let s = h.s;
            h.watch_children(s, "/p");
            assert_eq!(
                events(&h.req(Request::Delete {
                    path: "/p/c".into(),
                    version: -1
                })),
                vec![(s, NodeChildrenChanged, "/p".into())]
            );
        }),
        ("child_watch_fires_node_deleted_when_its_node_goes", || {
            let mut h = H::new();
            h.put("/p", b"");
            let s = h.s;
            h.watch_children(s, "/p");
            assert_eq!(
                events(&h.req(Request::Delete {
                    path: "/p".into(),
                    version: -1
                })),
                vec![(s, NodeDeleted, "/p".into())]
            );
        }),
        ("child_watch_ignores_data_changes", || {
            let mut h = H::new();
            h.put("/p", b"");
            let s = h.s;
            h.watch_children(s, "/p");
            assert!(
                h.req(Request::SetData {
                    path: "/p".into(),
                    data: vec![1],
                    version: -1
                })
                .notifications()
                .is_empty()
            );
        }),
        ("data_watch_ignores_child_changes", || {
            let mut h = H::new();
            h.put("/p", b"");
            let s = h.s;
            h.watch_data(s, "/p");
            assert!(
                h.req(create_req("/p/c", Persistent))
                    .notifications()
                    .is_empty()
            );
        }),
        (
            "data_and_child_watch_on_a_deleted_node_deliver_one_event",
            || {
                let mut h = H::new();
                h.put("/p", b"");
                let s = h.s;
                h.watch_data(s, "/p");
                h.watch_children(s, "/p");
                let a = h.req(Request::Delete {
                    path: "/p".into(),
                    version: -1,
                });
                assert_eq!(events(&a), vec![(s, NodeDeleted, "/p".into())]);
                assert!(h.t.watches().is_empty());
            },
        ),
        (
            "create_fires_node_created_before_parent_children_changed",
            || {
                let mut h = H::new();
                h.put("/p", b"");
                let s = h.s;
                h.watch_exists(s, "/p/c");
                h.watch_children(s, "/p");
                assert_eq!(
                    events(&h.req(create_req("/p/c", Persistent))),
                    vec![
                        (s, NodeCreated, "/p/c".into()),
                        (s, NodeChildrenChanged, "/p".into())
                    ]
                );
            },
        ),
        ("persistent_watch_fires_every_time", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.add_watch(s, "/a", AddWatchMode::Persistent);
            for i in 0..3 {
                let a = h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![i],
                    version: -1,
                });
                assert_eq!(events(&a), vec![(s, NodeDataChanged, "/a".into())]);
            }
        }),
        (
            "persistent_watch_sees_children_changed_but_not_grandchildren",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                let s = h.s;
                h.add_watch(s, "/a", AddWatchMode::Persistent);
                assert_eq!(
                    events(&h.req(create_req("/a/b", Persistent))),
                    vec![(s, NodeChildrenChanged, "/a".into())]
                );
                assert!(
                    h.req(create_req("/a/b/c", Persistent))
                        .notifications()
                        .is_empty()
                );
            },
        ),
        (
            "persistent_watch_survives_deletion_and_sees_recreation",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                let s = h.s;
                h.add_watch(s, "/a", AddWatchMode::Persistent);
                assert_eq!(
                    events(&h.req(Request::Delete {
                        path: "/a".into(),
                        version: -1
                    })),
                    vec![(s, NodeDeleted, "/a".into())]
                );
                assert_eq!(
                    events(&h.req(create_req("/a", Persistent))),
                    vec![(s, NodeCreated, "/a".into())]
                );
            },
        ),
        ("recursive_watch_fires_for_every_descendant", || {
            let mut h = H::new();
            h.put("/r", b"");
            let s = h.s;
            h.add_watch(s, "/r", AddWatchMode::PersistentRecursive);
            assert_eq!(
                events(&h.req(create_req("/r/a", Persistent))),
                vec![(s, NodeCreated, "/r/a".into())]
            );
            assert_eq!(
                events(&h.req(create_req("/r/a/b", Persistent))),
                vec![(s, NodeCreated, "/r/a/b".into())]
            );
            assert_eq!(
                events(&h.req(Request::SetData {
                    path: "/r/a/b".into(),
                    data: vec![],
                    version: -1
                })),
                vec![(s, NodeDataChanged, "/r/a/b".into())]
            );
            assert_eq!(
                events(&h.req(Request::Delete {
                    path: "/r/a/b".into(),
                    version: -1
                })),
                vec![(s, NodeDeleted, "/r/a/b".into())]
            );
        }),
        ("recursive_watch_never_fires_node_children_changed", || {
            let mut h = H::new();
            h.put("/r", b"");
            let s = h.s;
            h.add_watch(s, "/r", AddWatchMode::PersistentRecursive);
            let a = h.req(create_req("/r/a", Persistent));
            assert!(events(&a).iter().all(|e| e.1 != NodeChildrenChanged));
        }),
        (
            "recursive_watch_ignores_siblings_with_a_common_prefix",
            || {
                let mut h = H::new();
                h.put("/r", b"");
                let s = h.s;
                h.add_watch(s, "/r", AddWatchMode::PersistentRecursive);
                assert!(
                    h.req(create_req("/rx", Persistent))
                        .notifications()
                        .is_empty()
                );
            },
        ),
        ("recursive_watch_on_root_sees_everything", || {
            let mut h = H::new();
            let s = h.s;
            h.add_watch(s, "/", AddWatchMode::PersistentRecursive);
            assert_eq!(
                events(&h.req(create_req("/x", Persistent))),
                vec![(s, NodeCreated, "/x".into())]
            );
        }),
        (
            "watchers_of_one_event_are_notified_in_session_order",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                let s2 = h.session(vec![]);
                let s3 = h.session(vec![]);
                let s = h.s;
                for x in [s3, s, s2] {
                    h.watch_data(x, "/a");
                }
                let a = h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![],
                    version: -1,
                });
                assert_eq!(
                    a.notifications()
                        .iter()
                        .map(|n| n.session)
                        .collect::<Vec<_>>(),
                    vec![s, s2, s3]
                );
            },
        ),
        ("remove_watches_data_stops_the_event", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            h.read(Request::RemoveWatches {
                path: "/a".into(),
                watcher_type: WatcherType::Data,
            })
            .unwrap();
            assert!(
                h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![],
                    version: -1
                })
                .notifications()
                .is_empty()
            );
        }),
        ("remove_watches_without_a_watch_is_no_watcher", || {
            let mut h = H::new();
            h.put("/a", b"");
            let r = h.read(Request::RemoveWatches {
                path: "/a".into(),
                watcher_type: WatcherType::Children,
            });
            assert_eq!(r.unwrap_err().code, E::NoWatcher);
        }),
        ("remove_watches_of_one_type_keeps_the_others", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            h.watch_children(s, "/a");
            h.read(Request::RemoveWatches {
                path: "/a".into(),
                watcher_type: WatcherType::Data,
            })
            .unwrap();
            assert_eq!(h.t.watches().kinds(s, "/a"), vec![WatchKind::Child]);
        }),
        ("remove_watches_any_removes_every_kind", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            h.add_watch(s, "/a", AddWatchMode::PersistentRecursive);
            h.read(Request::RemoveWatches {
                path: "/a".into(),
                watcher_type: WatcherType::Any,
            })
            .unwrap();
            assert!(h.t.watches().is_empty());
        }),
        (
            "remove_watches_persistent_removes_the_persistent_watch",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                let s = h.s;
                h.add_watch(s, "/a", AddWatchMode::Persistent);
                h.read(Request::RemoveWatches {
                    path: "/a".into(),
                    watcher_type: WatcherType::Persistent,
                })
                .unwrap();
                assert!(
                    h.req(Request::SetData {
                        path: "/a".into(),
                        data: vec![],
                        version: -1
                    })
                    .notifications()
                    .is_empty()
                );
            },
        ),
        ("closing_a_session_drops_its_watches", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s2 = h.session(vec![]);
            h.watch_data(s2, "/a");
            h.add_watch(s2, "/", AddWatchMode::PersistentRecursive);
            h.req_as(s2, Request::Close);
            assert!(h.t.watches().is_empty());
            assert!(
                h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![],
                    version: -1
                })
                .notifications()
                .is_empty()
            );
        }),
        (
            "closing_a_session_tells_only_the_others_of_its_ephemerals",
            || {
                // The closing session's own watch on its ephemeral goes with it,
                // world-readable or not; other sessions' watches fire.
                let mut h = H::new();
                let s = h.s;
                let s2 = h.session(vec![]);
                h.req_as(s2, create_req("/e", Ephemeral));
                h.watch_data(s, "/e");
                h.watch_data(s2, "/e");
                let a = h.req_as(s2, Request::Close);
                assert_eq!(events(&a), vec![(s, NodeDeleted, "/e".into())]);
            },
        ),
        ("set_acl_fires_no_watch", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            h.add_watch(s, "/a", AddWatchMode::Persistent);
            assert!(
                h.req(Request::SetAcl {
                    path: "/a".into(),
                    acl: Acl::open_unsafe(),
                    aversion: -1
                })
                .notifications()
                .is_empty()
            );
        }),
        ("watcher_without_read_on_the_node_is_not_told", || {
            let mut h = H::new();
            let s2 = h.session(vec![]);
            h.add_watch(s2, "/", AddWatchMode::PersistentRecursive);
            let s = h.s;
            let secret = vec![Acl::new(Perms::ALL, Id::x509("owner"))];
            let owner = h.session(vec![Id::x509("owner")]);
            let a = h.req_as(
                owner,
                Request::Create(CreateRequest {
                    path: "/secret".into(),
                    data: vec![],
                    acl: secret,
                    mode: Persistent,
                    ttl_ms: None,
                }),
            );
            assert!(events(&a).iter().all(|e| e.0 != s2), "{:?}", events(&a));
            let _ = s;
        }),
        ("failed_write_fires_no_watch", || {
            let mut h = H::new();
            h.put("/a", b"");
            let s = h.s;
            h.watch_data(s, "/a");
            assert!(
                h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![],
                    version: 9
                })
                .notifications()
                .is_empty()
            );
            assert_eq!(h.t.watches().kinds(s, "/a"), vec![WatchKind::Data]);
        }),
        ("add_watch_with_bad_path_is_bad_arguments", || {
            let mut h = H::new();
            let r = h.read(Request::AddWatch {
                path: "/a/".into(),
                mode: AddWatchMode::Persistent,
            });
            assert_eq!(r.unwrap_err().code, E::BadArguments);
            assert!(h.t.watches().is_empty());
        }),
        (
            "firings_group_by_watched_znode_and_report_the_watches_they_end",
            || {
                // What each ZnodeActor is handed: one firing per watched znode that
                // hears a change, each session once per change (at the first
                // watch that heard it), consumed one-shots and a closed session's
                // watches named so the actor can drop their routes.
                let mut h = H::new();
                h.put("/r", b"");
                h.put("/r/a", b"");
                let s = h.s;
                let s2 = h.session(vec![]);
                let s3 = h.session(vec![]);
                h.watch_data(s, "/r/a");
                h.add_watch(s, "/r", AddWatchMode::PersistentRecursive);
                h.add_watch(s2, "/r", AddWatchMode::PersistentRecursive);
                h.watch_data(s3, "/r/a");
                let a = h.req(Request::SetData {
                    path: "/r/a".into(),
                    data: b"1".to_vec(),
                    version: -1,
                });
                let groups: Vec<_> = a
                    .fired
                    .firings
                    .iter()
                    .map(|f| {
                        (
                            f.watched.as_str(),
                            f.seq,
                            f.tell.clone(),
                            f.released.clone(),
                        )
                    })
                    .collect();
                let mut at_a = vec![s, s3];
                at_a.sort_unstable();
                assert_eq!(
                    groups,
                    vec![("/r/a", 1, at_a.clone(), at_a), ("/r", 1, vec![s2], vec![]),],
                    "s heard it at /r/a, so not again at /r"
                );
                assert!(a.fired.firings.iter().all(|f| f.event.path == "/r/a"));
                assert!(!h.t.watches().is_watched("/r/a"));
                assert!(h.t.watches().is_watched("/r"));
                // A multi's changes share a zxid and keep their order in `seq`.
                let a = h.req(Request::Multi(vec![
                    MultiOp::SetData {
                        path: "/r".into(),
                        data: vec![],
                        version: -1,
                    },
                    MultiOp::SetData {
                        path: "/r/a".into(),
                        data: vec![],
                        version: -1,
                    },
                ]));
                let seqs: Vec<_> = a
                    .fired
                    .firings
                    .iter()
                    .map(|f| (f.event.path.as_str(), f.seq))
                    .collect();
                assert_eq!(seqs, vec![("/r", 1), ("/r/a", 2)]);
                assert_eq!(a.notifications().len(), 4, "s and s2, twice each");
                // Closing s2 names its watches; it hears nothing of its own close.
                let a = h.req_as(s2, Request::Close);
                assert_eq!(a.fired.closed, vec![(s2, vec!["/r".to_string()])]);
                assert!(a.fired.firings.is_empty());
                assert!(h.t.watches().is_watched("/r"), "s still watches /r");
                assert_eq!(h.t.watches().watchers("/r"), vec![s]);
            },
        ),
    ]
}
