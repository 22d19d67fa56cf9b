//! The side-by-side table of `compare`, and its targets (issue 7, "Speed")
//! with the measured ratio and PASS or FAIL beside each.

use crate::compare::{Op, Phase, PhaseResult};
use crate::compare_system::SystemKind;
use crate::percentile::percentile;

/// Every phase's result on one system.
#[derive(Debug)]
pub(crate) struct SystemRun {
    /// Which system.
    pub(crate) kind: SystemKind,
    /// Each phase and what it measured, in the order run.
    pub(crate) results: Vec<(Phase, PhaseResult)>,
}

impl SystemRun {
    /// A run with no phase yet.
    pub(crate) fn new(kind: SystemKind) -> SystemRun {
        SystemRun {
            kind,
            results: Vec::new(),
        }
    }

    fn find(&self, op: Op, clients: usize, depth: usize) -> Option<&PhaseResult> {
        self.results
            .iter()
            .find(|(p, _)| p.op == op && p.clients == clients && p.depth == depth)
            .map(|(_, r)| r)
    }
}

/// Everything `compare` prints.
#[derive(Debug)]
pub(crate) struct Report {
    /// Clients per system in the loaded phases.
    pub(crate) clients: usize,
    /// In flight per client in the pipelined phases.
    pub(crate) depth: usize,
    /// Bytes per value.
    pub(crate) value_bytes: usize,
    /// Znodes the load is spread over.
    pub(crate) znodes: usize,
    /// Seconds measured per phase.
    pub(crate) seconds: u64,
    /// Nodes of ZooKeeper and of corral.
    pub(crate) nodes: (usize, usize),
    /// Whether corral's load sessions shared one link per node.
    pub(crate) shared_load_links: bool,
    /// fdatasync latencies (µs, sorted) measured before the phases.
    pub(crate) fsync_us: Vec<u32>,
    /// fdatasync latencies (µs, sorted) measured after the phases.
    pub(crate) fsync_after_us: Vec<u32>,
    /// /proc/loadavg before the run.
    pub(crate) load_before: String,
    /// /proc/loadavg after the run.
    pub(crate) load_after: String,
    /// One run per system: ZooKeeper first, then corral.
    pub(crate) runs: Vec<SystemRun>,
}

impl Report {
    /// Prints the table, then the targets.
    pub(crate) fn print(&self) {
        println!(
            "corral vs ZooKeeper: {} + {} nodes on loopback, fsync on, {} B values over {} znodes, {} s measured per phase",
            self.nodes.0, self.nodes.1, self.value_bytes, self.znodes, self.seconds
        );
        println!(
            "corral's {} sessions: {}",
            self.clients,
            if self.shared_load_links {
                "one link per node shared by all (--shared-load-links)"
            } else {
                "a link each"
            }
        );
        for (when, samples) in [("before", &self.fsync_us), ("after", &self.fsync_after_us)] {
            println!(
                "fdatasync of a 128 B append on the data dirs' filesystem, {when} the phases: p50 {} us, p99 {} us ({} samples)",
                percentile(samples, 0.50),
                percentile(samples, 0.99),
                samples.len()
            );
        }
        println!("{}", crate::quiet_servers::rule());
        println!(
            "load average before: {}   after: {}",
            self.load_before, self.load_after
        );
        println!();
        println!(
            "{:<30} {:<10} {:>9} {:>8} {:>8} {:>13} {:>12} {:>7}",
            "phase", "system", "ops/s", "p50 us", "p99 us", "server us/op", "bench us/op", "errors"
        );
        let phases: Vec<Phase> = self
            .runs
            .first()
            .map(|r| r.results.iter().map(|(p, _)| *p).collect())
            .unwrap_or_default();
        for (i, phase) in phases.iter().enumerate() {
            for run in &self.runs {
                let Some((_, result)) = run.results.get(i) else {
                    continue;
                };
                print_row(phase, run.kind, result);
            }
        }
        println!();
        self.print_targets();
    }

