//! Proves corral's tree behaves as ZooKeeper 3.9 does, one named behaviour per case.
//!
//! Each case sets up a tree through committed entries and asserts what ZooKeeper's
//! PrepRequestProcessor / DataTree / WatchManager would answer. The runner executes all
//! cases and names every one that failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tree_support;

use corral_core::tree::*;
use tree_support::{H, code, events};

use CreateMode::*;
use ErrorCode as E;
use EventType::*;

type Case = (&'static str, fn());

/// Asserts `f` fails with `want` and leaves every node exactly as it was.
fn fails_unchanged(h: &mut H, want: ErrorCode, f: impl FnOnce(&mut H) -> Applied) {
    let before = h.fingerprint();
    let a = f(h);
    assert_eq!(code(&a), want, "{:?}", a.result);
    assert!(a.notifications.is_empty());
    assert_eq!(h.fingerprint(), before, "tree changed by a failed request");
}

fn create_req(path: &str, mode: CreateMode) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: vec![],
        acl: Acl::open_unsafe(),
        mode,
        ttl_ms: None,
    })
}

fn bad_path(path: &'static str) {
    let mut h = H::new();
    fails_unchanged(&mut h, E::BadArguments, |h| {
        h.req(create_req(path, Persistent))
    });
    let r = h.read(Request::GetData {
        path: path.into(),
        watch: false,
    });
    assert_eq!(r.unwrap_err().code, E::BadArguments);
}

fn path_cases() -> Vec<Case> {
    vec![
        ("path_empty_is_bad_arguments", || bad_path("")),
        ("path_not_starting_with_slash_is_bad_arguments", || {
            bad_path("a/b")
        }),
        ("path_with_trailing_slash_is_bad_arguments", || {
            bad_path("/a/")
        }),
        ("path_with_empty_segment_is_bad_arguments", || {
            bad_path("/a//b")
        }),
        ("path_with_dot_segment_is_bad_arguments", || {
            bad_path("/a/./b")
        }),
        ("path_with_dotdot_segment_is_bad_arguments", || {
            bad_path("/a/../b")
        }),
        ("path_ending_in_dot_is_bad_arguments", || bad_path("/a/.")),
        ("path_ending_in_dotdot_is_bad_arguments", || {
            bad_path("/a/..")
        }),
        ("path_with_nul_is_bad_arguments", || bad_path("/a\u{0}b")),
        ("path_with_control_char_is_bad_arguments", || {
            bad_path("/a\u{1}b")
        }),
        ("path_with_del_char_is_bad_arguments", || {
            bad_path("/a\u{7f}")
        }),
        ("path_with_c1_control_is_bad_arguments", || {
            bad_path("/a\u{9f}")
        }),
        ("path_with_private_use_char_is_bad_arguments", || {
            bad_path("/a\u{e000}")
        }),
        ("path_with_fff0_range_char_is_bad_arguments", || {
            bad_path("/a\u{fff0}")
        }),
        ("path_with_supplementary_char_is_bad_arguments", || {
            bad_path("/a\u{1f600}")
        }),
        ("path_names_with_dots_are_valid", || {
            let mut h = H::new();
            assert_eq!(h.mk("/...", Persistent), Ok("/...".into()));
            assert_eq!(h.mk("/a.b", Persistent), Ok("/a.b".into()));
            assert_eq!(h.mk("/.hidden", Persistent), Ok("/.hidden".into()));
        }),
        ("path_error_message_names_the_path", || {
            let mut h = H::new();
            let e = h.req(create_req("/x//y", Persistent)).result.unwrap_err();
            assert!(e.to_string().contains("/x//y"), "{e}");
            let e = h
                .req(create_req("/no/parent", Persistent))
                .result
                .unwrap_err();
            assert_eq!(e.code, E::NoNode);
            assert!(e.to_string().contains("/no/parent"), "{e}");
        }),
        ("path_longer_than_limit_is_bad_arguments", || {
            let mut h = H::with_limits(Limits {
                path_bytes_max: 16,
                ..Limits::default()
            });
            fails_unchanged(&mut h, E::BadArguments, |h| {
                h.req(create_req("/aaaaaaaaaaaaaaaaaaaa", Persistent))
            });
        }),
        ("sequential_prefix_may_end_with_slash", || {
            let mut h = H::new();
            h.put("/q", b"");
            assert_eq!(
                h.mk("/q/", PersistentSequential),
                Ok("/q/0000000000".into())
            );
        }),
        ("delete_of_root_is_bad_arguments", || {
            let mut h = H::new();
            fails_unchanged(&mut h, E::BadArguments, |h| {
                h.req(Request::Delete {
                    path: "/".into(),
                    version: -1,
                })
            });
        }),
        ("create_of_root_is_node_exists", || {
            let mut h = H::new();
            assert_eq!(h.mk("/", Persistent), Err(E::NodeExists));
        }),
    ]
}

