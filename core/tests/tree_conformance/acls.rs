//! ACL checks, schemes and InvalidACL.

use super::*;

pub(super) fn acl_cases() -> Vec<Case> {
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
