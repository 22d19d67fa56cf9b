//! `compare`: the same workload against Apache ZooKeeper and corral, both
//! already running (bench/zk-compare.sh starts them), phase by phase, each
//! phase run on ZooKeeper and then on corral so both see the same machine,
//! each once the servers of both have fallen quiet after the phase before.
//!
//! ```text
//!  sessions: C per system, session i on node i mod N ─┐
//!  znodes:   /corral-bench-compare/k0000 .. k(Z-1)     │ pre-created, 100 B
//!  phase:    C clients × D loops, each loop one request in flight
//!            warm-up ─► measured window ─► stop        │ /proc/PID/stat of the
//!                       └ server CPU read at both ends ┘ servers, by PID
//! ```
//!
//! A client with D loops keeps D requests in flight on its one session: both
//! client libraries send a request when it is made and match replies by xid,
//! so the D requests are pipelined on one connection. Every loop ends at the
//! end of its phase, and every request has a timeout, so a phase always ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::compare_report::{Report, SystemRun};
use crate::compare_system::{Session, SystemAddress, SystemKind};
use crate::fdatasync::fdatasync_latency_us;
use crate::process_cpu::cpu_time_us;
use crate::quiet_servers;

/// The parent of the pre-created znodes.
const ROOT: &str = "/corral-bench-compare";
/// How long after its window a loop waits for an unanswered request, which
/// then counts as failed (if sent inside the window) and ends the loop.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `compare`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// ZooKeeper's client endpoints (`host:port`, comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    zk_endpoints: Vec<String>,
    /// PIDs of the ZooKeeper servers (for their CPU time).
    #[arg(long, value_delimiter = ',', required = true)]
    zk_pids: Vec<u32>,
    /// corral's endpoints (`host:port`, comma-separated).
    #[arg(long, env = "CORRAL_ENDPOINTS", value_delimiter = ',', required = true)]
    corral_endpoints: Vec<String>,
    /// corral's cluster CA certificate.
    #[arg(long, env = "CORRAL_CA")]
    corral_ca: PathBuf,
    /// The client certificate for corral.
    #[arg(long, env = "CORRAL_CERT")]
    corral_cert: PathBuf,
    /// The client key for corral.
    #[arg(long, env = "CORRAL_KEY")]
    corral_key: PathBuf,
    /// PIDs of the corral nodes (for their CPU time).
    #[arg(long, value_delimiter = ',', required = true)]
    corral_pids: Vec<u32>,
    /// Clients (sessions) per system, spread evenly over the nodes.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Requests each client keeps in flight in the pipelined phases.
    #[arg(long, default_value_t = 8)]
    depth: usize,
    /// Bytes of each value.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Pre-created znodes the load is spread over.
    #[arg(long, default_value_t = 256)]
    znodes: usize,
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Loops opening and closing sessions in the new-sessions phase (0 skips it).
    #[arg(long, default_value_t = 64)]
    session_clients: usize,
    /// corral's new sessions share links through one `Connector` (a stream
    /// each, no handshake); by default each opens a link of its own (a TLS
    /// handshake that resumes the process's earlier one with that node).
    #[arg(long)]
    shared_links: bool,
    /// corral's load sessions (the read and write phases) share one link per
    /// node through one `Connector`, so requests of different sessions share
    /// datagrams; by default each session has a link of its own, like each
    /// ZooKeeper session its own TCP connection.
    #[arg(long)]
    shared_load_links: bool,
    /// Sessions watching one znode in the fan-out phase (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    /// Sessions contending for one lock in the lock phase (0 skips the lock
    /// phases; a 1-session phase runs first); at most --clients.
    #[arg(long, default_value_t = 64)]
    lock_clients: usize,
    /// Changes of the watched znode in the fan-out phase.
    #[arg(long, default_value_t = 5)]
    watch_rounds: usize,
    /// Seconds of load before each phase's measured window.
    #[arg(long, default_value_t = 1)]
    warmup_seconds: u64,
    /// Seconds of writes, then of reads, on each system before the first
    /// phase (ZooKeeper's JVM compiles its hot paths meanwhile); not reported.
    #[arg(long, default_value_t = 3)]
    jit_warmup_seconds: u64,
    /// `getconf CLK_TCK`: the unit of /proc/PID/stat CPU times.
    #[arg(long, default_value_t = 100)]
    clock_ticks: u64,
    /// Directory for the fdatasync probe (the filesystem of the data dirs).
    #[arg(long, default_value = ".")]
    fsync_dir: PathBuf,
    /// fdatasync calls timed for the disk baseline.
    #[arg(long, default_value_t = 300)]
    fsync_samples: usize,
}

/// Which operation a phase sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// setData of the value.
    Write,
    /// getData.
    Read,
    /// Open a session (then close it).
    NewSession,
    /// A watch event delivered to one of many watchers.
    WatchEvent,
    /// A lock taken and released.
    Lock,
}

