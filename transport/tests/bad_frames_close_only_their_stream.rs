//! Proves the framing limits over real QUIC: a header declaring 4 GiB is refused
//! before anything is allocated for it, a truncated or garbage frame is a decode
//! error, and each ends only its own stream; the same connection's other
//! streams and other connections go on being served. Also proves that frames
//! pushed through the coalescing sender arrive complete and in order, that a
//! frame encoded once goes out on many streams in order with the others, and
//! that frames already buffered are read without waiting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_transport::frame::{READ_BUFFER_BYTES_INITIAL, encode_frame};
use corral_transport::{CloseCode, FrameSender, Link, LinkConfig, TransportError};
use serde::{Deserialize, Serialize};
use support::*;
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Echo {
    seq: u64,
    text: String,
}

/// An echo server: every bi stream echoes `Echo` frames; a stream's error is
/// reported with the reader's buffer size, and that stream alone is stopped.
async fn echo_server() -> (
    std::net::SocketAddr,
    mpsc::Receiver<(TransportError, usize)>,
) {
    let store = node_store(&pki().main, 1);
    let config = LinkConfig {
        frame_bytes_max: 1 << 20,
        ..config()
    };
    let endpoint = corral_transport::Endpoint::server(loopback(), store, config).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (errors_tx, errors) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let errors_tx = errors_tx.clone();
            tokio::spawn(async move {
                let Ok(link) = incoming.establish().await else {
                    return;
                };
                while let Ok((mut writer, mut reader)) = link.accept_bi().await {
                    let errors_tx = errors_tx.clone();
                    tokio::spawn(async move {
                        loop {
                            match reader.read::<Echo>().await {
                                Ok(Some(msg)) => {
                                    if writer.send(&msg).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(None) => return,
                                Err(e) => {
                                    reader.stop(CloseCode::Protocol);
                                    writer.reset(CloseCode::Protocol);
                                    let _ =
                                        errors_tx.send((e, reader.buffer_capacity_bytes())).await;
                                    return;
                                }
                            }
                        }
                    });
                }
            });
        }
        drop(endpoint);
    });
    (addr, errors)
}

async fn link_to(addr: std::net::SocketAddr) -> Link {
    let dialer = dialer(node_store(&pki().main, 2));
    tokio::time::timeout(STEP, dialer.connect_peer(addr, 1))
        .await
        .unwrap()
        .unwrap()
}

/// Sends raw bytes on a new stream of `link`, then finishes it.
async fn send_raw(link: &Link, bytes: &[u8]) {
    let (mut send, _recv) = link.connection().open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    send.finish().unwrap();
    // Keep the receive half alive until the server has read.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
}

/// A link to `addr` whose own frames may carry at most 1,024 bytes (the
/// dialer is returned too: the link lives as long as it does).
async fn link_sending_at_most_1024(
    addr: std::net::SocketAddr,
) -> (corral_transport::Endpoint, Link) {
    let small = LinkConfig {
        frame_bytes_max: 1024,
        ..config()
    };
    let dialer =
        corral_transport::Endpoint::client(loopback(), node_store(&pki().main, 2), small).unwrap();
    let link = dialer.connect_peer(addr, 1).await.unwrap();
    (dialer, link)
}

async fn assert_echo_works(link: &Link) {
    let (mut writer, mut reader) = link.open_bi().await.unwrap();
    let msg = Echo {
        seq: 7,
        text: "still serving".into(),
    };
    writer.send(&msg).await.unwrap();
    let back = tokio::time::timeout(STEP, reader.read::<Echo>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back, Some(msg));
}

async fn next_error(
    errors: &mut mpsc::Receiver<(TransportError, usize)>,
) -> (TransportError, usize) {
    tokio::time::timeout(STEP, errors.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_frame_declaring_4_gib_is_refused_without_allocating_it() {
    within(async {
        let (addr, mut errors) = echo_server().await;
        let link = link_to(addr).await;
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"tiny");
        send_raw(&link, &bytes).await;
        let (err, buffer_bytes) = next_error(&mut errors).await;
        assert!(
            matches!(
                err,
                TransportError::FrameTooLarge {
                    declared_bytes: 4_294_967_295,
                    frame_bytes_max: 1_048_576,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            buffer_bytes <= READ_BUFFER_BYTES_INITIAL,
            "reader grew to {buffer_bytes} bytes"
        );
        assert_echo_works(&link).await;
        assert_echo_works(&link_to(addr).await).await;
    })
    .await
}

#[tokio::test]
async fn a_truncated_frame_is_an_error_and_the_endpoint_keeps_serving() {
    within(async {
        let (addr, mut errors) = echo_server().await;
        let link = link_to(addr).await;
        let mut bytes = 100u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[1; 10]);
        send_raw(&link, &bytes).await;
        let (err, _) = next_error(&mut errors).await;
        assert!(
            matches!(
                err,
                TransportError::Truncated {
                    buffered_bytes: 14,
                    ..
                }
            ),
            "{err}"
        );
        assert_echo_works(&link).await;
        assert_echo_works(&link_to(addr).await).await;
    })
    .await
}

#[tokio::test]
async fn a_garbage_frame_is_a_decode_error_and_the_endpoint_keeps_serving() {
    within(async {
        let (addr, mut errors) = echo_server().await;
        let link = link_to(addr).await;
        let mut bytes = 8u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0xff; 8]);
        send_raw(&link, &bytes).await;
        let (err, _) = next_error(&mut errors).await;
        assert!(matches!(err, TransportError::Decode { .. }), "{err}");
        assert!(
            err.to_string().contains("127.0.0.1"),
            "the error names the peer: {err}"
        );
        assert_echo_works(&link).await;
        assert_echo_works(&link_to(addr).await).await;
    })
    .await
}

