//! Proves `LinkConfig::mtu_bytes_max` over real QUIC on loopback: a dialer
//! that asks for QUIC's minimum datagrams keeps them at 1,200 bytes on both
//! ends (no path-MTU discovery either way), while one that allows more finds
//! the larger size the path carries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use corral_transport::{Endpoint, Link, QUIC_MIN_DATAGRAM_BYTES};
use support::*;

/// How long path-MTU discovery may take to raise the size on loopback.
const DISCOVERY: Duration = Duration::from_secs(10);

fn dialer_with_mtu(mtu_bytes_max: u16) -> Endpoint {
    let config = corral_transport::LinkConfig {
        mtu_bytes_max,
        ..config()
    };
    Endpoint::client(loopback(), client_store(&pki().main, "alice"), config).unwrap()
}

/// Waits until both ends' path MTU exceeds 1,200 bytes, or `DISCOVERY` ends;
/// returns the last sizes seen.
async fn grown(link: &Link, server_side: &Link) -> (u16, u16) {
    let deadline = Instant::now() + DISCOVERY;
    loop {
        let sizes = (link.stats().mtu_bytes, server_side.stats().mtu_bytes);
        if (sizes.0 > QUIC_MIN_DATAGRAM_BYTES && sizes.1 > QUIC_MIN_DATAGRAM_BYTES)
            || Instant::now() >= deadline
        {
            return sizes;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_dialer_asking_for_the_minimum_keeps_both_ends_at_1200_bytes() {
    within(async {
        let (_server, addr, mut accepted) = server(node_store(&pki().main, 1));
        let dialer = dialer_with_mtu(QUIC_MIN_DATAGRAM_BYTES);
        let link = tokio::time::timeout(STEP, dialer.connect_client(addr, "localhost"))
            .await
            .unwrap()
            .unwrap();
        let server_side = next_accept(&mut accepted).await.unwrap();
        // Longer than discovery takes where it runs (see the test below).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(link.stats().mtu_bytes, QUIC_MIN_DATAGRAM_BYTES);
        assert_eq!(server_side.stats().mtu_bytes, QUIC_MIN_DATAGRAM_BYTES);
    })
    .await
}

#[tokio::test]
async fn a_dialer_allowing_more_finds_the_larger_size_on_both_ends() {
    within(async {
        let (_server, addr, mut accepted) = server(node_store(&pki().main, 1));
        let dialer = dialer_with_mtu(1452);
        let link = tokio::time::timeout(STEP, dialer.connect_client(addr, "localhost"))
            .await
            .unwrap()
            .unwrap();
        let server_side = next_accept(&mut accepted).await.unwrap();
        let (ours, theirs) = grown(&link, &server_side).await;
        assert!(
            ours > QUIC_MIN_DATAGRAM_BYTES && ours <= 1452,
            "dialer's path MTU {ours}"
        );
        assert!(
            theirs > QUIC_MIN_DATAGRAM_BYTES && theirs <= 1452,
            "server's path MTU {theirs}"
        );
    })
    .await
}