/// One measured phase: an operation, how many clients, how many in flight each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phase {
    /// What is sent.
    pub(crate) op: Op,
    /// Clients sending.
    pub(crate) clients: usize,
    /// Requests in flight per client.
    pub(crate) depth: usize,
}

/// What one phase on one system measured.
#[derive(Debug, Default)]
pub(crate) struct PhaseResult {
    /// Operations completed in the measured window.
    pub(crate) ops: u64,
    /// Operations that failed or timed out in the measured window.
    pub(crate) errors: u64,
    /// Length of the measured window.
    pub(crate) seconds: f64,
    /// Latencies (µs) of the completed operations, sorted.
    pub(crate) latencies_us: Vec<u32>,
    /// CPU time of the servers over the window (µs).
    pub(crate) server_cpu_us: u64,
    /// CPU time of this load generator over the window (µs).
    pub(crate) bench_cpu_us: u64,
}

/// Runs `compare`.
pub(crate) async fn run(args: CompareArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.depth == 0 || args.znodes == 0 || args.seconds == 0 {
        bail!("--clients, --depth, --znodes and --seconds must be above 0");
    }
    let load_before = load_average();
    let fsync_us = fdatasync_latency_us(&args.fsync_dir, args.fsync_samples)
        .with_context(|| format!("fdatasync probe in {}", args.fsync_dir.display()))?;
    let phases = [
        Phase {
            op: Op::Write,
            clients: 1,
            depth: 1,
        },
        Phase {
            op: Op::Write,
            clients: args.clients,
            depth: 1,
        },
        Phase {
            op: Op::Read,
            clients: args.clients,
            depth: 1,
        },
        Phase {
            op: Op::Write,
            clients: args.clients,
            depth: args.depth,
        },
        Phase {
            op: Op::Read,
            clients: args.clients,
            depth: args.depth,
        },
    ];
    let mut systems = Vec::new();
    for address in addresses(&args) {
        let pids = match address.kind {
            SystemKind::ZooKeeper => args.zk_pids.clone(),
            SystemKind::Corral => args.corral_pids.clone(),
        };
        let sessions =
            open_sessions(&address.sharing_if(args.shared_load_links)?, args.clients).await?;
        let paths = prepare(&sessions, &args).await?;
        systems.push((address, pids, sessions, paths));
    }
    let value = Arc::new(vec![b'v'; args.value_bytes]);
    for (address, _, sessions, paths) in &systems {
        let kind = address.kind;
        for op in [Op::Write, Op::Read] {
            let warmup = Phase {
                op,
                clients: args.clients,
                depth: args.depth,
            };
            let window = Window::after(Duration::ZERO, args.jit_warmup_seconds.max(1));
            let result = run_phase(sessions, paths, &value, warmup, window, &[], 0).await?;
            eprintln!(
                "warm-up {} {op:?}: {} ops, {} errors",
                kind.name(),
                result.ops,
                result.errors
            );
        }
    }
    let all_pids: Vec<u32> = args
        .zk_pids
        .iter()
        .chain(&args.corral_pids)
        .copied()
        .collect();
    let mut runs: Vec<SystemRun> = systems
        .iter()
        .map(|(address, ..)| SystemRun::new(address.kind))
        .collect();
    for phase in phases {
        for ((_, pids, sessions, paths), run) in systems.iter().zip(runs.iter_mut()) {
            settle(&all_pids, args.clock_ticks).await?;
            let window = Window::after(Duration::from_secs(args.warmup_seconds), args.seconds);
            let result = run_phase(
                sessions,
                paths,
                &value,
                phase,
                window,
                pids,
                args.clock_ticks,
            )
            .await?;
            report_progress(run.kind, &phase, &result, "ops");
            run.results.push((phase, result));
        }
    }
    if args.session_clients > 0 {
        let phase = Phase {
            op: Op::NewSession,
            clients: args.session_clients,
            depth: 1,
        };
        for ((address, pids, _, _), run) in systems.iter().zip(runs.iter_mut()) {
            settle(&all_pids, args.clock_ticks).await?;
            let window = Window::after(Duration::from_secs(args.warmup_seconds), args.seconds);
            let address = address.sharing_if(args.shared_links)?;
            let result = crate::compare_sessions::run_session_phase(
                &address,
                phase.clients,
                window,
                pids,
                args.clock_ticks,
            )
            .await?;
            report_progress(run.kind, &phase, &result, "sessions");
            run.results.push((phase, result));
        }
    }
    if args.lock_clients > 0 {
        let lock_dir = format!("{ROOT}/lock");
        for (_, _, sessions, _) in &systems {
            let first = sessions.first().context("no session")?;
            first.ensure(&lock_dir, b"").await?;
        }
        for clients in [1, args.lock_clients.min(args.clients)] {
            let phase = Phase {
                op: Op::Lock,
                clients,
                depth: 1,
            };
            for ((_, pids, sessions, _), run) in systems.iter().zip(runs.iter_mut()) {
                settle(&all_pids, args.clock_ticks).await?;
                let window = Window::after(Duration::from_secs(args.warmup_seconds), args.seconds);
                let contenders = sessions.get(..clients).context("too few sessions")?;
                let result = crate::compare_locks::run_lock_phase(
                    contenders,
                    &lock_dir,
                    window,
                    pids,
                    args.clock_ticks,
                )
                .await
                .with_context(|| format!("{}: the lock phase", run.kind.name()))?;
                report_progress(run.kind, &phase, &result, "locks");
                run.results.push((phase, result));
            }
        }
    }
    if args.watchers > 0 {
        let phase = Phase {
            op: Op::WatchEvent,
            clients: args.watchers,
            depth: 1,
        };
        let path = format!("{ROOT}/fanout");
        for ((address, pids, sessions, _), run) in systems.iter().zip(runs.iter_mut()) {
            settle(&all_pids, args.clock_ticks).await?;
            let writer = sessions.first().context("no session")?;
            // Thousands of sessions in one process share one socket.
            let address = address.sharing()?;
            let result = crate::compare_fanout::run_fanout(crate::compare_fanout::Fanout {
                address: &address,
                writer,
                path: &path,
                watchers: args.watchers,
                rounds: args.watch_rounds,
                pids,
                quiet_pids: &all_pids,
                clock_ticks: args.clock_ticks,
            })
            .await
            .with_context(|| format!("{}: the watch fan-out phase", run.kind.name()))?;
            eprintln!(
                "{} {phase:?}: {} events, p99 {} us, {} errors",
                run.kind.name(),
                result.ops,
                crate::percentile::percentile(&result.latencies_us, 0.99),
                result.errors
            );
            run.results.push((phase, result));
        }
    }
    let fsync_after_us = fdatasync_latency_us(&args.fsync_dir, args.fsync_samples)
        .with_context(|| format!("fdatasync probe in {}", args.fsync_dir.display()))?;
    let report = Report {
        clients: args.clients,
        depth: args.depth,
        value_bytes: args.value_bytes,
        znodes: args.znodes,
        seconds: args.seconds,
        nodes: (args.zk_endpoints.len(), args.corral_endpoints.len()),
        shared_load_links: args.shared_load_links,
        fsync_us,
        fsync_after_us,
        load_before,
        load_after: load_average(),
        runs,
    };
    report.print();
    Ok(())
}

