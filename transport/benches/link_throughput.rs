//! Throughput and handshake latency of one loopback link.
//!
//! - `frames_100B/writer`: 100-byte frames one way, pushed through a
//!   `FrameWriter` (coalesced, flushed every 256 KiB); elements/s = frames/s.
//! - `frames_100B/sender`: the same through a `FrameSender` task fed by a channel.
//! - `frames_64KiB`: 64 KiB frames one way; bytes/s.
//! - `handshake/full` and `handshake/resumed`: dial, mutual TLS 1.3, ALPN and
//!   identity checks, and the link hello, until the dialer holds a `Link`.
//!
//! Run: `cargo bench -p corral-transport --bench link_throughput`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_certs::{CertPaths, CertStore, IssueOptions, init_ca, issue_node};
use corral_transport::{ALPN_PEER, Endpoint, ExpectServer, FrameSender, Link, LinkConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// A frame's body: a sequence number and opaque bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    seq: u64,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// The same frame, borrowing its bytes (how a sender avoids a copy).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PayloadRef<'a> {
    seq: u64,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

/// Marks the end of one measured batch.
const END: u64 = u64::MAX;

struct Fixture {
    rt: Runtime,
    server_addr: SocketAddr,
    dialer: Endpoint,
    /// The receiver reports each END marker here.
    done: std::sync::Mutex<mpsc::Receiver<()>>,
}

fn bench_config() -> LinkConfig {
    LinkConfig {
        cert_reload_poll_ms: 0,
        ..LinkConfig::default()
    }
}

fn fixture(worker_threads: usize) -> Fixture {
    fixture_with(worker_threads, bench_config())
}

fn fixture_with(worker_threads: usize, config: LinkConfig) -> Fixture {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "corral-bench-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    init_ca(&dir, &IssueOptions::ca()).unwrap();
    for id in [1, 2] {
        issue_node(&dir, id, &["127.0.0.1".into()], &IssueOptions::leaf()).unwrap();
    }
    let rt = if worker_threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads)
            .enable_all()
            .build()
            .unwrap()
    };
    let (done_tx, done) = mpsc::channel(1024);
    let (server_addr, dialer) = rt.block_on(async {
        let server = Endpoint::server(
            "127.0.0.1:0".parse().unwrap(),
            store(&dir, 1),
            config.clone(),
        )
        .unwrap();
        let server_addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                let done_tx = done_tx.clone();
                tokio::spawn(async move {
                    let Ok(link) = incoming.establish().await else {
                        return;
                    };
                    while let Ok(mut reader) = link.accept_uni().await {
                        let done_tx = done_tx.clone();
                        tokio::spawn(async move {
                            // Decoded borrowing the reader's buffer: no copy of the bytes.
                            while let Ok(Some(body)) = reader.read_frame().await {
                                let Ok(frame) = postcard::from_bytes::<PayloadRef<'_>>(body) else {
                                    return;
                                };
                                if frame.seq == END {
                                    let _ = done_tx.send(()).await;
                                }
                            }
                        });
                    }
                });
            }
        });
        let dialer =
            Endpoint::client("127.0.0.1:0".parse().unwrap(), store(&dir, 2), config).unwrap();
        (server_addr, dialer)
    });
    Fixture {
        rt,
        server_addr,
        dialer,
        done: std::sync::Mutex::new(done),
    }
}

fn store(dir: &std::path::Path, id: u64) -> Arc<CertStore> {
    CertStore::load(CertPaths::node(dir, id)).unwrap()
}

impl Fixture {
    fn link(&self) -> Link {
        self.rt
            .block_on(self.dialer.connect_peer(self.server_addr, 1))
            .unwrap()
    }

    fn wait_done(&self) {
        let mut done = self.done.lock().unwrap();
        self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(60), done.recv())
                .await
                .unwrap()
                .unwrap();
        });
    }
}

/// How a measured batch is written.
#[derive(Clone, Copy)]
enum Writer {
    /// `FrameWriter::feed`: coalesced, flushed every 256 KiB.
    Feed,
    /// `FrameWriter::send`: one flush per frame.
    Send,
    /// A `FrameSender` task fed through its bounded channel.
    Sender,
}

