//! Round trips of one 100-byte frame over a mutual-TLS link on loopback, one
//! in flight: the floor under any corral request on this machine (a read
//! needs one such round trip, a write two plus the disk).
//!
//! `cargo run --release -p corral-transport --example link_echo [ROUND_TRIPS]`
//!
//! The server and the client each run a one-thread runtime on a thread of
//! their own, as the nodes that `corral dev` starts do.

use std::error::Error;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use corral_certs::{CertPaths, CertStore, IssueOptions, init_ca, issue_client, issue_node};
use corral_transport::{CloseCode, Endpoint, Link, LinkConfig};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Round trips measured unless the first argument says otherwise.
const ROUND_TRIPS_DEFAULT: usize = 20_000;
/// Round trips run before measuring (handshake done, caches warm).
const WARM_UP: usize = 1_000;
/// Bytes of each frame's payload.
const PAYLOAD_BYTES: usize = 100;

fn main() -> Result<()> {
    let round_trips = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("ROUND_TRIPS {n:?}: {e}"))?,
        None => ROUND_TRIPS_DEFAULT,
    };
    if round_trips == 0 {
        return Err("ROUND_TRIPS must be above 0".into());
    }
    let dir = std::env::temp_dir().join(format!("corral-link-echo-{}", std::process::id()));
    let outcome = run(&dir, round_trips);
    let _ = std::fs::remove_dir_all(&dir);
    let mut latencies_us = outcome?;
    latencies_us.sort_unstable();
    let at = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q) as usize];
    println!(
        "{} round trips of {PAYLOAD_BYTES} B, one in flight: p50 {} us, p90 {} us, p99 {} us",
        latencies_us.len(),
        at(0.5),
        at(0.9),
        at(0.99)
    );
    Ok(())
}

fn run(dir: &Path, round_trips: usize) -> Result<Vec<u64>> {
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    init_ca(dir, &IssueOptions::ca())?;
    issue_node(dir, 1, &hosts, &IssueOptions::leaf())?;
    issue_client(dir, "echo", &IssueOptions::leaf())?;
    let config = LinkConfig {
        cert_reload_poll_ms: 0,
        ..LinkConfig::default()
    };
    let store = CertStore::load(CertPaths::node(dir, 1))?;
    let server_config = config.clone();
    // An endpoint binds inside the runtime that drives it: the server's
    // thread makes its own and sends back where it listens.
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let echo = std::thread::spawn(move || -> Result<()> {
        one_thread()?.block_on(async {
            let server = Endpoint::server("127.0.0.1:0".parse()?, store, server_config)?;
            let _ = bound_tx.send(server.local_addr()?);
            let incoming = server.accept().await.ok_or("the server endpoint closed")?;
            echo_frames(incoming.establish().await?).await
        })
    });
    let Ok(address) = bound_rx.recv() else {
        echo.join().map_err(|_| "the echo thread panicked")??;
        return Err("the echo server did not start".into());
    };
    let measured = one_thread()?.block_on(async {
        let client = Endpoint::client(
            "127.0.0.1:0".parse()?,
            CertStore::load(CertPaths::client(dir, "echo"))?,
            config,
        )?;
        time_round_trips(&client, address, round_trips).await
    });
    echo.join().map_err(|_| "the echo thread panicked")??;
    measured
}

fn one_thread() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Sends every frame back until the client ends the stream.
async fn echo_frames(link: Link) -> Result<()> {
    let (mut writer, mut reader) = link.accept_bi().await?;
    while let Some(frame) = reader.read::<Vec<u8>>().await? {
        writer.send(&frame).await?;
    }
    writer.finish().await?;
    // Until the client has the end of the stream and closes the link.
    link.closed().await;
    Ok(())
}

async fn time_round_trips(
    client: &Endpoint,
    server: SocketAddr,
    round_trips: usize,
) -> Result<Vec<u64>> {
    let link = client.connect_client(server, "localhost").await?;
    let (mut writer, mut reader) = link.open_bi().await?;
    let payload = vec![7u8; PAYLOAD_BYTES];
    let mut latencies_us = Vec::with_capacity(round_trips);
    for i in 0..WARM_UP + round_trips {
        let start = Instant::now();
        writer.send(&payload).await?;
        let answer = tokio::time::timeout(Duration::from_secs(5), reader.read::<Vec<u8>>())
            .await
            .map_err(|_| "no echo within 5 s")??;
        if answer.as_deref() != Some(payload.as_slice()) {
            return Err("the echo differs from the frame sent".into());
        }
        if i >= WARM_UP {
            latencies_us.push(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
    }
    // Both ends finish their streams before the link goes.
    writer.finish().await?;
    if reader.read::<Vec<u8>>().await?.is_some() {
        return Err("an echo nobody sent".into());
    }
    link.close(CloseCode::Normal, "done");
    client.wait_idle().await;
    Ok(latencies_us)
}
