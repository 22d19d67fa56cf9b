//! Proves the session layer at scale on one node of a 3-node in-process
//! cluster: 10,000 sessions (over 50 QUIC links) each watch one znode and are
//! each told exactly once when it changes; and a session that sends requests
//! without reading its replies is held back by backpressure (its sends stop
//! completing) instead of being buffered without bound, and every request is
//! answered in order once it reads again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use corral_certs::{CertPaths, CertStore};
use corral_core::tree::{ErrorCode, EventType, Request, Response};
use corral_transport::wire::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ServerMessage,
};
use corral_transport::{
    Endpoint, FrameReader, FrameWriter, Link, LinkConfig, STREAMS_BIDI_MAX_DEFAULT,
    streams_open_max,
};
use support::*;

const SESSIONS: usize = 10_000;
/// 200 sessions a link: a node re-announces stream credit only once more
/// than an eighth of its 256 streams have closed, so a link that holds more
/// than 223 open may never get a stream back after a few refused opens.
const LINKS: usize = 50;
const _: () = assert!(SESSIONS / LINKS <= streams_open_max(STREAMS_BIDI_MAX_DEFAULT) as usize);

/// How long one step of opening a session may take: a forwarded
/// CreateSession is answered within the replica's request timeout (10 s).
const STEP: Duration = Duration::from_secs(30);

async fn links(pki: &Path, addr: SocketAddr, n: usize) -> (Endpoint, Vec<Link>) {
    let store = CertStore::load(CertPaths::client(pki, "alice")).unwrap();
    let config = LinkConfig {
        cert_reload_poll_ms: 0,
        ..LinkConfig::default()
    };
    let endpoint = Endpoint::client("127.0.0.1:0".parse().unwrap(), store, config).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let link = tokio::time::timeout(STEP, endpoint.connect_client(addr, "127.0.0.1"))
            .await
            .unwrap_or_else(|_| panic!("link {i}: no handshake within {STEP:?}"))
            .unwrap_or_else(|e| panic!("link {i}: {e}"));
        out.push(link);
    }
    (endpoint, out)
}