/// Waits for every server of both systems to fall quiet, and says how that went.
async fn settle(all_pids: &[u32], clock_ticks: u64) -> anyhow::Result<()> {
    let settled = quiet_servers::until_quiet(all_pids, clock_ticks).await?;
    eprintln!("{settled}");
    Ok(())
}

fn addresses(args: &CompareArgs) -> [SystemAddress; 2] {
    [
        SystemAddress {
            kind: SystemKind::ZooKeeper,
            endpoints: args.zk_endpoints.clone(),
            tls: None,
            shared: None,
        },
        SystemAddress {
            kind: SystemKind::Corral,
            endpoints: args.corral_endpoints.clone(),
            tls: Some((
                args.corral_ca.clone(),
                args.corral_cert.clone(),
                args.corral_key.clone(),
            )),
            shared: None,
        },
    ]
}

/// `count` sessions, session i on node i mod N.
async fn open_sessions(address: &SystemAddress, count: usize) -> anyhow::Result<Vec<Session>> {
    let mut sessions = Vec::with_capacity(count);
    for i in 0..count {
        sessions.push(Session::connect(address, i).await?);
    }
    Ok(sessions)
}

/// Creates the root and the znodes (each holding a value); returns their paths.
async fn prepare(sessions: &[Session], args: &CompareArgs) -> anyhow::Result<Arc<Vec<String>>> {
    let first = sessions.first().context("no session")?;
    first.ensure(ROOT, b"").await?;
    let value = vec![b'v'; args.value_bytes];
    let paths: Vec<String> = (0..args.znodes)
        .map(|i| format!("{ROOT}/k{i:05}"))
        .collect();
    for path in &paths {
        first.ensure(path, &value).await?;
    }
    Ok(Arc::new(paths))
}

/// When a phase measures: after a warm-up, for a number of seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Start of the measured window.
    pub(crate) from: Instant,
    /// Its end.
    pub(crate) until: Instant,
}

impl Window {
    /// A window of `seconds` that opens after `warmup`.
    pub(crate) fn after(warmup: Duration, seconds: u64) -> Window {
        let from = Instant::now() + warmup;
        Window {
            from,
            until: from + Duration::from_secs(seconds),
        }
    }
}

