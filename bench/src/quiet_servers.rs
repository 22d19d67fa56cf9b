//! Waiting for the servers to fall quiet before a phase, so that work one
//! system does after its phase (a JVM's garbage collection, a snapshot, a
//! log roll) runs on its own time, not in the next phase's window.

use std::time::{Duration, Instant};

use crate::process_cpu::cpu_time_us;

/// How often the servers' CPU time is read.
pub(crate) const SAMPLE: Duration = Duration::from_millis(500);
/// Quiet: all servers together used less than this share of one core over
/// the last sample (idle heartbeats and timers stay well under it).
const QUIET_SHARE_OF_A_CORE: f64 = 0.10;
/// A phase starts after this much waiting, quiet or not.
pub(crate) const LONGEST_WAIT: Duration = Duration::from_secs(20);

/// How the wait for quiet servers ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled {
    /// Time spent waiting.
    pub(crate) waited: Duration,
    /// Cores the servers used over the last sample.
    pub(crate) last_cores: f64,
    /// Whether they fell quiet (false: the longest wait ran out).
    pub(crate) quiet: bool,
}

/// Waits until `pids` together use under a tenth of one core over half a
/// second, or until twenty seconds have passed.
pub(crate) async fn until_quiet(pids: &[u32], clock_ticks: u64) -> anyhow::Result<Settled> {
    let start = Instant::now();
    let mut before = cpu_time_us(pids, clock_ticks)?;
    loop {
        let sampled_at = Instant::now();
        tokio::time::sleep(SAMPLE).await;
        let now = cpu_time_us(pids, clock_ticks)?;
        let last_cores =
            now.saturating_sub(before) as f64 / sampled_at.elapsed().as_micros() as f64;
        before = now;
        let quiet = last_cores < QUIET_SHARE_OF_A_CORE;
        if quiet || start.elapsed() >= LONGEST_WAIT {
            return Ok(Settled {
                waited: start.elapsed(),
                last_cores,
                quiet,
            });
        }
    }
}

impl std::fmt::Display for Settled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.quiet { "quiet" } else { "still busy" };
        write!(
            f,
            "servers {verdict} after {:.1} s ({:.2} cores over the last {} ms)",
            self.waited.as_secs_f64(),
            self.last_cores,
            SAMPLE.as_millis()
        )
    }
}

/// The rule `until_quiet` applies, in words, for the report.
pub(crate) fn rule() -> String {
    format!(
        "each phase starts once both systems' servers use under {QUIET_SHARE_OF_A_CORE} of a core over {} ms (waiting at most {} s)",
        SAMPLE.as_millis(),
        LONGEST_WAIT.as_secs()
    )
}
