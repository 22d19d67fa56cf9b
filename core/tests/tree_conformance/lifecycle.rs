//! Sequential naming and ephemeral nodes with their sessions.

use super::*;

pub(super) fn sequential_cases() -> Vec<Case> {
    vec![
        ("first_sequential_child_gets_ten_zeros", || {
            let mut h = H::new();
            h.put("/q", b"");
            assert_eq!(
                h.mk("/q/n-", PersistentSequential),
                Ok("/q/n-0000000000".into())
            );
        }),
        ("sequence_suffix_is_the_parent_cversion", || {
            let mut h = H::new();
            h.put("/q", b"");
            for c in ["a", "b", "c"] {
                h.put(&format!("/q/{c}"), b"");
            }
            assert_eq!(
                h.mk("/q/n-", PersistentSequential),
                Ok("/q/n-0000000003".into())
            );
        }),
        ("deletes_do_not_rewind_the_sequence", || {
            let mut h = H::new();
            h.put("/q", b"");
            let a = h.mk("/q/n-", PersistentSequential).unwrap();
            h.del(&a, -1).unwrap();
            assert_eq!(
                h.mk("/q/n-", PersistentSequential),
                Ok("/q/n-0000000001".into())
            );
        }),
        (
            "consecutive_sequential_creates_get_increasing_names",
            || {
                let mut h = H::new();
                h.put("/q", b"");
                let names: Vec<String> = (0..5)
                    .map(|_| h.mk("/q/x", PersistentSequential).unwrap())
                    .collect();
                let mut sorted = names.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(names, sorted);
                assert_eq!(names[4], "/q/x0000000004");
            },
        ),
        ("ephemeral_sequential_is_owned_and_suffixed", || {
            let mut h = H::new();
            h.put("/q", b"");
            let p = h.mk("/q/e", EphemeralSequential).unwrap();
            assert_eq!(p, "/q/e0000000000");
            assert_eq!(h.stat(&p).ephemeral_owner, h.s);
        }),
        ("sequential_under_root", || {
            let mut h = H::new();
            assert_eq!(h.mk("/s", PersistentSequential), Ok("/s0000000000".into()));
        }),
        (
            "sequential_name_taken_by_a_plain_node_is_node_exists",
            || {
                let mut h = H::new();
                h.put("/q", b"");
                h.put("/q/n-0000000001", b"");
                assert_eq!(h.mk("/q/n-", PersistentSequential), Err(E::NodeExists));
            },
        ),
        (
            "persistent_sequential_with_ttl_is_suffixed_and_ttl_encoded",
            || {
                let mut h = H::new();
                h.put("/q", b"");
                let p = h
                    .ttl("/q/t", PersistentSequentialWithTtl, Some(1000))
                    .unwrap();
                assert_eq!(p, "/q/t0000000000");
                assert_eq!(h.stat(&p).ephemeral_owner as u64, 0xff00_0000_0000_03e8);
            },
        ),
    ]
}

