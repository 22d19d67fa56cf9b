//! `corral-bench timeline`: where a lone write's time goes, from a kernel
//! trace of the syscalls of the load generator and the three nodes
//! (bench/write-timeline.sh records it with `perf`).
//!
//! ```text
//!  client   sendmsg ─┐                                              ┌─► recvmmsg
//!  leader            └─► recvmmsg ─► sendmsg (appends) ...  recvmmsg ─► sendmsg (reply)
//!  follower                  recvmmsg ─► pwrite ══ disk ══ ─► sendmsg (ack) ─┘
//! ```
//!
//! Each write is anchored on the client's `sendmsg`. From there the leader's
//! first receive, its first send, the follower whose write ends first (the
//! one whose ack commits), that follower's ack, the leader's next receive and
//! send, and the client's receive are found in time order, and each step is
//! reported as quantiles over all writes: hops (a send to the matching
//! receive: the kernel, the wake-up, the other process being scheduled) and
//! work inside one process. A trace does not say which follower an append
//! went to, so the leader-to-follower hop counts from the leader's first
//! append: it includes the second append's send when that one was the
//! follower's.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};

/// Arguments of `timeline`.
#[derive(Debug, clap::Args)]
pub(crate) struct TimelineArgs {
    /// Output of `perf script -F comm,pid,tid,time,event,trace` over
    /// `syscalls:sys_enter_sendmsg`, `sys_exit_recvmmsg`,
    /// `sys_enter_pwrite64` and `sys_exit_pwrite64` (- for standard input).
    #[arg(long, default_value = "-")]
    perf_script: PathBuf,
    /// The load generator's process name.
    #[arg(long, default_value = "corral-bench")]
    client_comm: String,
    /// The leader's PID (default: the node process that sends the most).
    #[arg(long)]
    leader_pid: Option<u32>,
    /// The share of writes, slowest first, that the tail column describes.
    #[arg(long, default_value_t = 0.01)]
    tail_share: f64,
}

/// A syscall event of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `sendmsg` entered.
    Send,
    /// `recvmmsg` returned at least one datagram.
    Received,
    /// `pwrite64` entered.
    WriteStart,
    /// `pwrite64` returned.
    WriteEnd,
}

/// One event of one process, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Event {
    at_us: f64,
    kind: Kind,
}

/// Every process's events in time order, and which process is the client.
#[derive(Debug, Default)]
struct Trace {
    by_pid: HashMap<u32, Vec<Event>>,
    comm: HashMap<u32, String>,
}

/// Parses one `perf script` line: `COMM PID/TID SECONDS: EVENT: ARGS`.
/// Lines of other events, or that are not events, give `None`.
fn parse_line(line: &str) -> Option<(String, u32, Event)> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let at = tokens.iter().position(|t| {
        t.split_once('/').is_some_and(|(p, t)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && t.parse::<u32>().is_ok()
        })
    })?;
    let comm = tokens[..at].join(" ");
    let pid: u32 = tokens[at].split_once('/')?.0.parse().ok()?;
    let seconds: f64 = tokens.get(at + 1)?.trim_end_matches(':').parse().ok()?;
    let event = tokens.get(at + 2)?.trim_end_matches(':');
    let ret = tokens.get(at + 3).copied().unwrap_or("");
    let kind = match event {
        "syscalls:sys_enter_sendmsg" => Kind::Send,
        "syscalls:sys_exit_recvmmsg" => {
            // A negative return (EAGAIN) prints as a large hex number.
            let n = u64::from_str_radix(ret.trim_start_matches("0x"), 16).ok()? as i64;
            if n <= 0 {
                return None;
            }
            Kind::Received
        }
        "syscalls:sys_enter_pwrite64" => Kind::WriteStart,
        "syscalls:sys_exit_pwrite64" => Kind::WriteEnd,
        _ => return None,
    };
    Some((
        comm,
        pid,
        Event {
            at_us: seconds * 1e6,
            kind,
        },
    ))
}

impl Trace {
    fn read(input: impl BufRead) -> anyhow::Result<Self> {
        let mut trace = Trace::default();
        for line in input.lines() {
            let line = line.context("cannot read the perf script output")?;
            if let Some((comm, pid, event)) = parse_line(&line) {
                trace.by_pid.entry(pid).or_default().push(event);
                // The main thread names the process; other threads (the WAL's) do not.
                trace.comm.entry(pid).or_insert(comm);
            }
        }
        for events in trace.by_pid.values_mut() {
            events.sort_by(|a, b| a.at_us.total_cmp(&b.at_us));
        }
        Ok(trace)
    }

