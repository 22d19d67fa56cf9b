//! CPU time of running processes, from `/proc/PID/stat` (user + system), so a
//! phase can charge the servers' CPU to the operations it completed.

use anyhow::{Context, bail};

/// The summed user + system CPU time of `pids`, in microseconds.
///
/// `clock_ticks_per_second` is `getconf CLK_TCK` (100 on Linux nearly always);
/// the kernel counts in those ticks, so one reading is exact to 10 ms.
pub(crate) fn cpu_time_us(pids: &[u32], clock_ticks_per_second: u64) -> anyhow::Result<u64> {
    let mut ticks = 0u64;
    for &pid in pids {
        ticks += process_ticks(pid)?;
    }
    Ok(ticks.saturating_mul(1_000_000) / clock_ticks_per_second.max(1))
}

/// utime + stime of one process, in clock ticks.
fn process_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {path}: is process {pid} running?"))?;
    parse_stat_ticks(&text).with_context(|| format!("unexpected format in {path}"))
}

/// utime (field 14) + stime (field 15) of a `/proc/PID/stat` line. The
/// command name (field 2) is in parentheses and may hold spaces, so fields
/// are counted from the last `)`.
fn parse_stat_ticks(stat: &str) -> anyhow::Result<u64> {
    let after_name = stat
        .rfind(')')
        .map(|at| &stat[at + 1..])
        .context("no `)` after the command name")?;
    // After the name: field 3 (state) is index 0, so field N is index N - 3.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    if fields.len() < 13 {
        bail!("only {} fields after the command name", fields.len());
    }
    let utime: u64 = fields[11].parse().context("utime is not a number")?;
    let stime: u64 = fields[12].parse().context("stime is not a number")?;
    Ok(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime_past_a_name_with_spaces() {
        let line =
            "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 40 0 9 1 2";
        assert_eq!(parse_stat_ticks(line).ok(), Some(1234 + 56));
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_time_us(&[pid], 100).is_ok());
        assert!(cpu_time_us(&[u32::MAX], 100).is_err());
    }
}