fn stat_cases() -> Vec<Case> {
    vec![
        ("create_sets_every_stat_field_from_the_entry", || {
            let mut h = H::new();
            let st = h.put("/a", b"hello");
            assert_eq!((st.czxid, st.mzxid, st.pzxid), (h.zxid, h.zxid, h.zxid));
            assert_eq!((st.ctime, st.mtime), (h.now, h.now));
            assert_eq!((st.version, st.cversion, st.aversion), (0, 0, 0));
            assert_eq!(
                (st.ephemeral_owner, st.data_length, st.num_children),
                (0, 5, 0)
            );
            assert_eq!(h.stat("/a"), st);
        }),
        (
            "create_bumps_parent_cversion_pzxid_and_num_children_only",
            || {
                let mut h = H::new();
                let p0 = h.put("/p", b"x");
                h.put("/p/c", b"");
                let p1 = h.stat("/p");
                assert_eq!(p1.cversion, p0.cversion + 1);
                assert_eq!(p1.pzxid, h.zxid);
                assert_eq!(p1.num_children, 1);
                assert_eq!(
                    (p1.mzxid, p1.version, p1.mtime, p1.aversion),
                    (p0.mzxid, p0.version, p0.mtime, p0.aversion)
                );
            },
        ),
        (
            "set_data_bumps_version_mzxid_mtime_and_data_length_only",
            || {
                let mut h = H::new();
                let s0 = h.put("/a", b"x");
                let s1 = h.set("/a", b"four", 0).unwrap();
                assert_eq!(s1.version, 1);
                assert_eq!((s1.mzxid, s1.mtime, s1.data_length), (h.zxid, h.now, 4));
                assert_eq!(
                    (s1.czxid, s1.ctime, s1.pzxid, s1.cversion, s1.aversion),
                    (s0.czxid, s0.ctime, s0.pzxid, 0, 0)
                );
                assert_eq!(h.stat("/a"), s1);
            },
        ),
        ("set_data_does_not_touch_the_parent", || {
            let mut h = H::new();
            h.put("/p", b"");
            h.put("/p/c", b"");
            let p = h.stat("/p");
            h.set("/p/c", b"v", -1).unwrap();
            assert_eq!(h.stat("/p"), p);
        }),
        (
            "delete_sets_parent_pzxid_and_num_children_but_not_cversion",
            || {
                let mut h = H::new();
                h.put("/p", b"");
                h.put("/p/c", b"");
                let before = h.stat("/p");
                h.del("/p/c", -1).unwrap();
                let after = h.stat("/p");
                assert_eq!(after.pzxid, h.zxid);
                assert_eq!(after.num_children, 0);
                assert_eq!(after.cversion, before.cversion);
                assert_eq!(after.mzxid, before.mzxid);
            },
        ),
        ("set_acl_bumps_aversion_only", || {
            let mut h = H::new();
            let s0 = h.put("/a", b"");
            let r = h.req(Request::SetAcl {
                path: "/a".into(),
                acl: Acl::read_unsafe(),
                aversion: 0,
            });
            let Ok(Response::SetAcl { stat }) = r.result else {
                panic!("{r:?}")
            };
            assert_eq!(stat.aversion, 1);
            assert_eq!(
                (stat.version, stat.mzxid, stat.mtime, stat.cversion),
                (s0.version, s0.mzxid, s0.mtime, s0.cversion)
            );
        }),
        ("empty_data_has_zero_data_length", || {
            let mut h = H::new();
            assert_eq!(h.put("/e", b"").data_length, 0);
        }),
        (
            "data_at_limit_is_accepted_and_one_more_byte_is_bad_arguments",
            || {
                let mut h = H::with_limits(Limits {
                    data_bytes_max: 8,
                    ..Limits::default()
                });
                h.put("/ok", &[1; 8]);
                fails_unchanged(&mut h, E::BadArguments, |h| {
                    h.req(Request::Create(CreateRequest {
                        path: "/big".into(),
                        data: vec![0; 9],
                        acl: Acl::open_unsafe(),
                        mode: Persistent,
                        ttl_ms: None,
                    }))
                });
                fails_unchanged(&mut h, E::BadArguments, |h| {
                    h.req(Request::SetData {
                        path: "/ok".into(),
                        data: vec![0; 9],
                        version: -1,
                    })
                });
            },
        ),
        ("default_data_limit_is_one_mebibyte", || {
            let mut h = H::new();
            h.put("/mib", &vec![0; 1024 * 1024]);
            assert_eq!(
                h.set("/mib", &vec![0; 1024 * 1024 + 1], -1),
                Err(E::BadArguments)
            );
        }),
        ("get_data_returns_data_and_stat", || {
            let mut h = H::new();
            let st = h.put("/a", b"v");
            assert_eq!(
                h.read(Request::GetData {
                    path: "/a".into(),
                    watch: false
                })
                .unwrap(),
                Response::GetData {
                    data: b"v".to_vec(),
                    stat: st
                }
            );
        }),
        ("exists_returns_stat_or_none", || {
            let mut h = H::new();
            let st = h.put("/a", b"");
            assert_eq!(
                h.read(Request::Exists {
                    path: "/a".into(),
                    watch: false
                })
                .unwrap(),
                Response::Exists { stat: Some(st) }
            );
            assert_eq!(
                h.read(Request::Exists {
                    path: "/b".into(),
                    watch: false
                })
                .unwrap(),
                Response::Exists { stat: None }
            );
        }),
        (
            "get_children_is_sorted_and_with_stat_returns_the_stat",
            || {
                let mut h = H::new();
                h.put("/p", b"");
                for c in ["c", "a", "b"] {
                    h.put(&format!("/p/{c}"), b"");
                }
                let r = h
                    .read(Request::GetChildren {
                        path: "/p".into(),
                        watch: false,
                        with_stat: true,
                    })
                    .unwrap();
                assert_eq!(
                    r,
                    Response::GetChildren {
                        children: vec!["a".into(), "b".into(), "c".into()],
                        stat: Some(h.stat("/p"))
                    }
                );
                let r = h
                    .read(Request::GetChildren {
                        path: "/p".into(),
                        watch: false,
                        with_stat: false,
                    })
                    .unwrap();
                assert!(matches!(r, Response::GetChildren { stat: None, .. }));
            },
        ),
        ("get_children_of_missing_node_is_no_node", || {
            let mut h = H::new();
            let r = h.read(Request::GetChildren {
                path: "/none".into(),
                watch: false,
                with_stat: false,
            });
            assert_eq!(r.unwrap_err().code, E::NoNode);
        }),
        ("get_all_children_number_counts_all_descendants", || {
            let mut h = H::new();
            for p in ["/a", "/a/b", "/a/b/c", "/a/d", "/z"] {
                h.put(p, b"");
            }
            assert_eq!(
                h.read(Request::GetAllChildrenNumber { path: "/a".into() })
                    .unwrap(),
                Response::AllChildrenNumber { count: 3 }
            );
            assert_eq!(
                h.read(Request::GetAllChildrenNumber { path: "/".into() })
                    .unwrap(),
                Response::AllChildrenNumber { count: 5 }
            );
        }),
        ("sync_answers_with_its_path", || {
            let mut h = H::new();
            assert_eq!(
                h.req(Request::Sync { path: "/".into() }).result.unwrap(),
                Response::Sync { path: "/".into() }
            );
        }),
        ("read_in_the_log_sees_every_earlier_entry", || {
            let mut h = H::new();
            h.put("/a", b"1");
            let a = h.req(Request::GetData {
                path: "/a".into(),
                watch: false,
            });
            assert!(matches!(a.result, Ok(Response::GetData { ref data, .. }) if data == b"1"));
        }),
    ]
}

