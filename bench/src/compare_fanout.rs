//! The watch fan-out phase of `compare`: W sessions (one watcher each, as a
//! ZooKeeper session holds one watch per znode) keep a persistent watch on one
//! znode; a writer changes it R times, each time once every watcher heard the
//! last change (or a round timed out).
//!
//! An operation is one event delivered; its latency runs from just before the
//! writer's setData is sent to the watcher's receipt of the event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Notify;

use crate::compare::PhaseResult;
use crate::compare_system::{Session, SystemAddress, Watcher};
use crate::process_cpu::cpu_time_us;

/// Sessions opened at once while setting up the watchers.
const OPEN_CONCURRENCY: usize = 64;
/// Sessions closed at once afterwards.
const CLOSE_CONCURRENCY: usize = 256;
/// Longest wait for every watcher to hear one change.
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between rounds, so one round's tail does not overlap the next.
const ROUND_PAUSE: Duration = Duration::from_millis(200);

/// What the phase is given.
pub(crate) struct Fanout<'a> {
    /// The system.
    pub(crate) address: &'a SystemAddress,
    /// The session that writes.
    pub(crate) writer: &'a Session,
    /// The watched znode.
    pub(crate) path: &'a str,
    /// Watchers (sessions).
    pub(crate) watchers: usize,
    /// Changes made.
    pub(crate) rounds: usize,
    /// The servers' PIDs, for their CPU time.
    pub(crate) pids: &'a [u32],
    /// `getconf CLK_TCK`.
    pub(crate) clock_ticks: u64,
}

/// Runs the phase.
pub(crate) async fn run_fanout(f: Fanout<'_>) -> anyhow::Result<PhaseResult> {
    f.writer.ensure(f.path, b"0").await?;
    let setup = Instant::now();
    let sessions = open_watchers(f.address, f.path, f.watchers).await?;
    eprintln!(
        "{}: {} watchers ready in {:.1} s",
        f.address.kind.name(),
        sessions.len(),
        setup.elapsed().as_secs_f64()
    );
    let heard = Arc::new(AtomicUsize::new(0));
    let wake = Arc::new(Notify::new());
    let mut listeners = tokio::task::JoinSet::new();
    let mut kept = Vec::with_capacity(sessions.len());
    for (session, watcher) in sessions {
        kept.push(session);
        listeners.spawn(listen(watcher, f.rounds, heard.clone(), wake.clone()));
    }
    let me = std::process::id();
    let server_before = cpu_time_us(f.pids, f.clock_ticks)?;
    let bench_before = cpu_time_us(&[me], f.clock_ticks)?;
    let first = Instant::now();
    let mut starts = Vec::with_capacity(f.rounds);
    for round in 0..f.rounds {
        starts.push(Instant::now());
        f.writer
            .write(f.path, round.to_string().as_bytes())
            .await
            .context("the fan-out writer's setData")?;
        let target = f.watchers * (round + 1);
        let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
        while heard.load(Ordering::Acquire) < target {
            if tokio::time::timeout_at(deadline, wake.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    let server_after = cpu_time_us(f.pids, f.clock_ticks)?;
    let bench_after = cpu_time_us(&[me], f.clock_ticks)?;
    let mut result = PhaseResult {
        seconds: first.elapsed().as_secs_f64(),
        server_cpu_us: server_after.saturating_sub(server_before),
        bench_cpu_us: bench_after.saturating_sub(bench_before),
        ..PhaseResult::default()
    };
    while let Some(joined) = listeners.join_next().await {
        let arrivals = joined?;
        result.errors += (f.rounds - arrivals.len()) as u64;
        for (arrived, start) in arrivals.iter().zip(&starts) {
            let us = arrived.saturating_duration_since(*start).as_micros();
            result
                .latencies_us
                .push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }
    result.latencies_us.sort_unstable();
    result.ops = result.latencies_us.len() as u64;
    close_all(kept).await;
    Ok(result)
}

/// Opens `count` sessions, session i on node i mod N, each watching `path`.
async fn open_watchers(
    address: &SystemAddress,
    path: &str,
    count: usize,
) -> anyhow::Result<Vec<(Session, Watcher)>> {
    let mut opened = Vec::with_capacity(count);
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..count {
        if pending.len() >= OPEN_CONCURRENCY {
            if let Some(joined) = pending.join_next().await {
                opened.push(joined??);
            }
        }
        let (address, path) = (address.clone(), path.to_owned());
        pending.spawn(async move {
            let session = Session::connect(&address, i).await?;
            let watcher = session
                .watch(&path)
                .await
                .with_context(|| format!("watcher {i}: cannot watch {path}"))?;
            anyhow::Ok((session, watcher))
        });
    }
    while let Some(joined) = pending.join_next().await {
        opened.push(joined??);
    }
    Ok(opened)
}

/// Waits for `rounds` changes; returns when each arrived (fewer if one failed
/// or a round timed out).
async fn listen(
    mut watcher: Watcher,
    rounds: usize,
    heard: Arc<AtomicUsize>,
    wake: Arc<Notify>,
) -> Vec<Instant> {
    let mut arrivals = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        match tokio::time::timeout(ROUND_TIMEOUT, watcher.next_change()).await {
            Ok(Ok(())) => arrivals.push(Instant::now()),
            Ok(Err(_)) | Err(_) => break,
        }
        heard.fetch_add(1, Ordering::AcqRel);
        wake.notify_one();
    }
    arrivals
}

/// Closes every session, a bounded number at a time.
async fn close_all(sessions: Vec<Session>) {
    let mut closing = tokio::task::JoinSet::new();
    for session in sessions {
        if closing.len() >= CLOSE_CONCURRENCY {
            let _ = closing.join_next().await;
        }
        closing.spawn(session.close());
    }
    while closing.join_next().await.is_some() {}
}
