//! Containers and TTL nodes: their encoding and when they are reaped.

use super::*;

pub(super) fn container_ttl_cases() -> Vec<Case> {
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
