//! Proves corral's tree behaves as ZooKeeper 3.9 does, one named behaviour per case.
//!
//! Each case sets up a tree through committed entries and asserts what ZooKeeper's
//! PrepRequestProcessor / DataTree / WatchManager would answer. The runner executes all
//! cases and names every one that failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tree_support/mod.rs"]
mod tree_support;

mod acls;
mod lifecycle;
mod multi;
mod paths;
mod reaping;
mod stats;
mod watches;

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
    assert!(a.notifications().is_empty());
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
        ("long_paths_work_like_short_ones", || {
            let mut h = H::new();
            let parent = "/a-parent-name-well-beyond-any-inline-limit";
            let child = format!("{parent}/and-a-child-name-that-is-long-too");
            h.put(parent, b"p");
            h.put(&child, b"c");
            let seq = h
                .mk(&format!("{parent}/sequential-child-"), PersistentSequential)
                .unwrap();
            assert_eq!(seq, format!("{parent}/sequential-child-0000000001"));
            assert_eq!(h.t.data().children(parent).len(), 2);
            assert_eq!(h.stat(parent).num_children, 2);
            h.del(&child, -1).unwrap();
            h.del(&seq, -1).unwrap();
            h.del(parent, -1).unwrap();
            assert_eq!(h.t.data().node_count(), 1);
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
        paths::path_cases(),
        stats::stat_cases(),
        stats::version_cases(),
        lifecycle::sequential_cases(),
        lifecycle::ephemeral_cases(),
        reaping::container_ttl_cases(),
        multi::multi_cases(),
        watches::watch_cases(),
        acls::acl_cases(),
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
