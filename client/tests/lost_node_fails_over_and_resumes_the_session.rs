//! Proves failover: when the client's node drops it, requests in flight fail
//! with ConnectionLoss, and the client resumes the session on another node
//! with Connect{session id, secret, last_zxid_seen} followed by SetWatches
//! listing exactly the watches it still holds (not the fired or dropped
//! ones). Events the new node replays reach the watchers, ResyncNeeded
//! surfaces on its persistent stream, a node that refuses the resume (behind,
//! draining) is skipped, and calls made while disconnected are sent once the
//! session is resumed. Two or three fake nodes script every step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_client::{
    Error, EventType, Request, Response, SessionState, Stat, WatchItem, WatchedEvent,
};
use corral_transport::wire::{ClientMessage, ServerMessage, WatchesToRestore};
use support::{Connected, SECRET, SESSION_ID, STEP, connect_client};

fn event(event_type: EventType, path: &str, zxid: i64) -> WatchedEvent {
    WatchedEvent {
        event_type,
        path: path.into(),
        zxid,
    }
}

fn data() -> Response {
    Response::GetData {
        data: b"v".to_vec(),
        stat: Stat::default(),
    }
}

#[tokio::test]
async fn lost_node_fails_in_flight_requests_and_resumes_with_watches_elsewhere() {
    tokio::time::timeout(STEP * 3, async {
        let Connected {
            pki: _pki,
            mut servers,
            first,
            session: mut old,
            client,
        } = connect_client(2, Duration::from_secs(6), 10, |c| c).await;
        assert_eq!(client.session_id(), SESSION_ID);
        let mut states = client.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));

        // Watches of every kind, plus one that fires and one the app drops.
        let (r, _) = tokio::join!(client.get_data_watch("/d"), old.answer(12, Ok(data())));
        let (_, _, data_d) = r.unwrap();
        let missing = Response::Exists { stat: None };
        let (r, _) = tokio::join!(client.exists_watch("/e"), old.answer(12, Ok(missing)));
        let (_, mut exist_e) = r.unwrap();
        let children = Response::GetChildren {
            children: vec![],
            stat: Some(Stat::default()),
        };
        let (r, _) = tokio::join!(
            client.get_children_watch("/c"),
            old.answer(12, Ok(children))
        );
        let (_, _, mut child_c) = r.unwrap();
        let (r, _) = tokio::join!(
            client.watch("/p", false),
            old.answer(13, Ok(Response::AddWatch))
        );
        let mut persistent_p = r.unwrap();
        let (r, _) = tokio::join!(
            client.watch("/r", true),
            old.answer(13, Ok(Response::AddWatch))
        );
        let mut recursive_r = r.unwrap();
        let (r, _) = tokio::join!(client.get_data_watch("/fired"), old.answer(14, Ok(data())));
        let (_, _, fired) = r.unwrap();
        let (r, _) = tokio::join!(
            client.get_data_watch("/dropped"),
            old.answer(14, Ok(data()))
        );
        drop(r.unwrap());
        old.event(event(EventType::NodeDataChanged, "/fired", 16))
            .await;
        assert_eq!(fired.await.unwrap().zxid, 16);
        assert_eq!(client.last_zxid(), 16);

        // A request in flight when the node goes away.
        let in_flight = {
            let client = client.clone();
            tokio::spawn(async move { client.get_data("/slow").await })
        };
        let (_, request) = old.request().await;
        assert_eq!(
            request,
            Request::GetData {
                path: "/slow".into(),
                watch: false
            }
        );
        old.close();
        let lost = in_flight.await.unwrap().unwrap_err();
        assert!(lost.is_connection_loss(), "{lost:?}");
        assert_eq!(states.next().await, Some(SessionState::Disconnected));

        // The other node gets the resume, then SetWatches.
        let mut new = servers[1 - first].next_session().await;
        let resume = new.accept(20).await;
        assert_eq!(resume.session_id, SESSION_ID);
        assert_eq!(resume.secret, SECRET);
        assert_eq!(resume.last_zxid_seen, 16);
        let ClientMessage::SetWatches(watches) = new.recv().await else {
            panic!("SetWatches did not follow the resume");
        };
        assert_eq!(
            watches,
            WatchesToRestore {
                relative_zxid: 16,
                data: vec!["/d".into()],
                exist: vec!["/e".into()],
                child: vec!["/c".into()],
                persistent: vec!["/p".into()],
                persistent_recursive: vec!["/r".into()],
            }
        );
        assert_eq!(states.next().await, Some(SessionState::Connected));
        assert_eq!(client.state(), SessionState::Connected);
        assert_eq!(client.server(), servers[1 - first].addr);

        // What the new node replays reaches the watchers that are still held.
        new.event(event(EventType::NodeDeleted, "/d", 17)).await;
        new.event(event(EventType::NodeDataChanged, "/p", 18)).await;
        new.send(ServerMessage::ResyncNeeded {
            path: "/r".into(),
            last_zxid_seen: 16,
            oldest_zxid: 19,
        })
        .await;
        assert_eq!(
            data_d.await.unwrap(),
            event(EventType::NodeDeleted, "/d", 17)
        );
        assert_eq!(
            persistent_p.next().await.unwrap().unwrap(),
            WatchItem::Event(event(EventType::NodeDataChanged, "/p", 18))
        );
        assert_eq!(
            recursive_r.next().await.unwrap().unwrap(),
            WatchItem::ResyncNeeded {
                path: "/r".into(),
                last_zxid_seen: 16,
                oldest_zxid: 19
            }
        );
        assert!(
            exist_e.try_take().is_none(),
            "nothing fired the exist watch"
        );
        assert!(
            child_c.try_take().is_none(),
            "nothing fired the child watch"
        );

        // The session serves on the new node.
        let (r, _) = tokio::join!(client.get_data("/x"), new.answer(21, Ok(data())));
        assert_eq!(r.unwrap().0, b"v");
        assert_eq!(client.last_zxid(), 21);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn node_refusing_the_resume_is_skipped_and_waiting_calls_go_to_the_next() {
    tokio::time::timeout(STEP * 3, async {
        let Connected {
            pki: _pki,
            mut servers,
            first,
            session: old,
            client,
        } = connect_client(3, Duration::from_secs(6), 30, |c| c).await;
        let mut states = client.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));
        old.close();
        assert_eq!(states.next().await, Some(SessionState::Disconnected));

        // A call made while disconnected waits for the resume.
        let waiting = {
            let client = client.clone();
            tokio::spawn(async move { client.exists("/w").await })
        };
        let mut behind = servers[(first + 1) % 3].next_session().await;
        let refused = behind
            .refuse(None, "node is behind the client's zxid")
            .await;
        assert_eq!(refused.session_id, SESSION_ID);
        assert_eq!(refused.last_zxid_seen, 30);
        let mut next = servers[(first + 2) % 3].next_session().await;
        let resume = next.accept(30).await;
        assert_eq!((resume.session_id, resume.secret), (SESSION_ID, SECRET));
        // No watches are held, so the first message is the waiting call.
        let found = Response::Exists {
            stat: Some(Stat::default()),
        };
        let request = next.answer(31, Ok(found)).await;
        assert_eq!(
            request,
            Request::Exists {
                path: "/w".into(),
                watch: false
            }
        );
        assert!(waiting.await.unwrap().unwrap().is_some());
        assert_eq!(client.state(), SessionState::Connected);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn closed_session_ends_its_watchers_and_refuses_calls() {
    tokio::time::timeout(STEP * 2, async {
        let Connected {
            pki: _pki,
            servers: _servers,
            mut session,
            client,
            ..
        } = connect_client(1, Duration::from_secs(6), 1, |c| c).await;
        let (r, _) = tokio::join!(
            client.watch("/p", false),
            session.answer(2, Ok(Response::AddWatch))
        );
        let mut stream = r.unwrap();
        let other = client.clone();
        let (r, request) = tokio::join!(client.close(), session.answer(3, Ok(Response::Close)));
        r.unwrap();
        assert_eq!(request, Request::Close);
        assert!(matches!(stream.next().await, Some(Err(Error::Closed))));
        assert!(stream.next().await.is_none());
        assert!(matches!(other.exists("/p").await, Err(Error::Closed)));
        assert_eq!(other.state(), SessionState::Closed);
    })
    .await
    .unwrap();
}

/// The zxid a node reports in Connected may run ahead of the events it has
/// yet to replay; if that node is lost before replaying them, the next
/// SetWatches must still ask for everything after the last event received.
#[tokio::test]
async fn set_watches_stays_relative_to_the_last_event_across_two_losses() {
    tokio::time::timeout(STEP * 3, async {
        let Connected {
            pki: _pki,
            mut servers,
            first,
            session: mut old,
            client,
        } = connect_client(2, Duration::from_secs(6), 5, |c| c).await;
        let mut states = client.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));
        let (r, _) = tokio::join!(
            client.watch("/p", false),
            old.answer(6, Ok(Response::AddWatch))
        );
        let _watch = r.unwrap();
        old.close();
        assert_eq!(states.next().await, Some(SessionState::Disconnected));

        let mut second = servers[1 - first].next_session().await;
        second
            .answer_pings
            .store(false, std::sync::atomic::Ordering::Release);
        assert_eq!(second.accept(20).await.last_zxid_seen, 6);
        let ClientMessage::SetWatches(watches) = second.recv().await else {
            panic!("no SetWatches");
        };
        assert_eq!(watches.relative_zxid, 6);
        assert_eq!(states.next().await, Some(SessionState::Connected));
        second.close();
        assert_eq!(states.next().await, Some(SessionState::Disconnected));

        let mut third = servers[first].next_session().await;
        let resume = third.accept(20).await;
        assert_eq!(
            resume.last_zxid_seen, 20,
            "never served by a node behind 20"
        );
        let ClientMessage::SetWatches(watches) = third.recv().await else {
            panic!("no SetWatches");
        };
        assert_eq!(
            watches.relative_zxid, 6,
            "events after 6 were never received"
        );
        assert_eq!(watches.persistent, vec!["/p".to_owned()]);
    })
    .await
    .unwrap();
}

/// A node that stops answering (no pongs, link still up) is given up after
/// two thirds of the session timeout, leaving time to resume elsewhere.
#[tokio::test]
async fn silent_node_is_left_for_another_within_the_session_timeout() {
    tokio::time::timeout(STEP * 3, async {
        let Connected {
            pki: _pki,
            mut servers,
            first,
            session: old,
            client,
        } = connect_client(2, Duration::from_secs(3), 5, |c| c).await;
        let mut states = client.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));
        old.answer_pings
            .store(false, std::sync::atomic::Ordering::Release);
        assert_eq!(states.next().await, Some(SessionState::Disconnected));
        let mut new = servers[1 - first].next_session().await;
        let resume = new.accept(5).await;
        assert_eq!(resume.session_id, SESSION_ID);
        assert_eq!(states.next().await, Some(SessionState::Connected));
        assert_eq!(client.server(), servers[1 - first].addr);
    })
    .await
    .unwrap();
}
