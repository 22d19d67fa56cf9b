//! Proves the mutual-TLS policy over real QUIC on loopback: the right
//! certificates make a link whose identities both sides see, and each wrong
//! certificate or ALPN fails with an error that says why on BOTH sides.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use corral_certs::CertPaths;
use corral_transport::{ALPN_PEER, Endpoint, ExpectServer, Identity, Result};
use support::*;

/// Dials with `dial`, then returns (dialer's result, acceptor's result) as strings.
async fn both_sides<F, Fut>(dial: F) -> (Result<()>, Result<()>)
where
    F: FnOnce(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<corral_transport::Link>>,
{
    let (_server, addr, mut accepted) = server(node_store(&pki().main, 1));
    let dialled = tokio::time::timeout(STEP, dial(addr))
        .await
        .expect("dial timed out");
    let accepted = next_accept(&mut accepted).await;
    (dialled.map(|_| ()), accepted.map(|_| ()))
}

fn assert_fails(side: &str, result: &Result<()>, needles: &[&str]) {
    let err = match result {
        Ok(()) => panic!("{side}: expected an error containing {needles:?}, got a link"),
        Err(e) => e.to_string(),
    };
    assert!(
        needles
            .iter()
            .any(|n| err.to_lowercase().contains(&n.to_lowercase())),
        "{side}: error {err:?} names none of {needles:?}"
    );
}

#[tokio::test]
async fn right_node_certificates_give_both_sides_the_peer_node_id() {
    within(async {
        let (_server, addr, mut accepted) = server(node_store(&pki().main, 1));
        let dialer = dialer(node_store(&pki().main, 2));
        let link = tokio::time::timeout(STEP, dialer.connect_peer(addr, 1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            link.node_id(),
            Some(1),
            "the dialer checks and sees the server's node id"
        );
        let server_side = next_accept(&mut accepted).await.unwrap();
        assert_eq!(
            server_side.node_id(),
            Some(2),
            "the server learns the dialer's node id"
        );
        assert_eq!(server_side.alpn(), corral_transport::Alpn::Peer);
        let stats = link.stats();
        assert!(
            stats.rtt_us > 0 && stats.sent_bytes > 0 && stats.congestion_window_bytes > 0,
            "{stats:?}"
        );
    })
    .await
}

#[tokio::test]
async fn right_client_certificate_gives_the_server_the_client_name() {
    within(async {
        let (_server, addr, mut accepted) = server(node_store(&pki().main, 1));
        let dialer = dialer(client_store(&pki().main, "alice"));
        let link = tokio::time::timeout(STEP, dialer.connect_client(addr, "localhost"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(link.identity(), &Identity::Node(1));
        let server_side = next_accept(&mut accepted).await.unwrap();
        assert_eq!(server_side.client_name(), Some("alice"));
    })
    .await
}

#[derive(Debug)]
struct NoCertificate;

impl rustls::client::ResolvesClientCert for NoCertificate {
    fn resolve(
        &self,
        _: &[&[u8]],
        _: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
    fn has_certs(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn no_client_certificate_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(node_store(&pki().main, 2));
        let (dialled, accepted) = both_sides(|addr| async move {
            let mut tls = dialer.client_tls(addr, ALPN_PEER, ExpectServer::Node(1))?;
            tls.client_auth_cert_resolver = Arc::new(NoCertificate);
            dialer
                .connect_with(addr, "node-1.peer.corral", tls, ExpectServer::Node(1))
                .await
        })
        .await;
        assert_fails(
            "dialer",
            &dialled,
            &[
                "CertificateRequired",
                "certificate required",
                "no certificates",
            ],
        );
        assert_fails(
            "server",
            &accepted,
            &["NoCertificatesPresented", "no certificate"],
        );
    })
    .await
}

#[tokio::test]
async fn a_dialer_certificate_from_another_ca_is_refused_on_both_sides() {
    within(async {
        // Trusts the cluster CA (so it accepts the server) but holds a stranger's cert.
        let store = corral_certs::CertStore::load(CertPaths {
            ca: CertPaths::node(&pki().main, 2).ca,
            ..CertPaths::node(&pki().other, 2)
        })
        .unwrap();
        let dialer = dialer(store);
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_peer(addr, 1).await }).await;
        assert_fails("dialer", &dialled, &["UnknownIssuer", "unknown issuer"]);
        assert_fails("server", &accepted, &["UnknownIssuer", "unknown issuer"]);
    })
    .await
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(node_store(&pki().other, 2));
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_peer(addr, 1).await }).await;
        assert_fails("dialer", &dialled, &["UnknownIssuer", "unknown issuer"]);
        assert_fails("server", &accepted, &["UnknownIssuer", "unknown issuer"]);
    })
    .await
}

