//! Path validation: every rule of ZooKeeper's `PathUtils.validatePath`.

use super::*;

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

pub(super) fn path_cases() -> Vec<Case> {
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
