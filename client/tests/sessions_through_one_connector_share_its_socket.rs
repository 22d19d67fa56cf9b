//! Proves `Connector`: sessions opened through one connector reach a node on
//! one shared link (one handshake), each on a stream of its own and answered
//! on it; one of them closing leaves the link and the others working; while
//! `Client::connect` gives a session a link of its own, though from the same
//! socket (a process's client endpoint is shared by every session with the
//! same certificate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_client::{Client, Connector, Request, Response, SessionState};
use support::*;

const SESSIONS: usize = 4;

/// One fake node, and a connector for it.
struct Fixture {
    _pki: tempfile::TempDir,
    server: FakeServer,
    config: corral_client::ClientConfig,
    connector: Connector,
}

impl Fixture {
    fn start() -> Fixture {
        let pki = tempfile::tempdir().unwrap();
        make_pki(pki.path());
        let server = FakeServer::start(pki.path(), 1);
        let config = client_config(pki.path(), &[server.addr], Duration::from_secs(10));
        let connector = Connector::new(&config).unwrap();
        Fixture {
            _pki: pki,
            server,
            config,
            connector,
        }
    }

    /// `count` sessions through the connector, each accepted at `last_zxid`.
    async fn connect(&mut self, count: usize, last_zxid: i64) -> Vec<(Client, FakeSession)> {
        let mut sessions = Vec::new();
        for _ in 0..count {
            let (config, connector) = (self.config.clone(), self.connector.clone());
            let connect =
                tokio::spawn(async move { Client::connect_with(config, &connector).await });
            let mut fake = self.server.next_session().await;
            fake.accept(last_zxid).await;
            sessions.push((connect.await.unwrap().unwrap(), fake));
        }
        sessions
    }
}

#[tokio::test]
async fn sessions_through_one_connector_share_its_socket() {
    let mut fx = Fixture::start();
    let mut shared = fx.connect(SESSIONS, 0).await;
    let link_id = shared[0].1.link.connection().stable_id();
    for (_, fake) in &shared {
        assert_eq!(
            fake.link.connection().stable_id(),
            link_id,
            "one link for all"
        );
    }

    // One session closes: its stream ends, the link stays for the others.
    let (closed, mut closed_fake) = shared.remove(0);
    let close = tokio::spawn(closed.close());
    assert_eq!(
        closed_fake.answer(2, Ok(Response::Close)).await,
        Request::Close
    );
    tokio::time::timeout(STEP, close)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    for (i, (client, fake)) in shared.iter_mut().enumerate() {
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.exists("/x").await }
        });
        fake.answer(3, Ok(Response::Exists { stat: None })).await;
        let answer = tokio::time::timeout(STEP, call).await.unwrap().unwrap();
        assert_eq!(answer.unwrap(), None, "session {i} after another closed");
    }
    assert!(shared[0].1.link.connection().close_reason().is_none());

    // Without a shared connector, a session dials a link of its own, from
    // the process's one socket for this certificate.
    let connect = tokio::spawn(Client::connect(fx.config.clone()));
    let mut own = fx.server.next_session().await;
    own.accept(0).await;
    let _own_client = connect.await.unwrap().unwrap();
    assert_ne!(
        own.link.connection().stable_id(),
        link_id,
        "a link of its own"
    );
    assert_eq!(
        own.link.remote_address(),
        shared[0].1.link.remote_address(),
        "the same socket"
    );
}

/// The process's shared endpoint is per async runtime: a session made after
/// another runtime (whose endpoint it would have shared) shut down still
/// connects, from a socket of its own runtime.
#[test]
fn a_runtime_gone_takes_only_its_own_endpoint() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let server_runtime = tokio::runtime::Runtime::new().unwrap();
    let mut server = server_runtime.block_on(async { FakeServer::start(pki.path(), 1) });
    let config = client_config(pki.path(), &[server.addr], Duration::from_secs(10));
    let mut sockets = Vec::new();
    for _ in 0..2 {
        // A runtime of its own, shut down before the next one starts; its
        // client is kept (leaked), so its endpoint stays alive, driverless:
        // the next runtime's session must not dial from it.
        let client_runtime = tokio::runtime::Runtime::new().unwrap();
        let connect = client_runtime.spawn(Client::connect(config.clone()));
        let (client, fake) = server_runtime.block_on(async {
            let mut fake = server.next_session().await;
            fake.accept(0).await;
            (connect.await.unwrap().unwrap(), fake)
        });
        sockets.push(fake.link.remote_address());
        drop(client_runtime);
        std::mem::forget(client);
    }
    assert_ne!(sockets[0], sockets[1], "one endpoint per runtime");
}

/// A shared link the node drops takes every session on it along: each is
/// disconnected and resumes on its own (here on the same node, which the
/// connector reaches over one new link), keeping its session id.
#[tokio::test]
async fn a_dropped_shared_link_resumes_every_session_on_it() {
    let mut fx = Fixture::start();
    let (clients, fakes): (Vec<_>, Vec<_>) = fx.connect(2, 5).await.into_iter().unzip();
    let old_link = fakes[0].link.connection().stable_id();
    assert_eq!(fakes[1].link.connection().stable_id(), old_link);

    fakes[0].close();
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let mut fake = fx.server.next_session().await;
        let request = fake.accept(5).await;
        assert_eq!(
            request.session_id, SESSION_ID,
            "a resume, not a new session"
        );
        assert_eq!(request.last_zxid_seen, 5);
        resumed.push(fake);
    }
    let new_link = resumed[0].link.connection().stable_id();
    assert_ne!(new_link, old_link, "a new link");
    assert_eq!(
        resumed[1].link.connection().stable_id(),
        new_link,
        "shared again"
    );

    // Both answer on the new link, each on its own stream.
    for client in &clients {
        tokio::time::timeout(STEP, async {
            while client.state() != SessionState::Connected {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
    }
    let calls: Vec<_> = clients
        .iter()
        .map(|client| {
            let client = client.clone();
            tokio::spawn(async move { client.exists("/y").await })
        })
        .collect();
    for fake in &mut resumed {
        fake.answer(6, Ok(Response::Exists { stat: None })).await;
    }
    for call in calls {
        let answer = tokio::time::timeout(STEP, call).await.unwrap().unwrap();
        assert_eq!(answer.unwrap(), None);
    }
}