#[tokio::test]
async fn an_expired_certificate_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(node_store(&pki().main, 4));
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_peer(addr, 1).await }).await;
        assert_fails("dialer", &dialled, &["CertificateExpired", "expired"]);
        assert_fails("server", &accepted, &["Expired"]);
    })
    .await
}

#[tokio::test]
async fn a_server_naming_another_node_id_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(node_store(&pki().main, 2));
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_peer(addr, 3).await }).await;
        assert_fails("dialer", &dialled, &["names node 1, expected node 3"]);
        assert_fails("server", &accepted, &["names node 1, expected node 3"]);
    })
    .await
}

#[tokio::test]
async fn a_client_certificate_on_the_peer_alpn_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(client_store(&pki().main, "alice"));
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_peer(addr, 1).await }).await;
        assert_fails("dialer", &dialled, &["client certificate on corral-peer/1"]);
        assert_fails(
            "server",
            &accepted,
            &["client certificate on corral-peer/1"],
        );
    })
    .await
}

#[tokio::test]
async fn an_unknown_alpn_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(node_store(&pki().main, 2));
        let (dialled, accepted) = both_sides(|addr| async move {
            let tls = dialer.client_tls(addr, b"h3", ExpectServer::Node(1))?;
            dialer
                .connect_with(addr, "node-1.peer.corral", tls, ExpectServer::Node(1))
                .await
        })
        .await;
        assert_fails(
            "dialer",
            &dialled,
            &[
                "NoApplicationProtocol",
                "no application protocol",
                "any known protocol",
            ],
        );
        assert_fails(
            "server",
            &accepted,
            &[
                "NoApplicationProtocol",
                "no application protocol",
                "any known protocol",
            ],
        );
    })
    .await
}

#[tokio::test]
async fn an_endpoint_keeps_serving_after_refusals() {
    within(async {
        let (_server, addr, mut accepted) = server(node_store(&pki().main, 1));
        let stranger: Endpoint = dialer(node_store(&pki().other, 2));
        assert!(
            tokio::time::timeout(STEP, stranger.connect_peer(addr, 1))
                .await
                .unwrap()
                .is_err()
        );
        assert!(next_accept(&mut accepted).await.is_err());
        let friend = dialer(node_store(&pki().main, 2));
        tokio::time::timeout(STEP, friend.connect_peer(addr, 1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next_accept(&mut accepted).await.unwrap().node_id(), Some(2));
    })
    .await
}

#[tokio::test]
async fn a_peer_of_another_cluster_is_refused_on_both_sides() {
    within(async {
        let store = node_store(&pki().main, 2);
        let config = corral_transport::LinkConfig {
            cluster_id: "elsewhere".into(),
            ..config()
        };
        let dialer = Endpoint::client(loopback(), store, config).unwrap();
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_peer(addr, 1).await }).await;
        assert_fails("dialer", &dialled, &["cluster id mismatch"]);
        assert_fails("server", &accepted, &["cluster id mismatch"]);
    })
    .await
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused_on_both_sides() {
    within(async {
        let (_server, addr, mut accepted) = server(node_store(&pki().main, 4));
        let dialer = dialer(node_store(&pki().main, 2));
        let dialled = tokio::time::timeout(STEP, dialer.connect_peer(addr, 4))
            .await
            .unwrap();
        let accepted = next_accept(&mut accepted).await;
        assert_fails("dialer", &dialled.map(|_| ()), &["Expired"]);
        assert_fails("server", &accepted.map(|_| ()), &["Expired"]);
    })
    .await
}

#[tokio::test]
async fn a_client_dialling_a_name_the_node_certificate_lacks_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(client_store(&pki().main, "alice"));
        let (dialled, accepted) =
            both_sides(|addr| async move { dialer.connect_client(addr, "db.example.org").await })
                .await;
        assert_fails("dialer", &dialled, &["NotValidForName", "not valid for"]);
        assert_fails("server", &accepted, &["NotValidForName", "not valid for"]);
    })
    .await
}

#[tokio::test]
async fn a_dialer_offering_no_alpn_is_refused_on_both_sides() {
    within(async {
        let dialer = dialer(node_store(&pki().main, 2));
        let (dialled, accepted) = both_sides(|addr| async move {
            let mut tls = dialer.client_tls(addr, ALPN_PEER, ExpectServer::Node(1))?;
            tls.alpn_protocols.clear();
            dialer
                .connect_with(addr, "node-1.peer.corral", tls, ExpectServer::Node(1))
                .await
        })
        .await;
        let needles = [
            "NoApplicationProtocol",
            "no application protocol",
            "any known protocol",
            "no corral ALPN",
        ];
        assert_fails("dialer", &dialled, &needles);
        assert_fails("server", &accepted, &needles);
    })
    .await
}
