//! The watch fan-out phase of `compare`: W sessions (one watcher each, as a
//! ZooKeeper session holds one watch per znode) keep a persistent watch on one
//! znode; a writer changes it R times, each time once every watcher heard the
//! last change (or a round timed out).
//!
//! An operation is one event delivered; its latency runs from just before the
//! writer's setData is sent to the watcher's receipt of the event. A few
//! listener tasks each poll a share of the watch streams (only those with
//! something new), so the load generator spends its CPU on the clients, not
//! on waking one task per watcher.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Notify;

use crate::compare::PhaseResult;
use crate::compare_system::{Session, SystemAddress, Watcher};
use crate::percentile::percentile;
use crate::process_cpu::cpu_time_us;
use crate::quiet_servers::{self, until_quiet};

/// Sessions opened at once while setting up the watchers.
const OPEN_CONCURRENCY: usize = 64;
/// Tasks listening to the watchers' streams.
const LISTENERS: usize = 16;
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
    /// Every server's PID (of both systems): the rounds start once they are quiet.
    pub(crate) quiet_pids: &'a [u32],
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
    let mut shares: Vec<Vec<Watcher>> = (0..LISTENERS).map(|_| Vec::new()).collect();
    for (i, (session, watcher)) in sessions.into_iter().enumerate() {
        kept.push(session);
        shares[i % LISTENERS].push(watcher);
    }
    for share in shares {
        let round_done = RoundDone {
            heard: heard.clone(),
            wake: wake.clone(),
            watchers: f.watchers,
        };
        listeners.spawn(listen(share, f.rounds, round_done));
    }
    // The first round starts once the servers have finished setting the
    // watches up (sessions opened, watches set: seconds of work for 10,000),
    // as every phase starts on quiet servers; the listeners meanwhile poll
    // each stream once (10,000 first polls cost this one-thread load
    // generator tens of milliseconds).
    let settled = until_quiet(f.quiet_pids, f.clock_ticks).await?;
    eprintln!("{}: watches set, {settled}", f.address.kind.name());
    let me = std::process::id();
    let server_before = cpu_time_us(f.pids, f.clock_ticks)?;
    let bench_before = cpu_time_us(&[me], f.clock_ticks)?;
    let others: Vec<u32> = f
        .quiet_pids
        .iter()
        .copied()
        .filter(|pid| !f.pids.contains(pid))
        .collect();
    let round_cpu = RoundCpu {
        servers: f.pids,
        others: &others,
        bench: me,
        clock_ticks: f.clock_ticks,
    };
    let first = Instant::now();
    let mut starts = Vec::with_capacity(f.rounds);
    let mut cpu_per_round = Vec::with_capacity(f.rounds);
    for round in 0..f.rounds {
        let cpu_before = round_cpu.read()?;
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
        cpu_per_round.push(round_cpu.read()?.since(cpu_before));
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
    let mut per_round: Vec<Vec<u32>> = (0..f.rounds)
        .map(|_| Vec::with_capacity(f.watchers))
        .collect();
    while let Some(joined) = listeners.join_next().await {
        for arrivals in joined? {
            result.errors += (f.rounds - arrivals.len()) as u64;
            for ((arrived, start), round) in arrivals.iter().zip(&starts).zip(&mut per_round) {
                let us = arrived.saturating_duration_since(*start).as_micros();
                round.push(u32::try_from(us).unwrap_or(u32::MAX));
            }
        }
    }
    for (r, (latencies, cpu)) in per_round.iter_mut().zip(&cpu_per_round).enumerate() {
        latencies.sort_unstable();
        report_round(f.address.kind.name(), r, latencies, cpu);
    }
    result.latencies_us = per_round.concat();
    result.latencies_us.sort_unstable();
    result.ops = result.latencies_us.len() as u64;
    close_all(kept).await;
    Ok(result)
}