fn version_cases() -> Vec<Case> {
    vec![
        ("set_data_with_wrong_version_is_bad_version", || {
            let mut h = H::new();
            h.put("/a", b"");
            fails_unchanged(&mut h, E::BadVersion, |h| {
                h.req(Request::SetData {
                    path: "/a".into(),
                    data: b"x".to_vec(),
                    version: 5,
                })
            });
        }),
        ("set_data_with_matching_version_succeeds", || {
            let mut h = H::new();
            h.put("/a", b"");
            h.set("/a", b"1", 0).unwrap();
            assert_eq!(h.set("/a", b"2", 1).unwrap().version, 2);
        }),
        (
            "set_data_with_version_minus_one_ignores_the_version",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                h.set("/a", b"1", -1).unwrap();
                assert_eq!(h.set("/a", b"2", -1).unwrap().version, 2);
            },
        ),
        ("set_data_on_missing_node_is_no_node", || {
            let mut h = H::new();
            assert_eq!(h.set("/none", b"", -1), Err(E::NoNode));
        }),
        ("delete_with_wrong_version_is_bad_version", || {
            let mut h = H::new();
            h.put("/a", b"");
            fails_unchanged(&mut h, E::BadVersion, |h| {
                h.req(Request::Delete {
                    path: "/a".into(),
                    version: 3,
                })
            });
        }),
        ("delete_with_matching_version_succeeds", || {
            let mut h = H::new();
            h.put("/a", b"");
            h.set("/a", b"1", -1).unwrap();
            h.del("/a", 1).unwrap();
            assert!(!h.exists("/a"));
        }),
        ("delete_with_children_is_not_empty", || {
            let mut h = H::new();
            h.put("/a", b"");
            h.put("/a/b", b"");
            fails_unchanged(&mut h, E::NotEmpty, |h| {
                h.req(Request::Delete {
                    path: "/a".into(),
                    version: -1,
                })
            });
        }),
        ("delete_of_missing_node_is_no_node", || {
            let mut h = H::new();
            assert_eq!(h.del("/none", -1), Err(E::NoNode));
            assert_eq!(h.del("/none/deeper", -1), Err(E::NoNode));
        }),
        ("delete_version_is_checked_before_children", || {
            let mut h = H::new();
            h.put("/a", b"");
            h.put("/a/b", b"");
            assert_eq!(h.del("/a", 7), Err(E::BadVersion));
        }),
        ("set_acl_with_wrong_aversion_is_bad_version", || {
            let mut h = H::new();
            h.put("/a", b"");
            fails_unchanged(&mut h, E::BadVersion, |h| {
                h.req(Request::SetAcl {
                    path: "/a".into(),
                    acl: Acl::read_unsafe(),
                    aversion: 2,
                })
            });
        }),
        ("create_of_existing_node_is_node_exists", || {
            let mut h = H::new();
            h.put("/a", b"");
            fails_unchanged(&mut h, E::NodeExists, |h| {
                h.req(create_req("/a", Persistent))
            });
        }),
        ("create_without_parent_is_no_node", || {
            let mut h = H::new();
            fails_unchanged(&mut h, E::NoNode, |h| h.req(create_req("/a/b", Persistent)));
        }),
    ]
}