/// Says on stderr how a phase went on one system, as it ends.
fn report_progress(kind: SystemKind, phase: &Phase, result: &PhaseResult, unit: &str) {
    eprintln!(
        "{} {phase:?}: {:.0} {unit}/s, {} errors",
        kind.name(),
        result.ops as f64 / result.seconds,
        result.errors
    );
}

/// Runs one phase on one system; reads the CPU time of `pids` (and of this
/// process) at both ends of the measured window.
async fn run_phase(
    sessions: &[Session],
    paths: &Arc<Vec<String>>,
    value: &Arc<Vec<u8>>,
    phase: Phase,
    window: Window,
    pids: &[u32],
    clock_ticks: u64,
) -> anyhow::Result<PhaseResult> {
    let mut loops = tokio::task::JoinSet::new();
    let loop_count = phase.clients * phase.depth;
    for client in 0..phase.clients {
        let session = sessions
            .get(client)
            .context("fewer sessions than clients")?;
        for slot in 0..phase.depth {
            let index = client * phase.depth + slot;
            loops.spawn(request_loop(
                session.clone(),
                Arc::clone(paths),
                Arc::clone(value),
                phase.op,
                (index, loop_count),
                window,
            ));
        }
    }
    measure(loops, window, pids, clock_ticks).await
}

/// Reads the CPU time of `pids` (and of this process) at both ends of
/// `window`, then collects what `loops` measured: each returns the
/// latencies (µs) of its operations inside the window and its failures there.
pub(crate) async fn measure(
    mut loops: tokio::task::JoinSet<(Vec<u32>, u64)>,
    window: Window,
    pids: &[u32],
    clock_ticks: u64,
) -> anyhow::Result<PhaseResult> {
    let me = std::process::id();
    tokio::time::sleep_until(window.from.into()).await;
    let server_before = cpu_time_us(pids, clock_ticks)?;
    let bench_before = cpu_time_us(&[me], clock_ticks)?;
    tokio::time::sleep_until(window.until.into()).await;
    let server_after = cpu_time_us(pids, clock_ticks)?;
    let bench_after = cpu_time_us(&[me], clock_ticks)?;
    let mut result = PhaseResult {
        seconds: (window.until - window.from).as_secs_f64(),
        server_cpu_us: server_after.saturating_sub(server_before),
        bench_cpu_us: bench_after.saturating_sub(bench_before),
        ..PhaseResult::default()
    };
    while let Some(joined) = loops.join_next().await {
        let (latencies, errors) = joined.context("a measuring loop panicked")?;
        result.latencies_us.extend(latencies);
        result.errors += errors;
    }
    result.latencies_us.sort_unstable();
    result.ops = result.latencies_us.len() as u64;
    Ok(result)
}

/// One request in flight until the window ends; returns the latencies (µs)
/// of the requests completed inside the window, and the failures there.
async fn request_loop(
    session: Session,
    paths: Arc<Vec<String>>,
    value: Arc<Vec<u8>>,
    op: Op,
    (index, loop_count): (usize, usize),
    window: Window,
) -> (Vec<u32>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    // Loop i visits znodes i, i + loops, i + 2 loops, ...: concurrent loops
    // touch different znodes, and every znode gets its share.
    let mut next = index;
    // One deadline for the loop's requests, set once: a timer per request
    // would cost the load generator a timer-wheel insert and removal each,
    // CPU the servers then lack on a shared machine.
    let give_up = tokio::time::sleep_until((window.until + REQUEST_TIMEOUT).into());
    tokio::pin!(give_up);
    loop {
        let sent = Instant::now();
        if sent >= window.until {
            break;
        }
        let path = &paths[next % paths.len()];
        next = next.wrapping_add(loop_count);
        let request = async {
            match op {
                Op::Write => session.write(path, &value).await.map(|()| value.len()),
                Op::Read => session.read(path).await,
                Op::NewSession | Op::WatchEvent | Op::Lock => Err(anyhow::anyhow!(
                    "{op:?} is not a request: it has a phase of its own"
                )),
            }
        };
        let outcome = tokio::select! {
            biased;
            outcome = request => outcome,
            () = &mut give_up => {
                // Unanswered REQUEST_TIMEOUT after the window: a failure if
                // it was sent inside it.
                if sent >= window.from {
                    errors += 1;
                }
                break;
            }
        };
        let done = Instant::now();
        if done < window.from || done > window.until {
            continue;
        }
        match outcome {
            Ok(_) => latencies.push(u32::try_from((done - sent).as_micros()).unwrap_or(u32::MAX)),
            Err(_) => errors += 1,
        }
    }
    (latencies, errors)
}

/// The first line of /proc/loadavg, or why it could not be read.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}