/// The processes whose CPU time a round is charged with, apart.
struct RoundCpu<'a> {
    /// This system's servers.
    servers: &'a [u32],
    /// The other system's servers (idle, unless something of theirs runs late).
    others: &'a [u32],
    /// The load generator.
    bench: u32,
    clock_ticks: u64,
}

/// CPU time in microseconds: this system's servers, the other system's, the load generator.
#[derive(Clone, Copy)]
struct CpuUs {
    servers: u64,
    others: u64,
    bench: u64,
}

impl RoundCpu<'_> {
    fn read(&self) -> anyhow::Result<CpuUs> {
        Ok(CpuUs {
            servers: cpu_time_us(self.servers, self.clock_ticks)?,
            others: cpu_time_us(self.others, self.clock_ticks)?,
            bench: cpu_time_us(&[self.bench], self.clock_ticks)?,
        })
    }
}

impl CpuUs {
    fn since(self, before: CpuUs) -> CpuUs {
        CpuUs {
            servers: self.servers.saturating_sub(before.servers),
            others: self.others.saturating_sub(before.others),
            bench: self.bench.saturating_sub(before.bench),
        }
    }
}

/// Prints how one round's events spread out in time (when the first, the
/// median and the last arrived: a slow start and a long tail look alike in
/// p99) and the CPU time each side spent meanwhile (to 10 ms).
fn report_round(system: &str, round: usize, sorted_us: &[u32], cpu: &CpuUs) {
    let ms = |q: f64| f64::from(percentile(sorted_us, q)) / 1e3;
    eprintln!(
        "{system}: round {round}: {} events, ms after the write: first {:.1}, p10 {:.1}, p50 {:.1}, p90 {:.1}, p99 {:.1}, last {:.1}; CPU ms: servers {}, other system {}, load generator {}",
        sorted_us.len(),
        ms(0.0),
        ms(0.1),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0),
        cpu.servers / 1000,
        cpu.others / 1000,
        cpu.bench / 1000
    );
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

/// The count of events heard, shared by the listeners, and the writer's
/// wake-up once a round's last event is in.
struct RoundDone {
    heard: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    watchers: usize,
}

impl RoundDone {
    /// Counts one event; wakes the writer only when it completes a round (a
    /// wake-up per event would cost this one-thread load generator a task
    /// poll per event).
    fn heard_one(&self) {
        let heard = self.heard.fetch_add(1, Ordering::AcqRel) + 1;
        if heard % self.watchers.max(1) == 0 {
            self.wake.notify_one();
        }
    }
}

/// Waits for `rounds` changes on each of `watchers`; returns, per watcher,
/// when each arrived (fewer if its stream failed, or nothing arrived on any
/// of them for a round's timeout).
async fn listen(watchers: Vec<Watcher>, rounds: usize, round_done: RoundDone) -> Vec<Vec<Instant>> {
    use futures_util::StreamExt as _;
    let mut arrivals: Vec<Vec<Instant>> = watchers
        .iter()
        .map(|_| Vec::with_capacity(rounds))
        .collect();
    let streams = watchers.into_iter().enumerate().map(|(i, watcher)| {
        let changes = futures_util::stream::unfold(watcher, |mut w| async move {
            let change = w.next_change().await;
            Some((change, w))
        });
        // Each watcher's stream ends after its rounds or its first failure.
        Box::pin(
            changes
                .take(rounds)
                .take_while(|c| std::future::ready(c.is_ok()))
                .map(move |_| i),
        )
    });
    let mut all = futures_util::stream::select_all(streams);
    // The first event comes after the wait for quiet servers, then a round.
    let mut wait = quiet_servers::LONGEST_WAIT + quiet_servers::SAMPLE + ROUND_TIMEOUT;
    while let Ok(Some(i)) = tokio::time::timeout(wait, all.next()).await {
        wait = ROUND_TIMEOUT;
        arrivals[i].push(Instant::now());
        round_done.heard_one();
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
