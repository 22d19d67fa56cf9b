//! Proves the memory bound of persistent watches: a consumer that does not
//! read gets at most `watch_buffer_max` items, then a WatchOverflow error as
//! the stream's last item, while the session and other watchers carry on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_client::{Error, EventType, Response, Stat, WatchItem, WatchedEvent};
use support::{Connected, STEP, connect_client};

#[tokio::test]
async fn full_stream_ends_with_overflow_and_the_session_carries_on() {
    tokio::time::timeout(STEP * 2, async {
        let Connected {
            pki: _pki,
            servers: _servers,
            mut session,
            client,
            ..
        } = connect_client(1, Duration::from_secs(6), 1, |c| c.with_watch_buffer_max(4)).await;
        let (r, _) = tokio::join!(
            client.watch("/slow", false),
            session.answer(2, Ok(Response::AddWatch))
        );
        let mut slow = r.unwrap();
        let (r, _) = tokio::join!(
            client.watch("/other", false),
            session.answer(2, Ok(Response::AddWatch))
        );
        let mut other = r.unwrap();

        let event = |path: &str, zxid| WatchedEvent {
            event_type: EventType::NodeDataChanged,
            path: path.into(),
            zxid,
        };
        for zxid in 10..20 {
            session.event(event("/slow", zxid)).await;
        }
        session.event(event("/other", 20)).await;
        // The reply follows the events on the stream: once it is read, so are they.
        let data = Response::GetData {
            data: vec![],
            stat: Stat::default(),
        };
        let (r, _) = tokio::join!(client.get_data("/x"), session.answer(21, Ok(data)));
        r.unwrap();

        for zxid in 10..14 {
            assert_eq!(
                slow.next().await.unwrap().unwrap(),
                WatchItem::Event(event("/slow", zxid))
            );
        }
        match slow.next().await {
            Some(Err(Error::WatchOverflow { path, buffer_max })) => {
                assert_eq!((path.as_str(), buffer_max), ("/slow", 4));
            }
            other => panic!("expected the overflow, got {other:?}"),
        }
        assert!(slow.next().await.is_none());
        assert_eq!(
            other.next().await.unwrap().unwrap(),
            WatchItem::Event(event("/other", 20))
        );
    })
    .await
    .unwrap();
}
