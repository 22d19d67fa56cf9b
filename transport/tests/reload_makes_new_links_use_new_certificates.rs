//! Proves certificate reload over real QUIC: after the certificate files are
//! replaced, new links present the new certificate (the peer sees its serial),
//! established links carry on, and a broken replacement is refused while the
//! previous certificates stay in force. Fresh dialer endpoints are used for new
//! links so that TLS resumption does not stand in for a full handshake.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use corral_certs::{CertPaths, CertStore, IssueOptions, inspect, issue_node};
use corral_transport::{Endpoint, Link, LinkConfig};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::*;

fn serial_on_disk(dir: &Path, id: u64) -> Vec<u8> {
    let pem = std::fs::read(CertPaths::node(dir, id).cert).unwrap();
    inspect(&CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap()
        .serial
}

/// A server that accepts links and echoes one frame per bi stream.
fn echo_server(endpoint: Endpoint) -> tokio::sync::mpsc::Receiver<Link> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(link) = incoming.establish().await else {
                    return;
                };
                let _ = tx.send(link.clone()).await;
                while let Ok((mut writer, mut reader)) = link.accept_bi().await {
                    if let Ok(Some(n)) = reader.read::<u64>().await {
                        let _ = writer.send(&n).await;
                    }
                }
            });
        }
    });
    rx
}

async fn fresh_link(dir: &Path, addr: std::net::SocketAddr) -> Link {
    let dialer = dialer(node_store(dir, 2));
    tokio::time::timeout(STEP, dialer.connect_peer(addr, 1))
        .await
        .unwrap()
        .unwrap()
}

async fn echo(link: &Link, n: u64) {
    let (mut writer, mut reader) = link.open_bi().await.unwrap();
    writer.send(&n).await.unwrap();
    let back = tokio::time::timeout(STEP, reader.read::<u64>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, Some(n));
}

#[tokio::test]
async fn replaced_files_are_presented_by_new_links_and_old_links_carry_on() {
    within(async {
        let dir = temp_dir("reload");
        make_cluster(&dir);
        let server_store = node_store(&dir, 1);
        let endpoint = Endpoint::server(loopback(), server_store.clone(), config()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let _accepted = echo_server(endpoint);

        let old_serial = serial_on_disk(&dir, 1);
        let old_link = fresh_link(&dir, addr).await;
        assert_eq!(old_link.peer_cert_info().unwrap().serial, old_serial);
        // A dialer that keeps its endpoint holds TLS session tickets of the old set.
        let resuming = dialer(node_store(&dir, 2));
        for _ in 0..2 {
            let link = tokio::time::timeout(STEP, resuming.connect_peer(addr, 1))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(link.peer_cert_info().unwrap().serial, old_serial);
            // A round trip, so the session tickets sent after the handshake are in.
            echo(&link, 0).await;
        }

        issue_node(&dir, 1, &hosts(), &IssueOptions::leaf().forced()).unwrap();
        let new_serial = serial_on_disk(&dir, 1);
        assert_ne!(new_serial, old_serial);
        assert!(
            server_store.reload_if_changed().unwrap(),
            "the change is noticed"
        );
        assert!(
            !server_store.reload_if_changed().unwrap(),
            "and loaded once"
        );

        let new_link = fresh_link(&dir, addr).await;
        assert_eq!(
            new_link.peer_cert_info().unwrap().serial,
            new_serial,
            "new links use the new cert"
        );
        // The dialer offers a ticket of the old set; the server must not honour it.
        let resumed = tokio::time::timeout(STEP, resuming.connect_peer(addr, 1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            resumed.peer_cert_info().unwrap().serial,
            new_serial,
            "a TLS session of the old certificates is not resumed after a reload"
        );
        echo(&old_link, 1).await;
        echo(&new_link, 2).await;
        assert_eq!(
            old_link.peer_cert_info().unwrap().serial,
            old_serial,
            "old links keep theirs"
        );

        // A broken replacement: refused, and the last good certificates stay.
        std::fs::write(CertPaths::node(&dir, 1).cert, b"not a certificate").unwrap();
        let err = server_store.reload_if_changed().unwrap_err();
        assert!(err.to_string().contains("node-1.pem"), "{err}");
        let still = fresh_link(&dir, addr).await;
        assert_eq!(still.peer_cert_info().unwrap().serial, new_serial);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}

#[tokio::test]
async fn the_endpoint_polls_and_a_reloaded_dialer_presents_its_new_certificate() {
    within(async {
        let dir = temp_dir("reload-poll");
        make_cluster(&dir);
        let polling = LinkConfig {
            cert_reload_poll_ms: 20,
            ..config()
        };
        let endpoint = Endpoint::server(loopback(), node_store(&dir, 1), polling.clone()).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let mut accepted = echo_server(endpoint);

        // Server side: the endpoint's own poller picks up the new files.
        issue_node(&dir, 1, &hosts(), &IssueOptions::leaf().forced()).unwrap();
        let new_serial = serial_on_disk(&dir, 1);
        let seen = tokio::time::timeout(STEP, async {
            loop {
                let link = fresh_link(&dir, addr).await;
                if link.peer_cert_info().unwrap().serial == new_serial {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            seen.is_ok(),
            "the poller never loaded the new server certificate"
        );

        // Dialer side: a dialer whose files change presents the new ones.
        let dialer_store = CertStore::load(CertPaths::node(&dir, 2)).unwrap();
        let dialer = Endpoint::client(loopback(), dialer_store.clone(), polling).unwrap();
        issue_node(&dir, 2, &hosts(), &IssueOptions::leaf().forced()).unwrap();
        dialer_store.reload_if_changed().unwrap();
        let dialer_serial = serial_on_disk(&dir, 2);
        let link = tokio::time::timeout(STEP, dialer.connect_peer(addr, 1))
            .await
            .unwrap()
            .unwrap();
        // Links of the loop above may still be queued: find the one just made.
        let seen_by_server = tokio::time::timeout(STEP, async {
            while let Some(server_side) = accepted.recv().await {
                if server_side.remote_address() == dialer.local_addr().unwrap() {
                    return server_side.peer_cert_info().unwrap().serial;
                }
            }
            panic!("server gone");
        })
        .await
        .unwrap();
        assert_eq!(
            seen_by_server, dialer_serial,
            "the server sees the dialer's new certificate"
        );
        drop(link);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}
