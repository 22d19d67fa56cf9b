//! Proves that a running node refuses peers it must not trust and survives
//! peers that misbehave: a certificate from another CA, a node that is not a
//! member, another cluster's hello, garbage and oversize frames, and
//! consensus messages claiming another sender are all refused or
//! disconnected, and the cluster still elects and commits afterwards. Also: a
//! node whose certificate names another id refuses to start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use corral_certs::{CertPaths, CertStore, IssueOptions, issue_node};
use corral_core::broadcast::{Body, Message};
use corral_transport::wire::PeerMessage;
use corral_transport::{Endpoint, LinkConfig};
use support::*;

fn dialer(store: std::sync::Arc<CertStore>, cluster: &str) -> Endpoint {
    let config = LinkConfig {
        cluster_id: cluster.into(),
        cert_reload_poll_ms: 0,
        handshake_timeout_ms: 5_000,
        ..LinkConfig::default()
    };
    Endpoint::client("127.0.0.1:0".parse().unwrap(), store, config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_peers_cannot_join_and_cannot_crash_a_node() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("badpeers");
        let pki = root.join("pki");
        make_pki(&pki, &[1, 2, 3]);
        let hosts = vec!["127.0.0.1".to_string()];
        issue_node(&pki, 4, &hosts, &IssueOptions::leaf()).unwrap();
        let other = root.join("other-pki");
        make_pki(&other, &[1, 2, 3]);
        let specs = cluster_specs(&root, 3, 0);
        let target = specs[0].listen;
        let mut nodes = Vec::new();
        for spec in specs.clone() {
            nodes.push(start_node(&pki, spec).await);
        }
        wait_leader(&nodes.iter().collect::<Vec<_>>()).await;

        // Another CA's node 2: the TLS handshake fails.
        let stranger = dialer(
            CertStore::load(CertPaths::node(&other, 2)).unwrap(),
            "corral",
        );
        assert!(
            stranger.connect_peer(target, 1).await.is_err(),
            "a foreign CA's peer got in"
        );

        // Another cluster's hello: refused.
        let foreign = dialer(node_certs(&pki, 2), "another-cluster");
        assert!(
            foreign.connect_peer(target, 1).await.is_err(),
            "another cluster's peer got in"
        );

        // Node 4 of our CA is not a member: its link is closed at once.
        let outsider = dialer(node_certs(&pki, 4), "corral");
        if let Ok(link) = outsider.connect_peer(target, 1).await {
            tokio::time::timeout(STEP, link.closed())
                .await
                .expect("non-member kept its link");
        }

        // Node 2's certificate sending garbage, an oversize frame, or a message
        // claiming to come from node 3: each link is closed.
        let impostor = dialer(node_certs(&pki, 2), "corral");
        let link = impostor.connect_peer(target, 1).await.unwrap();
        let (mut w, _r) = link.open_bi().await.unwrap();
        w.send(&(250u8, 251u8, 252u8, 253u8)).await.unwrap();
        tokio::time::timeout(STEP, link.closed())
            .await
            .expect("garbage did not close the link");

        let link = impostor.connect_peer(target, 1).await.unwrap();
        let mut raw = link.connection().open_uni().await.unwrap();
        raw.write_all(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3])
            .await
            .unwrap();
        tokio::time::timeout(STEP, link.closed())
            .await
            .expect("an oversize frame did not close the link");

        let link = impostor.connect_peer(target, 1).await.unwrap();
        let (mut w, _r) = link.open_bi().await.unwrap();
        let spoof = PeerMessage::Consensus(Message {
            from: 3,
            to: 1,
            term: 1_000,
            body: Body::TimeoutNow,
        });
        w.send(&spoof).await.unwrap();
        tokio::time::timeout(STEP, link.closed())
            .await
            .expect("a spoofed sender did not close the link");

        // The cluster still serves.
        let refs: Vec<_> = nodes.iter().collect();
        wait_leader(&refs).await;
        let mut client = Client::connect(&pki, target).await;
        let (zxid, result) = client.create("/still-here", b"ok").await;
        assert!(result.is_ok(), "{result:?}");
        wait_applied(&refs, zxid as u64).await;
        for node in nodes {
            assert!(node.is_running());
            node.shutdown(Duration::from_secs(2)).await;
        }

        // A node whose certificate names node 2 cannot start as node 1.
        let mut spec = specs[0].clone();
        spec.data_dir = root.join("wrong-id");
        let err = corral_actors::start(spec, node_certs(&pki, 2))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("tls.cert"), "{err}");
    })
    .await
    .expect("test exceeded 120 s");
}