/// Sends `count` frames of `data` plus an END marker on a new stream, from a
/// task of the runtime (as an actor would), and waits for the receiver.
fn send_batch(fx: &Fixture, link: &Link, data: &Arc<Vec<u8>>, count: u64, how: Writer) -> Duration {
    let mut writer = fx.rt.block_on(link.open_uni()).unwrap();
    let data = data.clone();
    let start = Instant::now();
    let task = fx.rt.spawn(async move {
        match how {
            Writer::Feed | Writer::Send => {
                for seq in 0..count {
                    let frame = PayloadRef { seq, data: &data };
                    match how {
                        Writer::Feed => writer.feed(&frame).await.unwrap(),
                        _ => writer.send(&frame).await.unwrap(),
                    }
                }
                writer
                    .send(&PayloadRef {
                        seq: END,
                        data: &[],
                    })
                    .await
                    .unwrap();
                writer.finish().await.unwrap();
            }
            Writer::Sender => {
                let (sender, task) = FrameSender::spawn(writer, 4096);
                for seq in 0..count {
                    sender
                        .send(Payload {
                            seq,
                            data: data.to_vec(),
                        })
                        .await
                        .unwrap();
                }
                sender
                    .send(Payload {
                        seq: END,
                        data: Vec::new(),
                    })
                    .await
                    .unwrap();
                drop(sender);
                task.await.unwrap().unwrap();
            }
        }
    });
    fx.rt.block_on(task).unwrap();
    fx.wait_done();
    start.elapsed()
}

fn frames(c: &mut Criterion) {
    let fx = fixture(2);
    let link = fx.link();
    // 90 bytes + seq (1..10 bytes) + length byte: a ~100-byte frame body.
    let data_100 = Arc::new(vec![7u8; 90]);
    let mut group = c.benchmark_group("frames_100B");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("writer", |b| {
        b.iter_custom(|iters| send_batch(&fx, &link, &data_100, iters, Writer::Feed))
    });
    group.bench_function("sender", |b| {
        b.iter_custom(|iters| send_batch(&fx, &link, &data_100, iters, Writer::Sender))
    });
    group.finish();

    let data_64k = Arc::new(vec![7u8; 64 << 10]);
    let mut group = c.benchmark_group("frames_64KiB");
    group.throughput(Throughput::Bytes(64 << 10));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("writer", |b| {
        b.iter_custom(|iters| send_batch(&fx, &link, &data_64k, iters, Writer::Send))
    });
    group.finish();

    // The same over a link allowed loopback's large MTU (mtu_bytes_max 16 KiB).
    let jumbo = fixture_with(
        2,
        LinkConfig {
            mtu_bytes_max: 16_384,
            ..bench_config()
        },
    );
    let jumbo_link = jumbo.link();
    // Let path-MTU discovery climb before measuring.
    send_batch(&jumbo, &jumbo_link, &data_64k, 2_000, Writer::Send);
    let mut group = c.benchmark_group("frames_64KiB_mtu16k");
    group.throughput(Throughput::Bytes(64 << 10));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("writer", |b| {
        b.iter_custom(|iters| send_batch(&jumbo, &jumbo_link, &data_64k, iters, Writer::Send))
    });
    group.finish();
}

fn handshakes(c: &mut Criterion) {
    // One thread for both ends: a handshake is a chain of wake-ups, cheapest
    // without hops between threads.
    let fx = fixture(0);
    let mut group = c.benchmark_group("handshake");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("full", |b| {
        b.iter(|| {
            fx.rt.block_on(async {
                let mut tls = fx
                    .dialer
                    .client_tls(ALPN_PEER, ExpectServer::Node(1))
                    .unwrap();
                tls.resumption = rustls::client::Resumption::disabled();
                let link = fx
                    .dialer
                    .connect_with(
                        fx.server_addr,
                        "node-1.peer.corral",
                        tls,
                        ExpectServer::Node(1),
                    )
                    .await
                    .unwrap();
                link.close(corral_transport::CloseCode::Normal, "");
            })
        })
    });
    group.bench_function("resumed", |b| {
        b.iter(|| {
            fx.rt.block_on(async {
                let link = fx.dialer.connect_peer(fx.server_addr, 1).await.unwrap();
                link.close(corral_transport::CloseCode::Normal, "");
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1));
    targets = frames, handshakes
}
criterion_main!(benches);