    /// The first event of `kind` of `pid` after `after_us`.
    fn next(&self, pid: u32, kind: Kind, after_us: f64) -> Option<f64> {
        let events = self.by_pid.get(&pid)?;
        let from = events.partition_point(|e| e.at_us <= after_us);
        events[from..]
            .iter()
            .find(|e| e.kind == kind)
            .map(|e| e.at_us)
    }

    fn sends(&self, pid: u32) -> usize {
        self.by_pid.get(&pid).map_or(0, |events| {
            events.iter().filter(|e| e.kind == Kind::Send).count()
        })
    }
}

/// The steps of one write, in microseconds.
const STEPS: [&str; 11] = [
    "hop: client to leader",
    "leader: receive to first append sent",
    "hop: leader's first append to follower",
    "follower: receive to write start",
    "follower: write (disk)",
    "follower: write end to ack sent",
    "hop: follower to leader",
    "leader: ack received to reply sent",
    "hop: leader to client",
    "leader's own write (disk)",
    "total: client send to client receive",
];

/// Each step's samples, over the writes that could be followed end to end.
fn steps(trace: &Trace, client: u32, leader: u32, followers: &[u32]) -> Vec<Vec<f64>> {
    let mut samples = vec![Vec::new(); STEPS.len()];
    let Some(client_events) = trace.by_pid.get(&client) else {
        return samples;
    };
    for anchor in client_events.iter().filter(|e| e.kind == Kind::Send) {
        let a = anchor.at_us;
        let one = || -> Option<[f64; 11]> {
            let client_rx = trace.next(client, Kind::Received, a)?;
            let leader_rx = trace.next(leader, Kind::Received, a)?;
            if leader_rx > client_rx {
                return None;
            }
            let leader_tx = trace.next(leader, Kind::Send, leader_rx)?;
            let leader_ws = trace.next(leader, Kind::WriteStart, leader_rx)?;
            let leader_we = trace.next(leader, Kind::WriteEnd, leader_ws)?;
            // The follower whose write ends first is the one whose ack commits.
            let (f, f_rx, f_ws, f_we) = followers
                .iter()
                .filter_map(|&f| {
                    let rx = trace.next(f, Kind::Received, leader_tx)?;
                    let ws = trace.next(f, Kind::WriteStart, rx)?;
                    let we = trace.next(f, Kind::WriteEnd, ws)?;
                    Some((f, rx, ws, we))
                })
                .min_by(|x, y| x.3.total_cmp(&y.3))?;
            let f_tx = trace.next(f, Kind::Send, f_we)?;
            let leader_ack = trace.next(leader, Kind::Received, f_tx)?;
            let reply = trace.next(leader, Kind::Send, leader_ack)?;
            if reply > client_rx {
                return None;
            }
            Some([
                leader_rx - a,
                leader_tx - leader_rx,
                f_rx - leader_tx,
                f_ws - f_rx,
                f_we - f_ws,
                f_tx - f_we,
                leader_ack - f_tx,
                reply - leader_ack,
                client_rx - reply,
                leader_we - leader_ws,
                client_rx - a,
            ])
        };
        if let Some(values) = one() {
            for (s, v) in samples.iter_mut().zip(values) {
                s.push(v);
            }
        }
    }
    samples
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The client's PID (by name), the leader's (given, or the node that sends
/// the most) and the followers' (the other nodes that send).
fn roles(
    trace: &Trace,
    client_comm: &str,
    leader_pid: Option<u32>,
) -> anyhow::Result<(u32, u32, Vec<u32>)> {
    let client = trace
        .comm
        .iter()
        .find(|(_, comm)| *comm == client_comm)
        .map(|(&pid, _)| pid)
        .with_context(|| format!("no process named {client_comm} in the trace"))?;
    let mut nodes: Vec<u32> = trace
        .by_pid
        .keys()
        .copied()
        .filter(|&p| p != client && trace.sends(p) > 0)
        .collect();
    nodes.sort_unstable();
    let leader = match leader_pid {
        Some(pid) => pid,
        None => nodes
            .iter()
            .copied()
            .max_by_key(|&p| trace.sends(p))
            .context("no node process sends in the trace")?,
    };
    let followers: Vec<u32> = nodes.iter().copied().filter(|&p| p != leader).collect();
    if followers.is_empty() {
        bail!("no follower in the trace (the leader is {leader}; nodes {nodes:?})");
    }
    Ok((client, leader, followers))
}

/// Runs `timeline`.
pub(crate) fn timeline(args: TimelineArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.tail_share) {
        bail!("--tail-share must be within 0..=1, not {}", args.tail_share);
    }
    let trace = if args.perf_script.as_os_str() == "-" {
        Trace::read(std::io::stdin().lock())?
    } else {
        let file = std::fs::File::open(&args.perf_script)
            .with_context(|| format!("cannot open {}", args.perf_script.display()))?;
        Trace::read(std::io::BufReader::new(file))?
    };
    let (client, leader, followers) = roles(&trace, &args.client_comm, args.leader_pid)?;
    let mut samples = steps(&trace, client, leader, &followers);
    let writes = samples.last().map_or(0, Vec::len);
    if writes == 0 {
        bail!("no write could be followed from the client through a follower and back");
    }
    println!(
        "corral-bench timeline: {writes} writes; client {client}, leader {leader}, followers {followers:?}"
    );
    let slow = slowest_medians(&samples, args.tail_share);
    let tail = format!("slowest {}%", args.tail_share * 100.0);
    println!(
        "{:<40} {:>7} {:>7} {:>7} {:>7} {tail:>12}",
        "step (us)", "p25", "p50", "p75", "p99"
    );
    for ((name, values), slow) in STEPS.iter().zip(samples.iter_mut()).zip(slow) {
        values.sort_by(f64::total_cmp);
        println!(
            "{name:<40} {:>7.0} {:>7.0} {:>7.0} {:>7.0} {slow:>12.0}",
            quantile(values, 0.25),
            quantile(values, 0.5),
            quantile(values, 0.75),
            quantile(values, 0.99),
        );
    }
    println!("({tail}: each step's median over the writes whose total is among them)");
    Ok(())
}

/// Each step's median over the slowest `share` of writes (by the last step,
/// the total), at least one write; `samples` holds one column per step, a
/// row per write.
fn slowest_medians(samples: &[Vec<f64>], share: f64) -> Vec<f64> {
    let Some(total) = samples.last() else {
        return Vec::new();
    };
    let mut rows: Vec<usize> = (0..total.len()).collect();
    rows.sort_by(|&a, &b| total[b].total_cmp(&total[a]));
    let keep = ((total.len() as f64 * share).ceil() as usize)
        .max(1)
        .min(rows.len());
    rows.truncate(keep);
    samples
        .iter()
        .map(|column| {
            let mut values: Vec<f64> = rows.iter().map(|&r| column[r]).collect();
            values.sort_by(f64::total_cmp);
            quantile(&values, 0.5)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One write, as `perf script` prints it: client 10, leader 20 (and its
    /// WAL thread 21), followers 30 and 40.
    const ONE_WRITE: &str = "\
    corral-bench 10/10 1.000000: syscalls:sys_enter_sendmsg: fd: 0x0000000b, msg: 0x1, flags: 0x0
          corral 20/20 1.000050: syscalls:sys_exit_recvmmsg: 0x1
          corral 20/20 1.000060: syscalls:sys_exit_recvmmsg: 0xfffffffffffffff5
          corral 20/20 1.000080: syscalls:sys_enter_sendmsg: fd: 0x0000000b, msg: 0x1, flags: 0x0
          corral 20/20 1.000100: syscalls:sys_enter_sendmsg: fd: 0x0000000b, msg: 0x1, flags: 0x0
      corral-wal 20/21 1.000120: syscalls:sys_enter_pwrite64: fd: 0x9, buf: 0x1, count: 0x1000, pos: 0x0
          corral 30/30 1.000140: syscalls:sys_exit_recvmmsg: 0x1
          corral 40/40 1.000160: syscalls:sys_exit_recvmmsg: 0x1
          corral 30/30 1.000170: syscalls:sys_enter_pwrite64: fd: 0x9, buf: 0x1, count: 0x1000, pos: 0x0
          corral 40/40 1.000190: syscalls:sys_enter_pwrite64: fd: 0x9, buf: 0x1, count: 0x1000, pos: 0x0
      corral-wal 20/21 1.000300: syscalls:sys_exit_pwrite64: 0x1000
          corral 30/30 1.000350: syscalls:sys_exit_pwrite64: 0x1000
          corral 30/30 1.000380: syscalls:sys_enter_sendmsg: fd: 0x0000000b, msg: 0x1, flags: 0x0
          corral 40/40 1.000400: syscalls:sys_exit_pwrite64: 0x1000
          corral 20/20 1.000420: syscalls:sys_exit_recvmmsg: 0x1
          corral 40/40 1.000430: syscalls:sys_enter_sendmsg: fd: 0x0000000b, msg: 0x1, flags: 0x0
          corral 20/20 1.000460: syscalls:sys_enter_sendmsg: fd: 0x0000000b, msg: 0x1, flags: 0x0
    corral-bench 10/10 1.000510: syscalls:sys_exit_recvmmsg: 0x1
";

    #[test]
    fn the_tail_column_is_each_steps_median_over_the_slowest_writes() {
        // Three steps and a total; the last two of five writes are the slowest.
        let samples = vec![
            vec![1.0, 2.0, 3.0, 40.0, 50.0],
            vec![5.0, 5.0, 5.0, 7.0, 9.0],
            vec![10.0, 11.0, 12.0, 60.0, 70.0],
        ];
        assert_eq!(slowest_medians(&samples, 0.4), vec![50.0, 9.0, 70.0]);
        // At least one write, however small the share.
        assert_eq!(slowest_medians(&samples, 0.0), vec![50.0, 9.0, 70.0]);
        assert!(slowest_medians(&[], 0.5).is_empty());
    }

    fn rounded(samples: &[Vec<f64>]) -> Vec<i64> {
        samples.iter().map(|s| s[0].round() as i64).collect()
    }

    #[test]
    fn a_write_is_split_into_its_hops_and_steps() {
        let trace = Trace::read(ONE_WRITE.as_bytes()).unwrap();
        let samples = steps(&trace, 10, 20, &[30, 40]);
        assert!(samples.iter().all(|s| s.len() == 1), "{samples:?}");
        // Follower 30's write ends first: its ack is the one that commits.
        assert_eq!(
            rounded(&samples),
            vec![50, 30, 60, 30, 180, 30, 40, 40, 50, 180, 510]
        );
    }

    #[test]
    fn the_busiest_sender_is_taken_for_the_leader_and_the_client_by_name() {
        let trace = Trace::read(ONE_WRITE.as_bytes()).unwrap();
        assert_eq!(
            roles(&trace, "corral-bench", None).unwrap(),
            (10, 20, vec![30, 40])
        );
        assert_eq!(
            roles(&trace, "corral-bench", Some(30)).unwrap(),
            (10, 30, vec![20, 40])
        );
        let missing = roles(&trace, "zkbench", None).unwrap_err().to_string();
        assert!(missing.contains("no process named zkbench"), "{missing}");
        // The WAL thread's events count for its process.
        assert_eq!(trace.sends(20), 3);
        assert_eq!(
            trace
                .by_pid
                .get(&20)
                .map(|e| e.iter().filter(|e| e.kind == Kind::WriteEnd).count()),
            Some(1)
        );
    }

    #[test]
    fn a_failed_receive_and_unrelated_lines_are_skipped() {
        assert!(
            parse_line("corral 20/20 1.0: syscalls:sys_exit_recvmmsg: 0xfffffffffffffff5")
                .is_none()
        );
        assert!(parse_line("corral 20/20 1.0: sched:sched_switch: prev_comm=x").is_none());
        assert!(parse_line("# a comment").is_none());
        let (comm, pid, event) =
            parse_line("tokio runtime 7/9 2.5: syscalls:sys_exit_recvmmsg: 0x2").unwrap();
        assert_eq!(
            (comm.as_str(), pid, event.kind),
            ("tokio runtime", 7, Kind::Received)
        );
        assert!((event.at_us - 2.5e6).abs() < 1e-3);
    }

    #[test]
    fn a_write_whose_reply_never_came_is_not_counted() {
        let cut: String = ONE_WRITE
            .lines()
            .filter(|l| !l.contains("corral-bench 10/10 1.000510"))
            .map(|l| format!("{l}\n"))
            .collect();
        let trace = Trace::read(cut.as_bytes()).unwrap();
        assert!(steps(&trace, 10, 20, &[30, 40]).iter().all(Vec::is_empty));
    }
}