fn sequential_cases() -> Vec<Case> {
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

fn ephemeral_cases() -> Vec<Case> {
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

fn container_ttl_cases() -> Vec<Case> {
    vec![
        ("container_owner_is_the_container_marker", || {
            let mut h = H::new();
            h.mk("/c", Container).unwrap();
            assert_eq!(h.stat("/c").ephemeral_owner as u64, 0x8000_0000_0000_0000);
        }),
        ("never_used_container_is_not_reaped", || {
            let mut h = H::new();
            h.mk("/c", Container).unwrap();
            h.now += 1_000_000;
            assert!(h.t.data().containers_to_reap(h.now).is_empty());
            h.cmd(Command::ReapContainers {
                paths: vec!["/c".into()],
            });
            assert!(h.exists("/c"));
        }),
        ("container_is_reaped_after_its_last_child_goes", || {
            let mut h = H::new();
            h.mk("/c", Container).unwrap();
            h.put("/c/x", b"");
            h.del("/c/x", -1).unwrap();
            assert_eq!(h.t.data().containers_to_reap(h.now), vec!["/c".to_string()]);
            let a = h.cmd(Command::ReapContainers {
                paths: vec!["/c".into()],
            });
            assert_eq!(
                a.result.unwrap(),
                Response::Housekeeping {
                    sessions: vec![],
                    paths: vec!["/c".into()]
                }
            );
            assert!(!h.exists("/c"));
        }),
        (
            "stale_container_reap_after_a_new_child_changes_nothing",
            || {
                let mut h = H::new();
                h.mk("/c", Container).unwrap();
                h.put("/c/x", b"");
                h.del("/c/x", -1).unwrap();
                let candidates = h.t.data().containers_to_reap(h.now);
                h.put("/c/y", b"");
                h.cmd(Command::ReapContainers { paths: candidates });
                assert!(h.exists("/c") && h.exists("/c/y"));
            },
        ),
        ("container_with_children_is_not_a_candidate", || {
            let mut h = H::new();
            h.mk("/c", Container).unwrap();
            h.put("/c/x", b"");
            assert!(h.t.data().containers_to_reap(h.now).is_empty());
        }),
        (
            "never_used_container_is_reaped_after_the_configured_maximum",
            || {
                let mut h = H::with_limits(Limits {
                    container_never_used_ms_max: 1000,
                    ..Limits::default()
                });
                h.mk("/c", Container).unwrap();
                assert!(h.t.data().containers_to_reap(h.now + 500).is_empty());
                h.now += 2000;
                let c = h.t.data().containers_to_reap(h.now);
                h.cmd(Command::ReapContainers { paths: c });
                assert!(!h.exists("/c"));
            },
        ),
        ("reaping_a_container_fires_its_watches", || {
            let mut h = H::new();
            h.mk("/c", Container).unwrap();
            h.put("/c/x", b"");
            h.del("/c/x", -1).unwrap();
            let s = h.s;
            h.watch_data(s, "/c");
            let a = h.cmd(Command::ReapContainers {
                paths: vec!["/c".into()],
            });
            assert_eq!(events(&a), vec![(s, NodeDeleted, "/c".into())]);
        }),
        ("reaping_a_non_container_changes_nothing", || {
            let mut h = H::new();
            h.put("/p", b"");
            h.cmd(Command::ReapContainers {
                paths: vec!["/p".into(), "/missing".into()],
            });
            assert!(h.exists("/p"));
        }),
        ("ttl_owner_encodes_the_ttl", || {
            let mut h = H::new();
            h.ttl("/t", PersistentWithTtl, Some(5000)).unwrap();
            let o = h.stat("/t").ephemeral_owner;
            assert_eq!(o as u64, 0xff00_0000_0000_1388);
            assert_eq!(EphemeralType::of(o), EphemeralType::Ttl);
        }),
        ("ttl_mode_without_ttl_is_bad_arguments", || {
            let mut h = H::new();
            assert_eq!(h.ttl("/t", PersistentWithTtl, None), Err(E::BadArguments));
        }),
        ("ttl_on_a_non_ttl_mode_is_bad_arguments", || {
            let mut h = H::new();
            assert_eq!(h.ttl("/t", Persistent, Some(100)), Err(E::BadArguments));
            assert_eq!(h.ttl("/t", Ephemeral, Some(100)), Err(E::BadArguments));
        }),
        ("absurd_ttls_are_bad_arguments", || {
            let mut h = H::new();
            for ttl in [0, -1, i64::MIN, TTL_MS_MAX + 1, i64::MAX] {
                assert_eq!(
                    h.ttl("/t", PersistentWithTtl, Some(ttl)),
                    Err(E::BadArguments),
                    "ttl {ttl}"
                );
            }
            assert!(h.ttl("/t", PersistentWithTtl, Some(TTL_MS_MAX)).is_ok());
        }),
        ("ttl_node_is_not_reaped_before_its_ttl", || {
            let mut h = H::new();
            h.ttl("/t", PersistentWithTtl, Some(1000)).unwrap();
            assert!(h.t.data().ttl_to_reap(h.now + 1000).is_empty());
            h.cmd(Command::ReapTtl {
                paths: vec!["/t".into()],
            });
            assert!(h.exists("/t"));
        }),
        ("ttl_node_is_reaped_after_its_ttl", || {
            let mut h = H::new();
            h.ttl("/t", PersistentWithTtl, Some(1000)).unwrap();
            h.now += 1001;
            assert_eq!(h.t.data().ttl_to_reap(h.now + 10), vec!["/t".to_string()]);
            h.cmd(Command::ReapTtl {
                paths: vec!["/t".into()],
            });
            assert!(!h.exists("/t"));
        }),
        ("ttl_node_with_children_is_not_reaped", || {
            let mut h = H::new();
            h.ttl("/t", PersistentWithTtl, Some(10)).unwrap();
            h.put("/t/c", b"");
            h.now += 1000;
            assert!(h.t.data().ttl_to_reap(h.now).is_empty());
            h.cmd(Command::ReapTtl {
                paths: vec!["/t".into()],
            });
            assert!(h.exists("/t"));
        }),
        ("stale_ttl_reap_after_set_data_changes_nothing", || {
            let mut h = H::new();
            h.ttl("/t", PersistentWithTtl, Some(1000)).unwrap();
            h.now += 2000;
            let c = h.t.data().ttl_to_reap(h.now);
            assert_eq!(c.len(), 1);
            h.set("/t", b"fresh", -1).unwrap();
            h.cmd(Command::ReapTtl { paths: c });
            assert!(h.exists("/t"));
        }),
    ]
}

fn multi_cases() -> Vec<Case> {
    fn mc(path: &str) -> MultiOp {
        MultiOp::Create(CreateRequest {
            path: path.into(),
            data: vec![],
            acl: Acl::open_unsafe(),
            mode: Persistent,
            ttl_ms: None,
        })
    }
    vec![
        ("multi_success_returns_a_result_per_op", || {
            let mut h = H::new();
            h.put("/d", b"");
            h.put("/s", b"");
            let a = h.req(Request::Multi(vec![
                mc("/a"),
                MultiOp::Delete {
                    path: "/d".into(),
                    version: 0,
                },
                MultiOp::SetData {
                    path: "/s".into(),
                    data: b"x".to_vec(),
                    version: 0,
                },
                MultiOp::Check {
                    path: "/s".into(),
                    version: 1,
                },
            ]));
            let Ok(Response::Multi { results }) = a.result else {
                panic!()
            };
            assert_eq!(
                results[0],
                MultiOpResult::Create {
                    path: "/a".into(),
                    stat: h.stat("/a")
                }
            );
            assert_eq!(results[1], MultiOpResult::Delete);
            assert_eq!(results[2], MultiOpResult::SetData { stat: h.stat("/s") });
            assert_eq!(results[3], MultiOpResult::Check);
        }),
        (
            "failed_multi_reports_ok_then_the_error_then_runtime_inconsistency",
            || {
                let mut h = H::new();
                let a = h.req(Request::Multi(vec![
                    mc("/a"),
                    mc("/b"),
                    mc("/x/y"),
                    mc("/c"),
                ]));
                let Ok(Response::Multi { results }) = a.result else {
                    panic!()
                };
                use MultiOpResult::Error as R;
                assert_eq!(
                    results,
                    vec![R(E::Ok), R(E::Ok), R(E::NoNode), R(E::RuntimeInconsistency)]
                );
            },
        ),
        ("failed_multi_applies_nothing_and_fires_nothing", || {
            let mut h = H::new();
            h.put("/w", b"");
            let s = h.s;
            h.watch_children(s, "/");
            fails_unchanged(&mut h, E::Ok, |h| {
                h.req(Request::Multi(vec![
                    mc("/a"),
                    MultiOp::Check {
                        path: "/w".into(),
                        version: 9,
                    },
                ]))
            });
            assert!(!h.exists("/a"));
        }),
        ("multi_error_names_the_failing_code", || {
            let mut h = H::new();
            let a = h.req(Request::Multi(vec![mc("/a"), mc("/a")]));
            assert_eq!(a.result.unwrap().multi_error(), Some(E::NodeExists));
        }),
        ("multi_ops_see_the_effects_of_earlier_ops", || {
            let mut h = H::new();
            let a = h.req(Request::Multi(vec![
                mc("/a"),
                MultiOp::SetData {
                    path: "/a".into(),
                    data: b"v".to_vec(),
                    version: 0,
                },
                mc("/a/b"),
            ]));
            assert_eq!(a.result.unwrap().multi_error(), None);
            assert_eq!(h.stat("/a").version, 1);
            assert!(h.exists("/a/b"));
        }),
        ("all_ops_of_a_multi_share_its_zxid", || {
            let mut h = H::new();
            h.req(Request::Multi(vec![mc("/a"), mc("/b")]));
            assert_eq!(h.stat("/a").czxid, h.zxid);
            assert_eq!(h.stat("/b").czxid, h.zxid);
        }),
        ("multi_check_of_missing_node_is_no_node", || {
            let mut h = H::new();
            let a = h.req(Request::Multi(vec![MultiOp::Check {
                path: "/none".into(),
                version: -1,
            }]));
            assert_eq!(a.result.unwrap().multi_error(), Some(E::NoNode));
        }),
        ("empty_multi_succeeds_with_no_results", || {
            let mut h = H::new();
            assert_eq!(
                h.req(Request::Multi(vec![])).result.unwrap(),
                Response::Multi { results: vec![] }
            );
        }),
        (
            "sequential_creates_in_one_multi_get_successive_numbers",
            || {
                let mut h = H::new();
                h.put("/q", b"");
                let seq = || {
                    MultiOp::Create(CreateRequest {
                        path: "/q/n".into(),
                        data: vec![],
                        acl: Acl::open_unsafe(),
                        mode: PersistentSequential,
                        ttl_ms: None,
                    })
                };
                let a = h.req(Request::Multi(vec![seq(), seq()]));
                let Ok(Response::Multi { results }) = a.result else {
                    panic!()
                };
                assert!(
                    matches!(&results[0], MultiOpResult::Create { path, .. } if path == "/q/n0000000000")
                );
                assert!(
                    matches!(&results[1], MultiOpResult::Create { path, .. } if path == "/q/n0000000001")
                );
            },
        ),
        ("multi_events_come_in_op_order", || {
            let mut h = H::new();
            let s = h.s;
            h.add_watch(s, "/", AddWatchMode::PersistentRecursive);
            let a = h.req(Request::Multi(vec![mc("/b"), mc("/a")]));
            assert_eq!(
                events(&a),
                vec![(s, NodeCreated, "/b".into()), (s, NodeCreated, "/a".into())]
            );
        }),
        ("multi_read_answers_each_op_independently", || {
            let mut h = H::new();
            let st = h.put("/a", b"v");
            let r = h.read(Request::MultiRead(vec![
                ReadOp::GetData {
                    path: "/none".into(),
                },
                ReadOp::GetData { path: "/a".into() },
                ReadOp::GetChildren { path: "/".into() },
            ]));
            assert_eq!(
                r.unwrap(),
                Response::MultiRead {
                    results: vec![
                        ReadOpResult::Error(E::NoNode),
                        ReadOpResult::GetData {
                            data: b"v".to_vec(),
                            stat: st
                        },
                        ReadOpResult::GetChildren {
                            children: vec!["a".into()]
                        },
                    ]
                }
            );
        }),
        ("multi_with_a_bad_path_fails_with_bad_arguments", || {
            let mut h = H::new();
            let a = h.req(Request::Multi(vec![mc("/ok"), mc("bad")]));
            assert_eq!(a.result.unwrap().multi_error(), Some(E::BadArguments));
            assert!(!h.exists("/ok"));
        }),
        ("multi_over_the_op_limit_is_bad_arguments", || {
            let mut h = H::with_limits(Limits {
                multi_ops_max: 2,
                ..Limits::default()
            });
            assert_eq!(
                code(&h.req(Request::Multi(vec![mc("/a"), mc("/b"), mc("/c")]))),
                E::BadArguments
            );
        }),
    ]
}

fn watch_cases() -> Vec<Case> {
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
            assert_eq!(a.notifications[0].event.zxid, h.zxid);
            let a = h.req(Request::SetData {
                path: "/a".into(),
                data: b"2".to_vec(),
                version: -1,
            });
            assert!(a.notifications.is_empty(), "one-shot watch fired twice");
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
                .notifications
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
                    .notifications
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
                        .notifications
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
                        .notifications
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
                    a.notifications
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
                .notifications
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
                    .notifications
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
                .notifications
                .is_empty()
            );
        }),
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
                .notifications
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
                .notifications
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
    ]
}