/// Reads the next message within [`STEP`], naming `what` if none comes.
async fn read_within(r: &mut FrameReader, what: &str) -> Option<ServerMessage> {
    match tokio::time::timeout(STEP, r.read::<ServerMessage>()).await {
        Ok(read) => read.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// Opens a session on `link`, retrying as a client does when the node
/// cannot open one yet (a leader change under the load of the herd).
async fn open_session(link: &Link, name: &str) -> (FrameWriter, FrameReader) {
    for attempt in 0..50 {
        let (mut w, mut r) = tokio::time::timeout(STEP, link.open_bi())
            .await
            .unwrap_or_else(|_| {
                panic!("{name}, attempt {attempt}: no stream credit within {STEP:?}")
            })
            .unwrap_or_else(|e| panic!("{name}, attempt {attempt}: open_bi: {e}"));
        w.send(&ClientMessage::Connect(ConnectRequest {
            protocol_version: CLIENT_PROTOCOL_VERSION,
            last_zxid_seen: 0,
            // Long enough that no watcher expires while the herd is opened.
            timeout_ms: 600_000,
            session_id: 0,
            secret: [0; 16],
            read_only: false,
        }))
        .await
        .unwrap();
        let what = format!("{name}, attempt {attempt}: Connect");
        match read_within(&mut r, &what).await {
            Some(ServerMessage::Connected(_)) => return (w, r),
            Some(ServerMessage::ConnectRefused { reason, .. }) => {
                tracing::info!(%reason, "{name}, attempt {attempt}: refused; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("{what}: not connected: {other:?}"),
        }
    }
    panic!("{name}: no session after 50 attempts");
}

/// Opens a session on `link` and leaves a data watch on `path`.
/// `name` says which session it is in a failure.
async fn watching_session(
    link: Link,
    path: &'static str,
    name: &str,
) -> (FrameWriter, FrameReader) {
    let (mut w, mut r) = open_session(&link, name).await;
    w.send(&ClientMessage::Request {
        xid: 1,
        request: Request::GetData {
            path: path.into(),
            watch: true,
        },
    })
    .await
    .unwrap();
    match read_within(&mut r, &format!("{name}: GetData with a watch")).await {
        Some(ServerMessage::Reply { result: Ok(_), .. }) => {}
        other => panic!("{name}: watch not set: {other:?}"),
    }
    (w, r)
}

/// Reads until the Pong: returns the events received before it.
async fn events_until_pong(w: &mut FrameWriter, r: &mut FrameReader) -> Vec<ServerMessage> {
    w.send(&ClientMessage::Ping).await.unwrap();
    let mut events = Vec::new();
    loop {
        match read_within(r, "a Pong after the changes").await {
            Some(ServerMessage::Pong { .. }) => return events,
            Some(other) => events.push(other),
            None => panic!("stream ended"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_watchers_are_each_told_once() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(420), async {
        let TestCluster {
            root,
            pki,
            specs,
            nodes,
            leader,
        } = start_cluster("herd", 3, |spec| {
            spec.session_timeout_ms_max = 600_000;
        })
        .await;
        let follower = if leader == 1 { 2 } else { 1 };
        let mut writer =
            Client::connect_with_timeout(&pki, specs[leader as usize - 1].listen, 120_000).await;
        let (_, r) = writer.create("/herd", b"0").await;
        assert!(r.is_ok(), "{r:?}");

        // 10,000 sessions on one follower, 200 per link, each watching /herd.
        let (_endpoint, links) = links(&pki, specs[follower as usize - 1].listen, LINKS).await;
        let started = std::time::Instant::now();
        let opening = std::sync::Arc::new(tokio::sync::Semaphore::new(512));
        let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // Progress, so that a slow run shows where it is.
        let progress = {
            let opened = opened.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(15)).await;
                    let n = opened.load(std::sync::atomic::Ordering::Relaxed);
                    eprintln!("{n} sessions watching after {:?}", started.elapsed());
                }
            })
        };
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..SESSIONS {
            let link = links[i % LINKS].clone();
            let opening = opening.clone();
            let opened = opened.clone();
            tasks.spawn(async move {
                let _permit = opening.acquire_owned().await.unwrap();
                let name = format!("session {i} on link {}", i % LINKS);
                let session = watching_session(link, "/herd", &name).await;
                opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                session
            });
        }
        let mut sessions = Vec::new();
        while let Some(s) = tasks.join_next().await {
            sessions.push(s.unwrap());
        }
        progress.abort();
        assert_eq!(sessions.len(), SESSIONS);
        eprintln!("{SESSIONS} sessions watching after {:?}", started.elapsed());
        let open = nodes[follower as usize - 1]
            .view()
            .current()
            .await
            .expect("replica stopped")
            .tree
            .sessions()
            .count();
        assert!(open > SESSIONS, "{open} sessions in the tree");

        let (zxid, r) = writer
            .call(Request::SetData {
                path: "/herd".into(),
                data: b"1".to_vec(),
                version: -1,
            })
            .await;
        assert!(matches!(r, Ok(Response::SetData { .. })), "{r:?}");
        // A second change: the one-shot watches are spent, so nobody hears of it.
        let (_, r) = writer
            .call(Request::SetData {
                path: "/herd".into(),
                data: b"2".to_vec(),
                version: -1,
            })
            .await;
        assert!(r.is_ok(), "{r:?}");

        let mut tasks = tokio::task::JoinSet::new();
        for (mut w, mut r) in sessions {
            tasks.spawn(async move {
                let mut got = Vec::new();
                // The event, then nothing more up to a Pong sent after both
                // changes applied (bounded: 100 rounds of 50 ms).
                for _ in 0..100 {
                    got.extend(events_until_pong(&mut w, &mut r).await);
                    if !got.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                got.extend(events_until_pong(&mut w, &mut r).await);
                got
            });
        }
        let mut told = 0;
        while let Some(got) = tasks.join_next().await {
            let got = got.unwrap();
            assert_eq!(got.len(), 1, "told {} times: {got:?}", got.len());
            match &got[0] {
                ServerMessage::Event(e) => {
                    assert_eq!(e.event_type, EventType::NodeDataChanged);
                    assert_eq!(e.path, "/herd");
                    assert_eq!(e.zxid, zxid);
                }
                other => panic!("{other:?}"),
            }
            told += 1;
        }
        assert_eq!(told, SESSIONS);
        eprintln!("every watcher told once after {:?}", started.elapsed());
        for node in nodes {
            node.shutdown(Duration::from_secs(2)).await;
        }
        drop(root);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_session_is_held_back_not_buffered() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("flood");
        let pki = root.join("pki");
        make_pki(&pki, &[1]);
        let mut specs = cluster_specs(&root, 1, 0);
        specs[0].session_requests_inflight_max = 64;
        let node = start_node(&pki, specs[0].clone()).await;
        wait_leader(&[&node]).await;
        let (_endpoint, mut links) = links(&pki, specs[0].listen, 1).await;
        let link = links.remove(0);
        let (mut w, mut r) = watching_session(link, "/", "the flooding session").await;

        // Send without reading: the server's queue (64) and the stream's flow
        // control windows fill, and then sends stop completing.
        let big = "x".repeat(200);
        let mut sent = 0i32;
        let held_back = loop {
            let msg = ClientMessage::Request {
                xid: sent + 2,
                // Each answer is NoNode naming the ~200-byte path, so replies
                // fill the client's 4 MiB stream window after ~20,000.
                request: Request::GetData {
                    path: format!("/{big}-{sent}"),
                    watch: false,
                },
            };
            match tokio::time::timeout(Duration::from_secs(2), w.send(&msg)).await {
                Ok(Ok(())) => sent += 1,
                Ok(Err(e)) => panic!("send failed: {e}"),
                Err(_) => break true,
            }
            if sent >= 200_000 {
                break false;
            }
        };
        assert!(held_back, "200,000 requests were taken without being read");
        assert!(sent > 64, "held back after only {sent} requests");

        // Reading again: every request sent is answered, in order.
        for i in 0..sent {
            match r.read::<ServerMessage>().await.unwrap() {
                Some(ServerMessage::Reply { xid, result, .. }) => {
                    assert_eq!(xid, i + 2);
                    assert_eq!(result.unwrap_err().code, ErrorCode::NoNode);
                }
                other => panic!("{other:?}"),
            }
        }
        node.shutdown(Duration::from_secs(2)).await;
        drop(root);
    })
    .await
    .expect("test timed out");
}
