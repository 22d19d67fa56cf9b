//! Proves `Connector`: sessions opened through one connector reach a node on
//! one shared link (one socket, one handshake), each on a stream of its own
//! and answered on it; one of them closing leaves the link and the others
//! working; while `Client::connect` gives every session a link of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_client::{Client, Connector, Request, Response};
use support::*;

const SESSIONS: usize = 4;

#[tokio::test]
async fn sessions_through_one_connector_share_its_socket() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let mut server = FakeServer::start(pki.path(), 1);
    let config = client_config(pki.path(), &[server.addr], Duration::from_secs(10));
    let connector = Connector::new(&config).unwrap();

    let mut shared = Vec::new();
    for _ in 0..SESSIONS {
        let (config, connector) = (config.clone(), connector.clone());
        let connect = tokio::spawn(async move { Client::connect_with(config, &connector).await });
        let mut fake = server.next_session().await;
        fake.accept(0).await;
        shared.push((connect.await.unwrap().unwrap(), fake));
    }
    let link_id = shared[0].1.link.connection().stable_id();
    for (_, fake) in &shared {
        assert_eq!(fake.link.connection().stable_id(), link_id, "one link for all");
    }

    // One session closes: its stream ends, the link stays for the others.
    let (closed, mut closed_fake) = shared.remove(0);
    let close = tokio::spawn(closed.close());
    assert_eq!(closed_fake.answer(2, Ok(Response::Close)).await, Request::Close);
    tokio::time::timeout(STEP, close).await.unwrap().unwrap().unwrap();
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

    // Without a shared connector, each session dials a link of its own.
    let connect = tokio::spawn(Client::connect(config.clone()));
    let mut own = server.next_session().await;
    own.accept(0).await;
    let _own_client = connect.await.unwrap().unwrap();
    assert_ne!(own.link.connection().stable_id(), link_id, "a link of its own");
    assert_ne!(
        own.link.remote_address(),
        shared[0].1.link.remote_address(),
        "and a socket of its own"
    );
}