    fn print_targets(&self) {
        let (Some(zk), Some(corral)) = (
            self.runs.iter().find(|r| r.kind == SystemKind::ZooKeeper),
            self.runs.iter().find(|r| r.kind == SystemKind::Corral),
        ) else {
            return;
        };
        let (c, d) = (self.clients, self.depth);
        println!("targets (corral / ZooKeeper, same run):");
        let throughput = |op, clients, depth| {
            let rate = |run: &SystemRun| run.find(op, clients, depth).map(ops_per_second);
            rate(corral).zip(rate(zk)).map(|(a, b)| a / b)
        };
        let latency_p50 = |run: &SystemRun| {
            run.find(Op::Write, 1, 1)
                .map(|r| f64::from(percentile(&r.latencies_us, 0.50)))
        };
        let read_cpu = |run: &SystemRun| run.find(Op::Read, c, 1).map(server_us_per_op);
        let sessions = of_op(corral, Op::NewSession)
            .zip(of_op(zk, Op::NewSession))
            .map(|((n, a, _), (_, b, _))| (n, a / b));
        let rows = [
            (
                format!("writes/s, {c} clients, 1 in flight"),
                throughput(Op::Write, c, 1),
                Goal::AtLeast(2.5),
            ),
            (
                format!("reads/s, {c} clients, 1 in flight"),
                throughput(Op::Read, c, 1),
                Goal::AtLeast(1.5),
            ),
            (
                "p50 write latency, 1 client, 1 in flight".to_owned(),
                latency_p50(corral).zip(latency_p50(zk)).map(|(a, b)| a / b),
                Goal::AtMost(0.5),
            ),
            (
                format!("server CPU per read, {c} clients, 1 in flight"),
                read_cpu(corral).zip(read_cpu(zk)).map(|(a, b)| a / b),
                Goal::AtMost(0.5),
            ),
            (
                format!("writes/s, {c} clients, {d} in flight"),
                throughput(Op::Write, c, d),
                Goal::AtLeast(5.0),
            ),
            (
                format!("reads/s, {c} clients, {d} in flight"),
                throughput(Op::Read, c, d),
                Goal::AtLeast(5.0),
            ),
            (
                format!(
                    "new sessions/s, {} clients",
                    sessions.map_or_else(|| "?".to_owned(), |(n, _)| n.to_string())
                ),
                sessions.map(|(_, ratio)| ratio),
                Goal::AtLeast(0.75),
            ),
        ];
        for (what, ratio, goal) in rows {
            let (shown, verdict) = match ratio.filter(|r| r.is_finite()) {
                Some(r) => (
                    format!("{r:.2}x"),
                    if goal.met(r) { "PASS" } else { "FAIL" },
                ),
                None => ("n/a".to_owned(), "FAIL (not measured)"),
            };
            println!("  {what:<46} {shown:>8}  target {goal:<7} {verdict}");
        }
        // The fan-out target is absolute: corral's p99, whatever ZooKeeper's.
        match of_op(corral, Op::WatchEvent) {
            Some((watchers, _, r)) if r.ops > 0 => {
                let p99_ms = f64::from(percentile(&r.latencies_us, 0.99)) / 1000.0;
                let expected = r.ops + r.errors;
                let verdict = if p99_ms <= 100.0 && r.errors == 0 {
                    "PASS"
                } else {
                    "FAIL"
                };
                println!(
                    "  {:<46} {:>6.1}ms  target <= 100 ms {verdict} ({} of {expected} events delivered)",
                    format!("watch event to {watchers} watchers, p99"),
                    p99_ms,
                    r.ops,
                );
            }
            _ => println!(
                "  {:<46} {:>8}  target <= 100 ms FAIL (not measured)",
                "watch event fan-out, p99", "n/a"
            ),
        }
    }
}

/// A target on a corral / ZooKeeper ratio.
#[derive(Debug, Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met(self, ratio: f64) -> bool {
        match self {
            Goal::AtLeast(bound) => ratio >= bound,
            Goal::AtMost(bound) => ratio <= bound,
        }
    }
}

impl std::fmt::Display for Goal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Goal::AtLeast(bound) => format!(">= {bound}x"),
            Goal::AtMost(bound) => format!("<= {bound}x"),
        };
        f.pad(&text)
    }
}

/// The first phase of `op` in `run`: its clients, ops/s and result.
fn of_op(run: &SystemRun, op: Op) -> Option<(usize, f64, &PhaseResult)> {
    run.results
        .iter()
        .find(|(p, _)| p.op == op)
        .map(|(p, r)| (p.clients, ops_per_second(r), r))
}

fn print_row(phase: &Phase, kind: SystemKind, result: &PhaseResult) {
    let plural = if phase.clients == 1 { "" } else { "s" };
    let name = match phase.op {
        Op::Write | Op::Read => format!(
            "{} {} client{plural} x{} in flight",
            if phase.op == Op::Write {
                "write"
            } else {
                "read"
            },
            phase.clients,
            phase.depth
        ),
        Op::NewSession => format!("new session {} client{plural}", phase.clients),
        Op::WatchEvent => format!("watch event {} watchers", phase.clients),
        Op::Lock => format!("lock+unlock {} client{plural}", phase.clients),
    };
    println!(
        "{name:<30} {:<10} {:>9.0} {:>8} {:>8} {:>13.1} {:>12.1} {:>7}",
        kind.name(),
        ops_per_second(result),
        percentile(&result.latencies_us, 0.50),
        percentile(&result.latencies_us, 0.99),
        server_us_per_op(result),
        result.bench_cpu_us as f64 / result.ops.max(1) as f64,
        result.errors
    );
}

fn ops_per_second(result: &PhaseResult) -> f64 {
    result.ops as f64 / result.seconds.max(f64::MIN_POSITIVE)
}

fn server_us_per_op(result: &PhaseResult) -> f64 {
    result.server_cpu_us as f64 / result.ops.max(1) as f64
}
