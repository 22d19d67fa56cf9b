//! Proves that a process's clients share one loaded certificate store per set
//! of files without missing a change to them: while a client holds the store,
//! a new client whose key file became garbage fails with a clear error (the
//! file was checked, not served from the cache); with the key restored a new
//! client connects; and once the files hold a new certificate, new clients
//! present it, though the first client (and the endpoint it shares with
//! them) is still open. Before the store was shared, the shared endpoint
//! kept presenting the certificate the first client had loaded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_certs::{CertPaths, IssueOptions, issue_client};
use corral_client::Client;
use support::*;

/// Connects a client to the fake and accepts its session; also returns the
/// serial of the certificate the client presented.
async fn connect(
    server: &mut FakeServer,
    config: &corral_client::ClientConfig,
) -> (Client, Vec<u8>) {
    let config = config.clone();
    let connect = tokio::spawn(async move { Client::connect(config).await });
    let mut fake = tokio::time::timeout(STEP, server.next_session())
        .await
        .expect("the client reached the fake");
    let serial = fake
        .link
        .peer_cert_info()
        .expect("the client presented a certificate")
        .serial;
    fake.accept(0).await;
    let client = tokio::time::timeout(STEP, connect)
        .await
        .expect("connected in time")
        .unwrap()
        .unwrap();
    (client, serial)
}

#[tokio::test]
async fn new_clients_reread_changed_certificate_files() {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let mut server = FakeServer::start(pki.path(), 1);
    let config = client_config(pki.path(), &[server.addr], Duration::from_secs(10));
    let (first, serial_first) = connect(&mut server, &config).await;

    // The key file changes into garbage while `first` keeps the store alive.
    let paths = CertPaths::client(pki.path(), "alice");
    let good_key = std::fs::read(&paths.key).unwrap();
    std::fs::write(&paths.key, b"-----BEGIN PRIVATE KEY-----\nbroken\n").unwrap();
    let e = tokio::time::timeout(STEP, Client::connect(config.clone()))
        .await
        .expect("refused in time")
        .expect_err("a broken key file was not noticed");
    let text = e.to_string();
    assert!(
        text.contains(&paths.key.display().to_string()) || text.contains("key"),
        "unclear error: {text}"
    );

    // The key file restored: new clients connect again, with the same certificate.
    std::fs::write(&paths.key, &good_key).unwrap();
    let (second, serial_second) = connect(&mut server, &config).await;
    assert_eq!(serial_second, serial_first);

    // A new certificate of the same CA at the same paths: new clients present it.
    std::fs::remove_file(&paths.cert).unwrap();
    std::fs::remove_file(&paths.key).unwrap();
    issue_client(pki.path(), "alice", &IssueOptions::leaf()).unwrap();
    let (third, serial_third) = connect(&mut server, &config).await;
    assert_ne!(
        serial_third, serial_first,
        "the old certificate was presented"
    );
    drop((first, second, third));
}
