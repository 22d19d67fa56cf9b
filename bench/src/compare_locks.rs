//! The lock phases of `compare`: loops that take one shared lock and let it
//! go at once (a drop: the node is deleted in the background), until the
//! window ends. With one loop the latency is an acquire, which waits for the
//! loop's previous release; with many, the rate is the lock's hand-offs per
//! second (each release must reach the next waiter, which then sees itself
//! first).
//!
//! ZooKeeper is driven through zookeeper-client's lock (Curator's layout: an
//! ephemeral-sequential node per contender, each watching its predecessor),
//! corral through corral-client's `recipes::Lock` (the same algorithm).

use std::time::{Duration, Instant};

use crate::compare::{PhaseResult, Window};
use crate::compare_system::Session;

/// Longest a loop waits for one acquire and release before counting it failed.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the phase: one loop per session in `sessions`, all on the lock `dir`.
pub(crate) async fn run_lock_phase(
    sessions: &[Session],
    dir: &str,
    window: Window,
    pids: &[u32],
    clock_ticks: u64,
) -> anyhow::Result<PhaseResult> {
    let mut loops = tokio::task::JoinSet::new();
    for session in sessions {
        loops.spawn(lock_loop(session.clone(), dir.to_owned(), window));
    }
    crate::compare::measure(loops, window, pids, clock_ticks).await
}

/// Takes and releases the lock until the window ends; returns the latencies
/// (µs) of the rounds that ended inside the window and the failures there.
async fn lock_loop(session: Session, dir: String, window: Window) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    loop {
        let sent = Instant::now();
        if sent >= window.until {
            break;
        }
        let round = tokio::time::timeout(LOCK_TIMEOUT, session.lock_and_release(&dir)).await;
        let done = Instant::now();
        let inside = done >= window.from && done <= window.until;
        match round {
            Ok(Ok(())) if inside => {
                latencies.push(u32::try_from((done - sent).as_micros()).unwrap_or(u32::MAX));
            }
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => errors += u64::from(inside),
        }
    }
    (latencies, errors)
}