pub(super) fn ephemeral_cases() -> Vec<Case> {
    vec![
        ("ephemeral_owner_is_the_session_id", || {
            let mut h = H::new();
            h.mk("/e", Ephemeral).unwrap();
            assert_eq!(h.stat("/e").ephemeral_owner, h.s);
        }),
        ("ephemeral_cannot_have_children", || {
            let mut h = H::new();
            h.mk("/e", Ephemeral).unwrap();
            fails_unchanged(&mut h, E::NoChildrenForEphemerals, |h| {
                h.req(create_req("/e/c", Persistent))
            });
        }),
        (
            "node_exists_is_checked_before_no_children_for_ephemerals",
            || {
                let mut h = H::new();
                h.mk("/e", Ephemeral).unwrap();
                assert_eq!(h.mk("/e", Persistent), Err(E::NodeExists));
            },
        ),
        ("closing_a_session_deletes_its_ephemerals", || {
            let mut h = H::new();
            let s2 = h.session(vec![]);
            h.create_as(s2, "/e1", b"", Ephemeral, None, Acl::open_unsafe())
                .unwrap();
            h.create_as(s2, "/e2", b"", Ephemeral, None, Acl::open_unsafe())
                .unwrap();
            h.mk("/mine", Ephemeral).unwrap();
            assert_eq!(code(&h.req_as(s2, Request::Close)), E::Ok);
            assert!(!h.exists("/e1") && !h.exists("/e2") && h.exists("/mine"));
            assert!(h.t.data().session(s2).is_none());
            assert_eq!(h.stat("/").pzxid, h.zxid);
        }),
        (
            "closing_a_session_fires_node_deleted_for_its_ephemerals",
            || {
                let mut h = H::new();
                let s2 = h.session(vec![]);
                h.create_as(s2, "/e", b"", Ephemeral, None, Acl::open_unsafe())
                    .unwrap();
                let s = h.s;
                h.watch_data(s, "/e");
                h.watch_children(s, "/");
                let a = h.req_as(s2, Request::Close);
                assert_eq!(
                    events(&a),
                    vec![
                        (s, NodeDeleted, "/e".into()),
                        (s, NodeChildrenChanged, "/".into())
                    ]
                );
            },
        ),
        (
            "get_ephemerals_lists_the_callers_ephemerals_by_prefix",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                h.mk("/a/e1", Ephemeral).unwrap();
                h.mk("/b", Ephemeral).unwrap();
                let s2 = h.session(vec![]);
                h.create_as(s2, "/a/other", b"", Ephemeral, None, Acl::open_unsafe())
                    .unwrap();
                assert_eq!(
                    h.read(Request::GetEphemerals { prefix: "/".into() })
                        .unwrap(),
                    Response::Ephemerals {
                        paths: vec!["/a/e1".into(), "/b".into()]
                    }
                );
                assert_eq!(
                    h.read(Request::GetEphemerals {
                        prefix: "/a".into()
                    })
                    .unwrap(),
                    Response::Ephemerals {
                        paths: vec!["/a/e1".into()]
                    }
                );
            },
        ),
        ("expiring_a_session_deletes_its_ephemerals", || {
            let mut h = H::new();
            let s2 = h.session(vec![]);
            h.create_as(s2, "/e", b"", Ephemeral, None, Acl::open_unsafe())
                .unwrap();
            h.now += 20_000;
            assert!(h.t.data().expired_sessions(h.now).contains(&s2));
            let a = h.cmd(Command::ExpireSessions { sessions: vec![s2] });
            assert_eq!(
                a.result.unwrap(),
                Response::Housekeeping {
                    sessions: vec![s2],
                    paths: vec![]
                }
            );
            assert!(!h.exists("/e"));
        }),
        ("stale_expiry_of_a_touched_session_changes_nothing", || {
            let mut h = H::new();
            let s2 = h.session(vec![]);
            h.create_as(s2, "/e", b"", Ephemeral, None, Acl::open_unsafe())
                .unwrap();
            h.now += 20_000;
            let candidates = h.t.data().expired_sessions(h.now);
            assert!(candidates.contains(&s2));
            h.cmd(Command::TouchSessions {
                sessions: vec![s2, h.s],
            });
            let a = h.cmd(Command::ExpireSessions {
                sessions: candidates,
            });
            assert_eq!(
                a.result.unwrap(),
                Response::Housekeeping {
                    sessions: vec![],
                    paths: vec![]
                }
            );
            assert!(h.exists("/e") && h.t.data().session(s2).is_some());
        }),
        ("a_request_counts_as_hearing_from_the_session", || {
            let mut h = H::new();
            h.now += 9_000;
            h.put("/a", b"");
            h.now += 5_000;
            assert!(!h.t.data().expired_sessions(h.now).contains(&h.s));
        }),
        ("requests_of_an_unknown_session_are_session_expired", || {
            let mut h = H::new();
            let a = h.req_as(999_999, create_req("/a", Persistent));
            assert_eq!(code(&a), E::SessionExpired);
            assert!(!h.exists("/a"));
        }),
        ("requests_after_close_are_session_expired", || {
            let mut h = H::new();
            h.req(Request::Close);
            assert_eq!(
                code(&h.req(create_req("/a", Persistent))),
                E::SessionExpired
            );
        }),
        (
            "session_id_is_the_creating_zxid_and_timeout_is_bounded",
            || {
                let mut h = H::new();
                let id = h.session(vec![]);
                assert_eq!(id, h.zxid);
                let a = h.cmd(Command::CreateSession {
                    timeout_ms: 0,
                    secret: [0; 16],
                    identities: vec![],
                });
                assert_eq!(code(&a), E::BadArguments);
                let a = h.cmd(Command::CreateSession {
                    timeout_ms: i64::MAX,
                    secret: [0; 16],
                    identities: vec![],
                });
                assert_eq!(code(&a), E::BadArguments);
            },
        ),
    ]
}
