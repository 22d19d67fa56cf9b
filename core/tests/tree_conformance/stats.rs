//! Stat fields after every operation, and version checks.

use super::*;

pub(super) fn stat_cases() -> Vec<Case> {
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

pub(super) fn version_cases() -> Vec<Case> {
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
