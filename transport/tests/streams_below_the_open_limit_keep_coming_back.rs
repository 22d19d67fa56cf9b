//! Proves [`streams_open_max`]: a remote that holds that many streams open
//! for good can still open and close others without end, because enough of
//! the rest close for the link to re-announce stream credit (quinn does only
//! after an eighth of the limit has closed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_transport::{LinkConfig, streams_open_max};
use serde::{Deserialize, Serialize};
use support::*;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Ask {
    seq: u64,
    keep: bool,
}

/// A server that answers each stream's first frame; a `keep` stream then
/// stays open until the client ends it, any other is finished and dropped
/// (as a node does with a refused session).
async fn server(config: LinkConfig) -> std::net::SocketAddr {
    let endpoint =
        corral_transport::Endpoint::server(loopback(), node_store(&pki().main, 1), config).unwrap();
    let addr = endpoint.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            tokio::spawn(async move {
                let Ok(link) = incoming.establish().await else {
                    return;
                };
                while let Ok((mut writer, mut reader)) = link.accept_bi().await {
                    tokio::spawn(async move {
                        let Ok(Some(ask)) = reader.read::<Ask>().await else {
                            return;
                        };
                        if writer.send(&ask).await.is_err() {
                            return;
                        }
                        if ask.keep {
                            while let Ok(Some(_)) = reader.read::<Ask>().await {}
                        } else {
                            let _ = writer.finish().await;
                        }
                    });
                }
            });
        }
        drop(endpoint);
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_holding_the_open_limit_still_gets_new_streams() {
    within(async {
        let config = LinkConfig {
            streams_bidi_max: 16,
            ..config()
        };
        let addr = server(config.clone()).await;
        let dialer = corral_transport::Endpoint::client(
            loopback(),
            client_store(&pki().main, "alice"),
            config,
        )
        .unwrap();
        let link = tokio::time::timeout(STEP, dialer.connect_client(addr, "127.0.0.1"))
            .await
            .unwrap()
            .unwrap();
        let ask = |link: corral_transport::Link, seq: u64, keep: bool| async move {
            let (mut w, mut r) = tokio::time::timeout(STEP, link.open_bi())
                .await
                .unwrap_or_else(|_| panic!("stream {seq}: no stream credit within {STEP:?}"))
                .unwrap();
            w.send(&Ask { seq, keep }).await.unwrap();
            let back = tokio::time::timeout(STEP, r.read::<Ask>())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(back, Some(Ask { seq, keep }));
            (w, r)
        };
        // The long-lived ones (as a client's sessions are).
        let open = streams_open_max(16);
        let mut kept = Vec::new();
        for seq in 0..u64::from(open) {
            kept.push(ask(link.clone(), seq, true).await);
        }
        // Then many short ones, each dropped by both sides after its answer.
        for seq in 100..400 {
            drop(ask(link.clone(), seq, false).await);
        }
        // The long-lived ones stayed open throughout.
        drop(kept);
    })
    .await;
}
