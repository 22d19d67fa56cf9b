//! Proves watch delivery over real QUIC on a 3-node in-process cluster:
//! one-shot data, exist and child watches and persistent-recursive watches
//! fire for changes made through another node; an event reaches its session
//! before any reply that reflects a later zxid (repeated many times); a
//! session that reconnects to another node with SetWatches receives, in
//! order, every event its persistent watch missed; a gap older than the
//! node's history is reported as ResyncNeeded; a session cannot hold more
//! watches than its limit; linearizable reads (ReadIndex) through a follower see
//! every write acknowledged before them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_core::tree::{
    AddWatchMode, ErrorCode, EventType, Request, Response, WatchedEvent, WatchesToRestore,
};
use corral_transport::wire::{ClientMessage, ServerMessage};
use support::*;

fn event(msg: ServerMessage) -> WatchedEvent {
    match msg {
        ServerMessage::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn set(path: &str, data: &[u8]) -> Request {
    Request::SetData {
        path: path.into(),
        data: data.to_vec(),
        version: -1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watches_fire_in_order_and_resume_on_another_node() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(150), async {
        let TestCluster {
            root,
            pki,
            specs,
            nodes,
            leader,
        } = start_cluster("watches", 3, |spec| {
            spec.watch_history_changes = 200;
            spec.watches_per_session_max = 50;
        })
        .await;
        let others: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
        let addr = |id: u64| specs[id as usize - 1].listen;

        let mut w = Client::connect(&pki, addr(others[0])).await;
        let mut x = Client::connect(&pki, addr(leader)).await;
        for p in ["/a", "/b", "/r", "/p"] {
            let (_, r) = x.create(p, b"0").await;
            assert!(r.is_ok(), "{r:?}");
        }
        let (_, r) = w.call(Request::Sync { path: "/".into() }).await;
        assert!(r.is_ok(), "{r:?}");

        // One-shot watches of every kind, set by reads through a follower.
        let (_, r) = w
            .call(Request::GetData {
                path: "/a".into(),
                watch: true,
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        let (_, r) = w
            .call(Request::Exists {
                path: "/new".into(),
                watch: true,
            })
            .await;
        assert_eq!(r, Ok(Response::Exists { stat: None }));
        let (_, r) = w
            .call(Request::GetChildren {
                path: "/p".into(),
                watch: true,
                with_stat: false,
            })
            .await;
        assert!(r.is_ok(), "{r:?}");
        let (_, r) = w
            .call(Request::AddWatch {
                path: "/r".into(),
                mode: AddWatchMode::PersistentRecursive,
            })
            .await;
        assert_eq!(r, Ok(Response::AddWatch));

        let (za, _) = x.call(set("/a", b"1")).await;
        let (zn, _) = x.create("/new", b"").await;
        let (zc, _) = x.create("/p/kid", b"").await;
        let (zr, _) = x.create("/r/deep", b"").await;
        let got: Vec<WatchedEvent> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(event(w.next_event().await));
            }
            v
        };
        let want = [
            (EventType::NodeDataChanged, "/a", za),
            (EventType::NodeCreated, "/new", zn),
            (EventType::NodeChildrenChanged, "/p", zc),
            (EventType::NodeCreated, "/r/deep", zr),
        ];
        for (g, (t, p, z)) in got.iter().zip(want) {
            assert_eq!((g.event_type, g.path.as_str(), g.zxid), (t, p, z));
        }
        // One-shot watches are gone: a second change fires nothing but the recursive watch.
        assert!(x.call(set("/a", b"2")).await.1.is_ok());
        let (zr2, _) = x.call(set("/r/deep", b"2")).await;
        let e = event(w.next_event().await);
        assert_eq!((e.path.as_str(), e.zxid), ("/r/deep", zr2));

        // Ordering, many times: once w reads /b's new value, /a's event is already there.
        for round in 0..40 {
            let (_, r) = w
                .call(Request::GetData {
                    path: "/a".into(),
                    watch: true,
                })
                .await;
            assert!(r.is_ok(), "{r:?}");
            w.transcript.clear();
            let value = format!("v{round}").into_bytes();
            let (zxa, _) = x.call(set("/a", &value)).await;
            let (zxb, _) = x.call(set("/b", &value)).await;
            loop {
                let (zxid, r) = w
                    .call(Request::GetData {
                        path: "/b".into(),
                        watch: false,
                    })
                    .await;
                let Ok(Response::GetData { data, .. }) = r else {
                    panic!("{r:?}");
                };
                if data == value {
                    assert!(zxid >= zxb);
                    let before_reply = &w.transcript[..w.transcript.len() - 1];
                    assert!(
                        before_reply.iter().any(|m| matches!(m,
                            ServerMessage::Event(e) if e.path == "/a" && e.zxid == zxa)),
                        "round {round}: /b read at {zxid} before /a's event ({zxa}): {:?}",
                        w.transcript
                    );
                    break;
                }
            }
            let e = event(w.next_event().await);
            assert_eq!((e.path.as_str(), e.zxid), ("/a", zxa));
        }

        // Resume on the other follower: the persistent watch replays what it missed.
        let seen = w.last_zxid;
        let session = (w.session, w.secret, seen);
        drop(w);
        let (z1, _) = x.create("/r/one", b"").await;
        let (z2, _) = x.call(set("/r/one", b"x")).await;
        let (z3, _) = x
            .call(Request::Delete {
                path: "/r/deep".into(),
                version: -1,
            })
            .await;
        assert!(x.call(set("/a", b"unwatched")).await.1.is_ok());
        let mut w2 = Client::resume(&pki, addr(others[1]), session)
            .await
            .unwrap();
        w2.send(ClientMessage::SetWatches(WatchesToRestore {
            relative_zxid: seen,
            persistent_recursive: vec!["/r".into()],
            ..Default::default()
        }))
        .await;
        let mut replayed = Vec::new();
        for _ in 0..3 {
            let e = event(w2.next_event().await);
            replayed.push((e.event_type, e.path, e.zxid));
        }
        assert_eq!(
            replayed,
            vec![
                (EventType::NodeCreated, "/r/one".to_string(), z1),
                (EventType::NodeDataChanged, "/r/one".to_string(), z2),
                (EventType::NodeDeleted, "/r/deep".to_string(), z3),
            ]
        );
        // And live events follow.
        let (z4, _) = x.create("/r/two", b"").await;
        let e = event(w2.next_event().await);
        assert_eq!((e.path.as_str(), e.zxid), ("/r/two", z4));

        // A gap older than the history (200 changes) gets ResyncNeeded.
        let old = (w2.session, w2.secret, w2.last_zxid);
        drop(w2);
        for i in 0..210 {
            assert!(
                x.call(set("/r/one", format!("{i}").as_bytes()))
                    .await
                    .1
                    .is_ok()
            );
        }
        let mut w3 = Client::resume(&pki, addr(others[0]), old).await.unwrap();
        w3.send(ClientMessage::SetWatches(WatchesToRestore {
            relative_zxid: old.2,
            persistent_recursive: vec!["/r".into()],
            ..Default::default()
        }))
        .await;
        match w3.next_event().await {
            ServerMessage::ResyncNeeded {
                path,
                last_zxid_seen,
                oldest_zxid,
            } => {
                assert_eq!(path, "/r");
                assert_eq!(last_zxid_seen, old.2);
                assert!(oldest_zxid > old.2 + 1);
            }
            other => panic!("expected ResyncNeeded, got {other:?}"),
        }

        // The per-session watch limit (50 here) refuses the 51st watch.
        for i in 0..49 {
            let (_, r) = w3
                .call(Request::Exists {
                    path: format!("/missing-{i}"),
                    watch: true,
                })
                .await;
            assert!(r.is_ok(), "watch {i}: {r:?}");
        }
        let (_, r) = w3
            .call(Request::Exists {
                path: "/one-too-many".into(),
                watch: true,
            })
            .await;
        let e = r.unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArguments);
        assert!(e.to_string().contains("watches_per_session_max"), "{e}");

        // Linearizable reads through a follower see every write acknowledged before them.
        let (_, r) = x.create("/lin", b"").await;
        assert!(r.is_ok(), "{r:?}");
        for i in 0..30 {
            let value = format!("{i}").into_bytes();
            let (zw, r) = x.call(set("/lin", &value)).await;
            assert!(r.is_ok(), "{r:?}");
            let xid = 10_000 + i;
            w3.send(ClientMessage::ReadLinearizable {
                xid,
                request: Request::GetData {
                    path: "/lin".into(),
                    watch: false,
                },
            })
            .await;
            let reply = loop {
                match w3.receive_any().await {
                    ServerMessage::Reply {
                        xid: got,
                        zxid,
                        result,
                    } => {
                        assert_eq!(got, xid);
                        break (zxid, result);
                    }
                    _ => continue,
                }
            };
            assert!(
                reply.0 >= zw,
                "read at {} before the write at {zw}",
                reply.0
            );
            match reply.1 {
                Ok(Response::GetData { data, .. }) => assert_eq!(data, value),
                other => panic!("{other:?}"),
            }
        }
        w3.send(ClientMessage::ReadLinearizable {
            xid: 20_000,
            request: set("/lin", b"no"),
        })
        .await;
        loop {
            if let ServerMessage::Reply { xid, result, .. } = w3.receive_any().await {
                assert_eq!(xid, 20_000);
                assert_eq!(result.unwrap_err().code, ErrorCode::BadArguments);
                break;
            }
        }

        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
        drop(root);
    })
    .await
    .expect("test timed out");
}

/// Each watched znode has its own ZnodeActor, and they fan out at their own
/// pace: a session watching many znodes still gets every event in zxid order,
/// the events of one multi in the order of its ops, and all of them before
/// the reply of a read that reflects them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_of_many_watched_znodes_keep_zxid_and_op_order() {
    use corral_core::tree::MultiOp;
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let TestCluster {
            root,
            pki,
            specs,
            nodes,
            leader,
        } = start_cluster("fanorder", 3, |_| {}).await;
        let follower = (1..=3).find(|&i| i != leader).unwrap();
        let addr = |id: u64| specs[id as usize - 1].listen;
        let mut w = Client::connect(&pki, addr(follower)).await;
        let mut x = Client::connect(&pki, addr(leader)).await;
        const ZNODES: usize = 12;
        const ROUNDS: usize = 15;
        let paths: Vec<String> = (0..ZNODES).map(|i| format!("/k{i:02}")).collect();
        for p in &paths {
            assert!(x.create(p, b"").await.1.is_ok());
        }
        assert!(w.call(Request::Sync { path: "/".into() }).await.1.is_ok());
        for p in &paths {
            let (_, r) = w
                .call(Request::AddWatch {
                    path: p.clone(),
                    mode: AddWatchMode::Persistent,
                })
                .await;
            assert_eq!(r, Ok(Response::AddWatch));
        }
        let mut want: Vec<(String, i64)> = Vec::new();
        for round in 0..ROUNDS {
            // One multi over every znode, in an order that differs by round.
            let mut order: Vec<&String> = paths.iter().collect();
            order.rotate_left(round % ZNODES);
            if round % 2 == 1 {
                order.reverse();
            }
            let ops = order
                .iter()
                .map(|p| MultiOp::SetData {
                    path: (*p).clone(),
                    data: vec![round as u8],
                    version: -1,
                })
                .collect();
            let (zm, r) = x.call(Request::Multi(ops)).await;
            assert!(r.is_ok(), "{r:?}");
            want.extend(order.iter().map(|p| ((*p).clone(), zm)));
            // Then one write per znode, in that order too.
            for p in order {
                let (z, r) = x.call(set(p, &[round as u8, 1])).await;
                assert!(r.is_ok(), "{r:?}");
                want.push((p.clone(), z));
            }
        }
        let last = want.last().unwrap().1;
        // A read that reflects the last write: every event is before its reply.
        loop {
            let (zxid, r) = w
                .call(Request::GetData {
                    path: want.last().unwrap().0.clone(),
                    watch: false,
                })
                .await;
            assert!(r.is_ok(), "{r:?}");
            if zxid >= last {
                break;
            }
        }
        let got: Vec<(String, i64)> = w
            .transcript
            .iter()
            .filter_map(|m| match m {
                ServerMessage::Event(e) => Some((e.path.clone(), e.zxid)),
                _ => None,
            })
            .collect();
        assert_eq!(
            got.len(),
            want.len(),
            "every event arrived before the read's reply"
        );
        assert_eq!(got, want, "zxid order, and a multi's events in op order");

        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
        drop(root);
    })
    .await
    .expect("test timed out");
}