fn acl_cases() -> Vec<Case> {
    fn locked(h: &mut H, path: &str, perms: Perms) {
        let acl = vec![
            Acl::new(perms, Id::anyone()),
            Acl::new(Perms::ALL, Id::x509("admin")),
        ];
        let s = h.s;
        h.create_as(s, path, b"d", Persistent, None, acl).unwrap();
    }
    vec![
        ("create_needs_create_on_the_parent", || {
            let mut h = H::new();
            locked(&mut h, "/p", Perms(Perms::ALL.0 & !Perms::CREATE.0));
            fails_unchanged(&mut h, E::NoAuth, |h| h.req(create_req("/p/c", Persistent)));
        }),
        ("no_auth_is_checked_before_node_exists", || {
            let mut h = H::new();
            locked(&mut h, "/p", Perms::ALL);
            h.put("/p/c", b"");
            let s = h.s;
            h.req(Request::SetAcl {
                path: "/p".into(),
                acl: vec![Acl::new(Perms::READ, Id::anyone())],
                aversion: -1,
            });
            let a = h.req_as(s, create_req("/p/c", Persistent));
            assert_eq!(code(&a), E::NoAuth);
        }),
        ("delete_needs_delete_on_the_parent_not_the_node", || {
            let mut h = H::new();
            locked(&mut h, "/p", Perms(Perms::ALL.0 & !Perms::DELETE.0));
            h.put("/p/c", b"");
            fails_unchanged(&mut h, E::NoAuth, |h| {
                h.req(Request::Delete {
                    path: "/p/c".into(),
                    version: -1,
                })
            });
            locked(&mut h, "/q", Perms::ALL);
            locked(&mut h, "/q/c", Perms::READ);
            h.del("/q/c", -1).unwrap();
        }),
        ("get_data_needs_read", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms::WRITE);
            assert_eq!(
                h.read(Request::GetData {
                    path: "/a".into(),
                    watch: false
                })
                .unwrap_err()
                .code,
                E::NoAuth
            );
        }),
        ("set_data_needs_write", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms::READ);
            fails_unchanged(&mut h, E::NoAuth, |h| {
                h.req(Request::SetData {
                    path: "/a".into(),
                    data: vec![],
                    version: -1,
                })
            });
        }),
        ("set_acl_needs_admin", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms(Perms::ALL.0 & !Perms::ADMIN.0));
            fails_unchanged(&mut h, E::NoAuth, |h| {
                h.req(Request::SetAcl {
                    path: "/a".into(),
                    acl: Acl::open_unsafe(),
                    aversion: -1,
                })
            });
        }),
        ("get_children_needs_read", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms::WRITE);
            let r = h.read(Request::GetChildren {
                path: "/a".into(),
                watch: true,
                with_stat: false,
            });
            assert_eq!(r.unwrap_err().code, E::NoAuth);
            assert!(h.t.watches().is_empty());
        }),
        ("exists_needs_no_permission", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms(0));
            assert!(matches!(
                h.read(Request::Exists {
                    path: "/a".into(),
                    watch: false
                })
                .unwrap(),
                Response::Exists { stat: Some(_) }
            ));
        }),
        ("get_acl_needs_read_or_admin", || {
            let mut h = H::new();
            locked(&mut h, "/n", Perms::WRITE);
            assert_eq!(
                h.read(Request::GetAcl { path: "/n".into() })
                    .unwrap_err()
                    .code,
                E::NoAuth
            );
            locked(&mut h, "/a", Perms::ADMIN);
            assert!(h.read(Request::GetAcl { path: "/a".into() }).is_ok());
            locked(&mut h, "/r", Perms::READ);
            assert!(h.read(Request::GetAcl { path: "/r".into() }).is_ok());
        }),
        ("get_acl_without_admin_redacts_digests", || {
            let mut h = H::new();
            let d = Id::digest("bob:pw");
            let acl = vec![
                Acl::new(Perms::READ, Id::anyone()),
                Acl::new(Perms::ALL, d.clone()),
            ];
            let s = h.s;
            h.create_as(s, "/a", b"", Persistent, None, acl).unwrap();
            let Ok(Response::GetAcl { acl, .. }) = h.read(Request::GetAcl { path: "/a".into() })
            else {
                panic!()
            };
            assert_eq!(acl[1].id, Id::new("digest", "bob:x"));
            h.req(Request::AddAuth {
                scheme: "digest".into(),
                auth: b"bob:pw".to_vec(),
            })
            .result
            .unwrap();
            let Ok(Response::GetAcl { acl, .. }) = h.read(Request::GetAcl { path: "/a".into() })
            else {
                panic!()
            };
            assert_eq!(acl[1].id, d);
        }),
        ("x509_identity_matches_an_x509_acl", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms(0));
            let admin = h.session(vec![Id::x509("admin")]);
            assert!(
                h.read_as(
                    admin,
                    Request::GetData {
                        path: "/a".into(),
                        watch: false
                    }
                )
                .is_ok()
            );
            assert_eq!(
                h.read(Request::GetData {
                    path: "/a".into(),
                    watch: false
                })
                .unwrap_err()
                .code,
                E::NoAuth
            );
        }),
        ("digest_identity_from_add_auth_matches_a_digest_acl", || {
            let mut h = H::new();
            let s = h.s;
            h.create_as(
                s,
                "/a",
                b"",
                Persistent,
                None,
                vec![Acl::new(Perms::ALL, Id::digest("alice:secret"))],
            )
            .unwrap();
            assert_eq!(h.set("/a", b"x", -1), Err(E::NoAuth));
            h.req(Request::AddAuth {
                scheme: "digest".into(),
                auth: b"alice:wrong".to_vec(),
            });
            assert_eq!(h.set("/a", b"x", -1), Err(E::NoAuth));
            h.req(Request::AddAuth {
                scheme: "digest".into(),
                auth: b"alice:secret".to_vec(),
            });
            assert!(h.set("/a", b"x", -1).is_ok());
        }),
        ("add_auth_with_unknown_scheme_is_auth_failed", || {
            let mut h = H::new();
            assert_eq!(
                code(&h.req(Request::AddAuth {
                    scheme: "ip".into(),
                    auth: b"1.2.3.4".to_vec()
                })),
                E::AuthFailed
            );
        }),
        ("malformed_digest_acl_is_invalid_acl", || {
            let mut h = H::new();
            for id in ["nocolon", "user:", "a:b:c"] {
                let r = h.create_as(
                    h.s,
                    "/a",
                    b"",
                    Persistent,
                    None,
                    vec![Acl::new(Perms::ALL, Id::new("digest", id))],
                );
                assert_eq!(r.unwrap_err().code, E::InvalidAcl, "{id}");
            }
            assert!(!h.exists("/a"));
        }),
        ("unknown_acl_scheme_is_invalid_acl", || {
            let mut h = H::new();
            let r = h.create_as(
                h.s,
                "/a",
                b"",
                Persistent,
                None,
                vec![Acl::new(Perms::ALL, Id::new("kerberos", "x"))],
            );
            assert_eq!(r.unwrap_err().code, E::InvalidAcl);
        }),
        ("ip_acl_is_refused_as_invalid_acl", || {
            let mut h = H::new();
            let r = h.create_as(
                h.s,
                "/a",
                b"",
                Persistent,
                None,
                vec![Acl::new(Perms::ALL, Id::new("ip", "10.0.0.1"))],
            );
            assert_eq!(r.unwrap_err().code, E::InvalidAcl);
        }),
        ("world_with_an_id_other_than_anyone_is_invalid_acl", || {
            let mut h = H::new();
            let r = h.create_as(
                h.s,
                "/a",
                b"",
                Persistent,
                None,
                vec![Acl::new(Perms::ALL, Id::new("world", "someone"))],
            );
            assert_eq!(r.unwrap_err().code, E::InvalidAcl);
        }),
        ("empty_acl_is_invalid_acl", || {
            let mut h = H::new();
            let r = h.create_as(h.s, "/a", b"", Persistent, None, vec![]);
            let e = r.unwrap_err();
            assert_eq!(e.code, E::InvalidAcl);
            assert!(e.to_string().contains("/a"));
        }),
        ("auth_scheme_expands_to_the_callers_identities", || {
            let mut h = H::new();
            let me = h.session(vec![Id::x509("me")]);
            h.create_as(me, "/a", b"", Persistent, None, Acl::creator_all())
                .unwrap();
            assert_eq!(
                h.t.data().acl("/a").unwrap(),
                &[Acl::new(Perms::ALL, Id::x509("me"))]
            );
        }),
        ("auth_scheme_without_identities_is_invalid_acl", || {
            let mut h = H::new();
            let r = h.create_as(h.s, "/a", b"", Persistent, None, Acl::creator_all());
            assert_eq!(r.unwrap_err().code, E::InvalidAcl);
        }),
        ("duplicate_acl_entries_are_stored_once", || {
            let mut h = H::new();
            let acl = vec![
                Acl::new(Perms::ALL, Id::anyone()),
                Acl::new(Perms::ALL, Id::anyone()),
            ];
            h.create_as(h.s, "/a", b"", Persistent, None, acl).unwrap();
            assert_eq!(h.t.data().acl("/a").unwrap().len(), 1);
        }),
        (
            "set_acl_with_invalid_acl_is_invalid_acl_and_changes_nothing",
            || {
                let mut h = H::new();
                h.put("/a", b"");
                fails_unchanged(&mut h, E::InvalidAcl, |h| {
                    h.req(Request::SetAcl {
                        path: "/a".into(),
                        acl: vec![],
                        aversion: -1,
                    })
                });
            },
        ),
        ("check_in_multi_needs_read", || {
            let mut h = H::new();
            locked(&mut h, "/a", Perms::WRITE);
            let a = h.req(Request::Multi(vec![MultiOp::Check {
                path: "/a".into(),
                version: -1,
            }]));
            assert_eq!(a.result.unwrap().multi_error(), Some(E::NoAuth));
        }),
        ("revoked_acl_applies_to_the_next_request", || {
            let mut h = H::new();
            h.put("/a", b"");
            h.req(Request::SetAcl {
                path: "/a".into(),
                acl: Acl::read_unsafe(),
                aversion: -1,
            })
            .result
            .unwrap();
            assert_eq!(h.set("/a", b"x", -1), Err(E::NoAuth));
        }),
    ]
}

