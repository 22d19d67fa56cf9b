//! The new-sessions phase of `compare`: C loops, each opening a session (a
//! new connection: TCP for ZooKeeper, QUIC with a full mutual-TLS handshake
//! for corral) on node i mod N, then closing it, until the window ends.
//!
//! An operation is one session opened; its latency is the open (connect,
//! handshake, session created on the cluster). Each loop closes its session
//! in the background while it opens the next, and never has more than one
//! close outstanding.

use std::time::{Duration, Instant};

use crate::compare::{PhaseResult, Window};
use crate::compare_system::{Session, SystemAddress};

/// Pause after a failed open, so a refusing system is not spun on.
const RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Runs the phase with `clients` loops on the system at `address`.
pub(crate) async fn run_session_phase(
    address: &SystemAddress,
    clients: usize,
    window: Window,
    pids: &[u32],
    clock_ticks: u64,
) -> anyhow::Result<PhaseResult> {
    let mut loops = tokio::task::JoinSet::new();
    for index in 0..clients {
        loops.spawn(open_loop(address.clone(), index, clients, window));
    }
    crate::compare::measure(loops, window, pids, clock_ticks).await
}

/// Opens and closes sessions until the window ends; returns the open
/// latencies (µs) inside the window and the failures there.
async fn open_loop(
    address: SystemAddress,
    index: usize,
    loops: usize,
    window: Window,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut closing: Option<tokio::task::JoinHandle<()>> = None;
    let mut node = index;
    loop {
        let sent = Instant::now();
        if sent >= window.until {
            break;
        }
        let opened = Session::connect(&address, node).await;
        node = node.wrapping_add(loops);
        let done = Instant::now();
        let inside = done >= window.from && done <= window.until;
        match opened {
            Ok(session) => {
                if inside {
                    latencies.push(u32::try_from((done - sent).as_micros()).unwrap_or(u32::MAX));
                }
                if let Some(previous) = closing.take() {
                    let _ = previous.await;
                }
                closing = Some(tokio::spawn(async move {
                    let _ = session.close().await;
                }));
            }
            Err(_) => {
                if inside {
                    errors += 1;
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    if let Some(previous) = closing {
        let _ = previous.await;
    }
    (latencies, errors)
}
