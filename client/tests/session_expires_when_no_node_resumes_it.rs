//! Proves expiry: when no node resumes the session within its timeout since
//! the client last heard from one (here the only node goes silent, then
//! never answers the resume), the state becomes Expired, one-shot watches
//! resolve to SessionExpired, persistent streams end with it, and calls fail
//! with it. A node that refuses the resume with SessionExpired ends the
//! session at once, long before the timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corral_client::{Error, ErrorCode, Response, SessionState, Stat, ZkError};
use support::{Connected, STEP, connect_client};

#[tokio::test]
async fn silent_node_and_no_resume_within_the_timeout_expire_the_session() {
    tokio::time::timeout(STEP * 2, async {
        let timeout = Duration::from_millis(900);
        let Connected {
            pki: _pki,
            mut servers,
            mut session,
            client,
            ..
        } = connect_client(1, timeout, 5, |c| c).await;
        let server = &mut servers[0];
        let mut states = client.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));
        let data = Response::GetData {
            data: vec![],
            stat: Stat::default(),
        };
        let (r, _) = tokio::join!(client.get_data_watch("/a"), session.answer(6, Ok(data)));
        let (_, _, one_shot) = r.unwrap();
        let (r, _) = tokio::join!(
            client.watch("/a", true),
            session.answer(6, Ok(Response::AddWatch))
        );
        let mut stream = r.unwrap();

        // The node stops answering (no pongs); it later accepts the link of
        // the resume attempt but never answers its Connect.
        session.answer_pings.store(false, Ordering::Release);
        let silent_since = Instant::now();
        assert_eq!(states.next().await, Some(SessionState::Disconnected));
        let _resume = server.next_session().await;
        assert_eq!(states.next().await, Some(SessionState::Expired));
        assert!(
            silent_since.elapsed() >= timeout / 2,
            "expired only after the timeout ran out"
        );
        assert_eq!(states.next().await, None, "Expired is final");

        assert!(matches!(one_shot.await, Err(Error::SessionExpired { .. })));
        assert!(matches!(
            stream.next().await,
            Some(Err(Error::SessionExpired { .. }))
        ));
        assert!(stream.next().await.is_none());
        let e = client.exists("/a").await.unwrap_err();
        assert!(matches!(e, Error::SessionExpired { .. }), "{e:?}");
        assert_eq!(e.code(), Some(ErrorCode::SessionExpired));
        assert_eq!(client.state(), SessionState::Expired);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn resume_refused_as_expired_ends_the_session_at_once() {
    tokio::time::timeout(STEP * 2, async {
        // Far longer than the test's bound: only the refusal can expire it.
        let Connected {
            pki: _pki,
            mut servers,
            session,
            client,
            ..
        } = connect_client(1, Duration::from_secs(60), 5, |c| c).await;
        let server = &mut servers[0];
        let mut states = client.state_changes();
        assert_eq!(states.next().await, Some(SessionState::Connected));
        session.close();
        assert_eq!(states.next().await, Some(SessionState::Disconnected));
        let mut again = server.next_session().await;
        let expired = ZkError::new(ErrorCode::SessionExpired, "");
        again.refuse(Some(expired), "session expired").await;
        assert_eq!(states.next().await, Some(SessionState::Expired));
        let e = client.get_data("/a").await.unwrap_err();
        assert!(e.is_session_ended(), "{e:?}");
    })
    .await
    .unwrap();
}