fn misc_cases() -> Vec<Case> {
    vec![
        ("read_view_is_unchanged_by_later_applies", || {
            let mut h = H::new();
            h.put("/a", b"1");
            let view = h.t.view();
            h.set("/a", b"2", -1).unwrap();
            h.put("/b", b"");
            assert_eq!(view.get("/a").unwrap().0, b"1");
            assert!(view.stat("/b").is_none());
        }),
        ("snapshot_restores_an_equal_tree", || {
            let mut h = H::new();
            h.put("/a", b"x");
            h.mk("/a/e", Ephemeral).unwrap();
            h.mk("/c", Container).unwrap();
            h.ttl("/t", PersistentWithTtl, Some(10)).unwrap();
            let snap = h.t.data().snapshot();
            assert_eq!(&DataTree::restore(&snap).unwrap(), h.t.data());
        }),
        ("restored_tree_keeps_applying_like_the_original", || {
            let mut h = H::new();
            h.put("/q", b"");
            h.mk("/q/n", PersistentSequential).unwrap();
            let mut copy = Tree::from_data(DataTree::restore(&h.t.data().snapshot()).unwrap());
            let e = Entry {
                zxid: h.zxid + 1,
                time_ms: h.now + 1,
                command: Command::Client {
                    session: h.s,
                    request: create_req("/q/n", PersistentSequential),
                },
            };
            assert_eq!(copy.apply(&e).result, h.t.apply(&e).result);
            assert_eq!(copy.data(), h.t.data());
        }),
        ("invariants_hold_after_a_mixed_workload", || {
            let mut h = H::new();
            h.put("/a", b"");
            h.mk("/a/e", Ephemeral).unwrap();
            h.mk("/c", Container).unwrap();
            h.put("/c/x", b"");
            h.del("/c/x", -1).unwrap();
            h.cmd(Command::ReapContainers {
                paths: vec!["/c".into()],
            });
            h.req(Request::Close);
            h.t.check_invariants().unwrap();
        }),
        ("noop_entry_changes_nothing_but_the_zxid", || {
            let mut h = H::new();
            let before = h.fingerprint();
            assert_eq!(h.cmd(Command::Noop).result.unwrap(), Response::Noop);
            assert_eq!(h.fingerprint(), before);
            assert_eq!(h.t.data().last_zxid(), h.zxid);
        }),
        ("write_request_served_as_a_read_is_refused", || {
            let mut h = H::new();
            assert_eq!(
                h.read(create_req("/a", Persistent)).unwrap_err().code,
                E::ApiError
            );
            assert!(!h.exists("/a"));
        }),
    ]
}

#[test]
fn zookeeper_conformance_table() {
    let cases: Vec<Case> = [
        path_cases(),
        stat_cases(),
        version_cases(),
        sequential_cases(),
        ephemeral_cases(),
        container_ttl_cases(),
        multi_cases(),
        watch_cases(),
        acl_cases(),
        misc_cases(),
    ]
    .concat();
    let mut names = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for (name, case) in &cases {
        assert!(names.insert(*name), "duplicate case name {name}");
        if std::panic::catch_unwind(*case).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} ZooKeeper behaviours failed: {failed:#?}",
        failed.len(),
        cases.len()
    );
    assert!(cases.len() >= 120, "only {} cases", cases.len());
    println!("{} ZooKeeper behaviours hold", cases.len());
}
