//! Proves `node_status`: it sends Status as the first message of a fresh
//! stream (no Connect, so no session) and returns the node's answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_client::{NodeStatus, node_status};
use corral_transport::wire::{ClientMessage, ServerMessage};
use support::{FakeServer, STEP, client_config, make_pki};

#[tokio::test]
async fn status_is_the_first_message_and_the_answer_is_returned() {
    tokio::time::timeout(STEP, async {
        let pki = tempfile::tempdir().unwrap();
        make_pki(pki.path());
        let mut server = FakeServer::start(pki.path(), 2);
        let config = client_config(pki.path(), &[server.addr], Duration::from_secs(6));
        let endpoint = server.addr.to_string();
        let ask = tokio::spawn(async move { node_status(&config, &endpoint).await });
        let mut stream = server.next_session().await;
        assert_eq!(stream.recv().await, ClientMessage::Status);
        let status = NodeStatus {
            id: 2,
            role: "follower".into(),
            voter: true,
            term: 3,
            leader: Some(1),
            committed: 40,
            applied: 39,
            last_zxid: 39,
            sessions: 5,
            znodes: 12,
        };
        stream.send(ServerMessage::Status(status.clone())).await;
        assert_eq!(ask.await.unwrap().unwrap(), status);
    })
    .await
    .unwrap();
}
