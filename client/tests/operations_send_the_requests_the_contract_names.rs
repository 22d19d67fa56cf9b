//! Proves each typed operation sends the request the protocol names (paths,
//! versions as -1 for "any", TTLs, linearizable reads as ReadLinearizable)
//! and maps the server's answer back, including ZooKeeper errors with their
//! path, and that removing watches ends the local watchers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_client::{
    Acl, Client, CreateMode, Error, ErrorCode, MultiOp, MultiOpResult, ReadOp, ReadOpResult,
    Request, Response, Stat, WatcherType, ZkError,
};
use corral_transport::wire::{ClientMessage, ServerMessage};
use support::{Connected, FakeServer, FakeSession, STEP, connect_client};

async fn connected() -> (tempfile::TempDir, FakeServer, FakeSession, Client) {
    let Connected {
        pki,
        mut servers,
        session,
        client,
        ..
    } = connect_client(1, Duration::from_secs(6), 1, |c| c).await;
    (pki, servers.remove(0), session, client)
}

#[tokio::test]
async fn every_operation_sends_its_request_and_maps_its_answer() {
    tokio::time::timeout(STEP * 2, async {
        let (_pki, _server, mut s, client) = connected().await;
        let stat = Stat {
            version: 3,
            ..Stat::default()
        };

        let create = Response::Create {
            path: "/t0000000001".into(),
            stat,
        };
        let (r, request) = tokio::join!(
            client.create_ttl(
                "/t",
                b"d",
                CreateMode::PersistentSequentialWithTtl,
                Duration::from_secs(5)
            ),
            s.answer(2, Ok(create))
        );
        assert_eq!(r.unwrap(), ("/t0000000001".to_owned(), stat));
        let Request::Create(create) = request else {
            panic!("{request:?}")
        };
        assert_eq!(
            (create.path.as_str(), create.mode, create.ttl_ms),
            ("/t", CreateMode::PersistentSequentialWithTtl, Some(5000))
        );
        assert_eq!(create.acl, Acl::open_unsafe());

        let (r, request) =
            tokio::join!(client.delete("/t", None), s.answer(3, Ok(Response::Delete)));
        r.unwrap();
        assert_eq!(
            request,
            Request::Delete {
                path: "/t".into(),
                version: -1
            }
        );

        let no_node = ZkError::new(ErrorCode::NoNode, "/gone");
        let (r, _) = tokio::join!(
            client.set_data("/gone", b"x", Some(4)),
            s.answer(4, Err(no_node.clone()))
        );
        match r.unwrap_err() {
            Error::Zk(e) => assert_eq!(e, no_node),
            other => panic!("{other:?}"),
        }

        let count = Response::AllChildrenNumber { count: 7 };
        let (r, request) =
            tokio::join!(client.get_all_children_number("/"), s.answer(5, Ok(count)));
        assert_eq!(r.unwrap(), 7);
        assert_eq!(request, Request::GetAllChildrenNumber { path: "/".into() });

        let ephemerals = Response::Ephemerals {
            paths: vec!["/e".into()],
        };
        let (r, request) = tokio::join!(client.get_ephemerals("/"), s.answer(5, Ok(ephemerals)));
        assert_eq!(r.unwrap(), vec!["/e".to_owned()]);
        assert_eq!(request, Request::GetEphemerals { prefix: "/".into() });

        let reads = Response::MultiRead {
            results: vec![ReadOpResult::Error(ErrorCode::NoNode)],
        };
        let ops = vec![ReadOp::GetData { path: "/m".into() }];
        let (r, request) = tokio::join!(client.multi_read(ops.clone()), s.answer(5, Ok(reads)));
        assert_eq!(r.unwrap(), vec![ReadOpResult::Error(ErrorCode::NoNode)]);
        assert_eq!(request, Request::MultiRead(ops));

        let writes = Response::Multi {
            results: vec![MultiOpResult::Check],
        };
        let ops = vec![MultiOp::Check {
            path: "/m".into(),
            version: 1,
        }];
        let (r, request) = tokio::join!(client.multi(ops.clone()), s.answer(6, Ok(writes)));
        assert_eq!(r.unwrap(), vec![MultiOpResult::Check]);
        assert_eq!(request, Request::Multi(ops));

        let (r, request) = tokio::join!(
            client.add_auth("digest", b"u:p"),
            s.answer(7, Ok(Response::AddAuth))
        );
        r.unwrap();
        assert_eq!(
            request,
            Request::AddAuth {
                scheme: "digest".into(),
                auth: b"u:p".to_vec()
            }
        );

        let (r, request) = tokio::join!(
            client.set_acl("/a", Acl::open_unsafe(), None),
            s.answer(8, Ok(Response::SetAcl { stat }))
        );
        assert_eq!(r.unwrap(), stat);
        assert_eq!(
            request,
            Request::SetAcl {
                path: "/a".into(),
                acl: Acl::open_unsafe(),
                aversion: -1
            }
        );

        let (r, request) = tokio::join!(
            client.sync("/a"),
            s.answer(9, Ok(Response::Sync { path: "/a".into() }))
        );
        r.unwrap();
        assert_eq!(request, Request::Sync { path: "/a".into() });
        assert_eq!(client.last_zxid(), 9);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn linearizable_reads_are_sent_as_read_linearizable() {
    tokio::time::timeout(STEP * 2, async {
        let (_pki, _server, mut s, client) = connected().await;
        let read = async {
            let ClientMessage::ReadLinearizable { xid, request } = s.recv().await else {
                panic!("not a ReadLinearizable");
            };
            let data = Response::GetData {
                data: b"lin".to_vec(),
                stat: Stat::default(),
            };
            s.send(ServerMessage::Reply {
                xid,
                zxid: 40,
                result: Ok(data),
            })
            .await;
            request
        };
        let (r, request) = tokio::join!(client.get_data_linearizable("/l"), read);
        assert_eq!(r.unwrap().0, b"lin");
        assert_eq!(
            request,
            Request::GetData {
                path: "/l".into(),
                watch: false
            }
        );
        assert_eq!(client.last_zxid(), 40);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn removed_watches_end_their_local_watchers() {
    tokio::time::timeout(STEP * 2, async {
        let (_pki, _server, mut s, client) = connected().await;
        let data = Response::GetData {
            data: vec![],
            stat: Stat::default(),
        };
        let (r, request) = tokio::join!(client.get_data_watch("/w"), s.answer(2, Ok(data)));
        let (_, _, one_shot) = r.unwrap();
        assert_eq!(
            request,
            Request::GetData {
                path: "/w".into(),
                watch: true
            }
        );
        let (r, _) = tokio::join!(
            client.watch("/w", false),
            s.answer(2, Ok(Response::AddWatch))
        );
        let mut stream = r.unwrap();
        let (r, request) = tokio::join!(
            client.remove_watches("/w", WatcherType::Any),
            s.answer(3, Ok(Response::RemoveWatches))
        );
        r.unwrap();
        assert_eq!(
            request,
            Request::RemoveWatches {
                path: "/w".into(),
                watcher_type: WatcherType::Any
            }
        );
        assert!(matches!(one_shot.await, Err(Error::WatchRemoved { path }) if path == "/w"));
        assert!(matches!(
            stream.next().await,
            Some(Err(Error::WatchRemoved { .. }))
        ));
        assert!(stream.next().await.is_none());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn exists_answered_with_no_node_leaves_an_exist_watch() {
    tokio::time::timeout(STEP * 2, async {
        let (_pki, _server, mut s, client) = connected().await;
        let no_node = ZkError::new(ErrorCode::NoNode, "/later");
        let (r, request) = tokio::join!(client.exists_watch("/later"), s.answer(2, Err(no_node)));
        let (stat, created) = r.unwrap();
        assert_eq!(stat, None);
        assert_eq!(
            request,
            Request::Exists {
                path: "/later".into(),
                watch: true
            }
        );
        let event = corral_client::WatchedEvent {
            event_type: corral_client::EventType::NodeCreated,
            path: "/later".into(),
            zxid: 3,
        };
        s.event(event.clone()).await;
        assert_eq!(created.await.unwrap(), event);
    })
    .await
    .unwrap();
}