#[tokio::test]
async fn coalesced_frames_arrive_complete_and_in_order() {
    within(async {
        let (addr, _errors) = echo_server().await;
        let link = link_to(addr).await;
        let (writer, mut reader) = link.open_bi().await.unwrap();
        let (sender, task) = FrameSender::<Echo>::spawn(writer, 256);
        let count = 5_000u64;
        let producer = tokio::spawn(async move {
            for seq in 0..count {
                sender
                    .send(Echo {
                        seq,
                        text: "x".repeat((seq % 300) as usize),
                    })
                    .await
                    .unwrap();
            }
        });
        for seq in 0..count {
            let msg = tokio::time::timeout(STEP, reader.read::<Echo>())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(msg.seq, seq);
            assert_eq!(msg.text.len(), (seq % 300) as usize);
        }
        producer.await.unwrap();
        tokio::time::timeout(STEP, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            tokio::time::timeout(STEP, reader.read::<Echo>())
                .await
                .unwrap()
                .unwrap(),
            None
        );
    })
    .await
}

#[tokio::test]
async fn a_frame_encoded_once_is_sent_on_many_streams_in_order_with_the_others() {
    within(async {
        let (addr, _errors) = echo_server().await;
        let (_dialer, link) = link_sending_at_most_1024(addr).await;
        let shared_msg = Echo {
            seq: 5,
            text: "one encoding for every stream".into(),
        };
        let shared = encode_frame(&shared_msg).unwrap();
        for _stream in 0..3 {
            let (mut writer, mut reader) = link.open_bi().await.unwrap();
            let before = Echo {
                seq: 4,
                text: "pushed".into(),
            };
            // Alone (handed to quinn as is), after a pushed frame (copied
            // behind it), and before one.
            writer.push_frame(&shared).unwrap();
            writer.flush().await.unwrap();
            writer.push(&before).unwrap();
            writer.push_frame(&shared).unwrap();
            writer.push(&before).unwrap();
            writer.flush().await.unwrap();
            for want in [&shared_msg, &before, &shared_msg, &before] {
                let got = tokio::time::timeout(STEP, reader.read::<Echo>())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(got.as_ref(), Some(want));
            }
        }
        // A shared frame above this stream's limit is refused, and nothing of
        // it stays buffered.
        let big = encode_frame(&Echo {
            seq: 6,
            text: "x".repeat(2000),
        })
        .unwrap();
        let (mut writer, mut reader) = link.open_bi().await.unwrap();
        let err = writer.push_frame(&big).unwrap_err();
        assert!(
            matches!(err, TransportError::Encode { .. }) && err.to_string().contains("1024"),
            "{err}"
        );
        assert_eq!(writer.buffered_bytes(), 0);
        writer.send(&shared_msg).await.unwrap();
        assert_eq!(reader.read::<Echo>().await.unwrap(), Some(shared_msg));
    })
    .await
}

#[tokio::test]
async fn an_oversized_frame_is_refused_by_the_sender_and_the_stream_goes_on() {
    within(async {
        let (addr, _errors) = echo_server().await;
        let (_dialer, link) = link_sending_at_most_1024(addr).await;
        let (mut writer, mut reader) = link.open_bi().await.unwrap();
        let big = Echo {
            seq: 1,
            text: "x".repeat(2000),
        };
        let err = writer.push(&big).unwrap_err();
        assert!(
            matches!(err, TransportError::Encode { .. }) && err.to_string().contains("1024"),
            "{err}"
        );
        assert_eq!(
            writer.buffered_bytes(),
            0,
            "nothing of the refused frame stays buffered"
        );
        let ok = Echo {
            seq: 2,
            text: "fits".into(),
        };
        writer.send(&ok).await.unwrap();
        assert_eq!(reader.read::<Echo>().await.unwrap(), Some(ok));
    })
    .await
}

#[tokio::test]
async fn buffered_frames_are_read_without_waiting_and_later_ones_are_awaited() {
    let store = node_store(&pki().main, 1);
    let endpoint = corral_transport::Endpoint::server(loopback(), store, config()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (seen_tx, mut seen) = mpsc::channel(8);
    tokio::spawn(async move {
        let Some(incoming) = endpoint.accept().await else {
            return;
        };
        let link = incoming.establish().await.unwrap();
        let (_writer, mut reader) = link.accept_bi().await.unwrap();
        // Everything the client sent has arrived by now.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let first = reader.read::<Echo>().await.unwrap().unwrap();
        let mut buffered = vec![first.seq];
        while let Some(msg) = reader.try_read_buffered::<Echo>().unwrap() {
            buffered.push(msg.seq);
        }
        seen_tx.send(buffered).await.unwrap();
        // The fourth frame is sent only now: read() waits for it.
        let fourth = reader.read::<Echo>().await.unwrap().unwrap();
        seen_tx.send(vec![fourth.seq]).await.unwrap();
        drop(endpoint);
    });

    let link = link_to(addr).await;
    let (mut writer, _reader) = link.open_bi().await.unwrap();
    for seq in 0..3 {
        writer
            .feed(&Echo {
                seq,
                text: "batch".into(),
            })
            .await
            .unwrap();
    }
    writer.flush().await.unwrap();
    let seen_first = tokio::time::timeout(STEP, seen.recv()).await.unwrap();
    assert_eq!(seen_first, Some(vec![0, 1, 2]));
    writer
        .send(&Echo {
            seq: 3,
            text: "late".into(),
        })
        .await
        .unwrap();
    let seen_last = tokio::time::timeout(STEP, seen.recv()).await.unwrap();
    assert_eq!(seen_last, Some(vec![3]));
}
