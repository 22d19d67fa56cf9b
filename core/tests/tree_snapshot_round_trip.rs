//! Proves snapshots are exact and tamper-evident: restore(snapshot(t)) == t for random
//! trees, replicas that applied the same entries write byte-identical snapshots, and any
//! single flipped byte (every position of a small snapshot, a spread sample of a large
//! one) or a truncation is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use corral_core::tree::*;
use proptest::prelude::*;

/// Entries that build a tree with every kind of node, data sizes, ACLs and sessions.
fn build(seed_ops: &[(u8, u8, u8)]) -> Tree {
    let mut t = Tree::new(Limits::default());
    let mut zxid = 0;
    let mut apply = |t: &mut Tree, command| {
        zxid += 1;
        t.apply(&Entry {
            zxid,
            time_ms: 5_000 + zxid * 3,
            command,
        })
    };
    let mut sessions = Vec::new();
    for k in 0..3u8 {
        let ids = if k == 1 {
            vec![Id::x509("carol")]
        } else {
            vec![]
        };
        let c = Command::CreateSession {
            timeout_ms: 30_000,
            secret: [k; 16],
            identities: ids,
        };
        if let Ok(Response::SessionCreated { session, .. }) = apply(&mut t, c).result {
            sessions.push(session);
        }
    }
    for &(kind, a, b) in seed_ops {
        let session = sessions[a as usize % sessions.len()];
        let parent = ["/", "/p", "/p/q", "/c"][b as usize % 4];
        let name = format!("{}/n{}", if parent == "/" { "" } else { parent }, a % 7);
        let request = match kind % 6 {
            0 | 1 => {
                let mode = [
                    CreateMode::Persistent,
                    CreateMode::Ephemeral,
                    CreateMode::PersistentSequential,
                    CreateMode::Container,
                    CreateMode::PersistentWithTtl,
                ][b as usize % 5];
                let ttl_ms = mode.is_ttl().then_some(1000 + i64::from(a));
                let acl = if a % 3 == 0 {
                    vec![
                        Acl::new(Perms::ALL, Id::x509("carol")),
                        Acl::new(Perms::READ, Id::digest("u:p")),
                    ]
                } else {
                    Acl::open_unsafe()
                };
                Request::Create(CreateRequest {
                    path: name,
                    data: vec![a; b as usize],
                    acl,
                    mode,
                    ttl_ms,
                })
            }
            2 => Request::SetData {
                path: name,
                data: vec![b; a as usize % 40],
                version: -1,
            },
            3 => Request::Delete {
                path: name,
                version: -1,
            },
            4 => Request::Create(CreateRequest {
                path: parent.into(),
                data: vec![],
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl_ms: None,
            }),
            _ => Request::SetAcl {
                path: name,
                acl: Acl::read_unsafe(),
                aversion: -1,
            },
        };
        apply(&mut t, Command::Client { session, request });
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn restore_of_a_snapshot_equals_the_tree(ops in prop::collection::vec(any::<(u8, u8, u8)>(), 0..120)) {
        let t = build(&ops);
        let bytes = t.data().snapshot();
        let back = DataTree::restore(&bytes).unwrap();
        prop_assert_eq!(&back, t.data());
        prop_assert_eq!(back.snapshot(), bytes, "snapshot of the restored tree differs");
    }
}

#[test]
fn replicas_applying_the_same_entries_write_identical_snapshots() {
    let ops: Vec<(u8, u8, u8)> = (0..300u32)
        .map(|i| ((i * 7) as u8, (i * 13) as u8, (i * 31) as u8))
        .collect();
    assert_eq!(build(&ops).data().snapshot(), build(&ops).data().snapshot());
}

#[test]
fn every_single_flipped_byte_of_a_small_snapshot_is_detected() {
    let ops: Vec<(u8, u8, u8)> = (0..12u32)
        .map(|i| ((i * 5) as u8, (i * 3) as u8, i as u8))
        .collect();
    let bytes = build(&ops).data().snapshot();
    assert!(
        bytes.len() > 100,
        "snapshot too small to be a meaningful test: {}",
        bytes.len()
    );
    for pos in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[pos] ^= flip;
            assert!(
                DataTree::restore(&bad).is_err(),
                "flip {flip:#x} at byte {pos} of {} went unnoticed",
                bytes.len()
            );
        }
    }
}

#[test]
fn flipped_bytes_spread_over_a_large_snapshot_are_detected() {
    let ops: Vec<(u8, u8, u8)> = (0..3000u32)
        .map(|i| ((i * 7) as u8, (i * 11) as u8, (i * 17) as u8))
        .collect();
    let mut t = build(&ops);
    let session = t.data().sessions().next().unwrap().id;
    let first = t.data().last_zxid() + 1;
    for i in 0..2000usize {
        let zxid = first + i as i64;
        let path = if i == 0 {
            "/big".to_string()
        } else {
            format!("/big/n{i}")
        };
        let request = Request::Create(CreateRequest {
            path,
            data: vec![i as u8; i % 300],
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl_ms: None,
        });
        t.apply(&Entry {
            zxid,
            time_ms: zxid,
            command: Command::Client { session, request },
        })
        .result
        .unwrap();
    }
    assert!(
        t.data().node_count() > 2000,
        "only {} nodes",
        t.data().node_count()
    );
    let bytes = t.data().snapshot();
    let step = (bytes.len() / 997).max(1);
    for pos in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x10;
        assert!(
            matches!(
                DataTree::restore(&bad),
                Err(SnapshotError::Checksum { .. } | SnapshotError::NotASnapshot)
            ),
            "byte {pos}"
        );
    }
}

#[test]
fn truncated_or_foreign_bytes_are_refused() {
    let bytes = build(&[(0, 1, 2), (1, 2, 3)]).data().snapshot();
    for len in [0, 4, 11, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            DataTree::restore(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    assert_eq!(
        DataTree::restore(b"definitely not a snapshot"),
        Err(SnapshotError::NotASnapshot)
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(DataTree::restore(&longer).is_err());
}

#[test]
fn snapshot_is_taken_at_the_exact_zxid_of_its_view() {
    let mut t = build(&[(0, 1, 2)]);
    let view = t.view();
    let zxid = view.last_zxid();
    let s = t
        .data()
        .session(t.data().sessions().next().unwrap().id)
        .unwrap()
        .id;
    t.apply(&Entry {
        zxid: zxid + 1,
        time_ms: 1,
        command: Command::Client {
            session: s,
            request: Request::Create(CreateRequest {
                path: "/later".into(),
                data: vec![],
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
                ttl_ms: None,
            }),
        },
    });
    let restored = DataTree::restore(&view.snapshot()).unwrap();
    assert_eq!(restored.last_zxid(), zxid);
    assert!(restored.stat("/later").is_none());
    assert!(t.data().stat("/later").is_some());
}
