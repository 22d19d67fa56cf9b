//! multi atomicity and results, and multiRead.

use super::*;

pub(super) fn multi_cases() -> Vec<Case> {
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
