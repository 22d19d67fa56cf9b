//! Throughput and handshake latency of one loopback link.
//!
//! - `frames_100B/writer`: 100-byte frames one way, pushed through a
//!   `FrameWriter` (coalesced, flushed every 256 KiB); elements/s = frames/s.
//! - `frames_100B/sender`: the same through a `FrameSender` task fed by a channel.
//! - `frames_64KiB/writer`: 64 KiB frames one way, one flush each; bytes/s.
//! - `handshake/full` and `handshake/resumed`: dial, mutual TLS 1.3, ALPN and
//!   identity checks, and the link hello, until the dialer holds a `Link`.
//!
//! Before criterion's groups, `cpu_costs` prints the same transfers measured in
//! process CPU time (both ends run in this process), which stays meaningful on
//! a machine shared with other work: the rate an otherwise idle 2-core machine
//! sustains is about 2 CPU-seconds per second divided by the CPU cost.
//!
//! Run: `cargo bench -p corral-transport --bench link_throughput`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral_certs::{CertPaths, CertStore, IssueOptions, init_ca, issue_node};
use corral_transport::{ALPN_PEER, Endpoint, ExpectServer, FrameSender, Link, LinkConfig};
use criterion::{Criterion, Throughput, criterion_group};
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
}

fn handshakes(c: &mut Criterion) {
    // One thread for both ends: a handshake is a chain of wake-ups, cheapest
    // without hops between threads.
    let fx = fixture(0);
    let mut group = c.benchmark_group("handshake");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("full", |b| b.iter(|| fx.rt.block_on(dial(&fx, false))));
    group.bench_function("resumed", |b| b.iter(|| fx.rt.block_on(dial(&fx, true))));
    group.finish();
}

/// Process CPU time (user + system) so far, in seconds (Linux).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn cpu_costs() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "cpu_costs (load average {})",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let fx = fixture(2);
    let link = fx.link();
    let runs: [(&str, Arc<Vec<u8>>, u64, Writer); 2] = [
        (
            "frames_100B/writer",
            Arc::new(vec![7u8; 90]),
            2_000_000,
            Writer::Feed,
        ),
        (
            "frames_64KiB/writer",
            Arc::new(vec![7u8; 64 << 10]),
            4_000,
            Writer::Send,
        ),
    ];
    for (name, data, count, how) in runs {
        send_batch(&fx, &link, &data, count / 10, how); // warm up
        let cpu0 = cpu_s();
        let wall = send_batch(&fx, &link, &data, count, how);
        let cpu = cpu_s() - cpu0;
        let bytes = (data.len() as f64 + 10.0) * count as f64;
        println!(
            "  {name}: wall {:.0} frames/s = {:.0} MB/s; CPU {:.2} us/frame, {:.0} frames/CPU-s = {:.0} MB/CPU-s",
            count as f64 / wall.as_secs_f64(),
            bytes / wall.as_secs_f64() / 1e6,
            cpu * 1e6 / count as f64,
            count as f64 / cpu,
            bytes / cpu / 1e6,
        );
    }
    let fx = fixture(0);
    for resumed in [false, true] {
        let count = 300u32;
        let mut best = Duration::MAX;
        let cpu0 = cpu_s();
        let start = Instant::now();
        for _ in 0..count {
            let one = Instant::now();
            fx.rt.block_on(dial(&fx, resumed));
            best = best.min(one.elapsed());
        }
        let cpu = cpu_s() - cpu0;
        println!(
            "  handshake/{}: wall mean {:?}, best {:?}; CPU {:.3} ms per handshake (both ends)",
            if resumed { "resumed" } else { "full" },
            start.elapsed() / count,
            best,
            cpu * 1e3 / f64::from(count),
        );
    }
}

/// One dial to completion (TLS, checks, hello), then closed.
async fn dial(fx: &Fixture, resumed: bool) {
    let link = if resumed {
        fx.dialer.connect_peer(fx.server_addr, 1).await.unwrap()
    } else {
        let mut tls = fx
            .dialer
            .client_tls(fx.server_addr, ALPN_PEER, ExpectServer::Node(1))
            .unwrap();
        tls.resumption = rustls::client::Resumption::disabled();
        fx.dialer
            .connect_with(
                fx.server_addr,
                "node-1.peer.corral",
                tls,
                ExpectServer::Node(1),
            )
            .await
            .unwrap()
    };
    link.close(corral_transport::CloseCode::Normal, "");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_secs(1));
    targets = frames, handshakes
}

fn main() {
    cpu_costs();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
