//! corral-bench: starts a local corral cluster (real `corral serve`
//! processes, fsync on) and drives it through corral-client, reporting
//! throughput and latency percentiles next to the machine's own fdatasync
//! latency, measured in the same run on the same filesystem.
//!
//! ```text
//!  cargo build --release -p corral
//!  cargo run --release -p corral-bench -- writes --nodes 3 --proposers 64 --value-bytes 100 --seconds 10
//! ```
//!
//! `compare` drives an Apache ZooKeeper ensemble and a corral cluster, both
//! already running, with the same workload and prints them side by side;
//! `bench/zk-compare.sh` installs ZooKeeper, starts both and runs it.

mod metrics_cost;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use corral_client::{Client, CreateMode};
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::node_status::{http_get, metric_value};

use crate::fdatasync::fdatasync_latency_us;
use crate::percentile::percentile;

mod compare;
mod compare_fanout;
mod compare_locks;
mod compare_report;
mod compare_sessions;
mod compare_system;
mod failover;
mod fanout_only;
mod fdatasync;
mod percentile;
mod process_cpu;
mod quiet_servers;
mod write_timeline;
mod zk_ensemble;
/// mimalloc, as in the node binary: the load generator shares the machine
/// with the nodes, so it spends as little CPU on allocation as it can.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load generator for corral.
#[derive(Debug, Parser)]
#[command(name = "corral-bench", about)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// setData of `--value-bytes` on one znode per proposer or over `--znodes` (getData with
    /// `--reads`), `--inflight` requests in flight per proposer.
    Writes(WriteArgs),
    /// The same workload against running ZooKeeper and corral clusters, side
    /// by side, with the targets of issue 7 (bench/zk-compare.sh runs it).
    Compare(Box<compare::CompareArgs>),
    /// The write benchmark with metrics on and off, alternately, in one run.
    MetricsCost(metrics_cost::MetricsCostArgs),
    /// The watch fan-out phase of `compare` alone, on a cluster it starts
    /// (no ZooKeeper), with each round's spread in time.
    Fanout(fanout_only::FanoutArgs),
    /// How long writes stop when the leader's process is killed, round
    /// after round, on a cluster it starts.
    Failover(failover::FailoverArgs),
    /// Where a lone write's time goes, from a `perf` trace of the syscalls
    /// of the load generator and the nodes (bench/write-timeline.sh).
    Timeline(write_timeline::TimelineArgs),
}

#[derive(Debug, clap::Args)]
struct WriteArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Concurrent proposers, each with its own session.
    #[arg(long, default_value_t = 64)]
    proposers: usize,
    /// Bytes of each value written.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// getData of each proposer's znode instead of setData: the read path,
    /// no log entries.
    #[arg(long)]
    reads: bool,
    /// After each setData, this many getData of the same znode on the same
    /// session (each must see the write: the read-your-writes path of a
    /// mixed workload); their latencies are reported apart.
    #[arg(long, default_value_t = 0, conflicts_with = "reads")]
    reads_after_write: usize,
    /// Requests each proposer keeps in flight, pipelined on its session.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Spread the load over this many shared znodes, as `compare` does (loop
    /// i of L visits znodes i, i + L, ...); 0 gives each proposer its own.
    #[arg(long, default_value_t = 0)]
    znodes: usize,
    /// Seconds measured (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Which nodes the sessions connect to.
    #[arg(long, value_enum, default_value_t = Via::All)]
    via: Via,
    /// The proposers' sessions share links through one `Connector` (each
    /// session a stream of its own on its node's link, so requests of many
    /// sessions share datagrams); by default each session has its own link.
    #[arg(long)]
    shared_links: bool,
    /// fdatasync calls timed for the disk baseline.
    #[arg(long, default_value_t = 500)]
    fsync_samples: usize,
    /// A `node.toml` setting for every node, as `section.key=value`
    /// (`runtime.idle_poll_us=0`); repeatable.
    #[arg(long = "node-setting", value_parser = parse_node_setting)]
    node_settings: Vec<(String, toml::Value)>,
    /// The `corral` binary (default: next to this one).
    #[arg(long)]
    corral: Option<PathBuf>,
}

/// One `--node-setting`: its key, and its value as an integer, a boolean,
/// or else text.
fn parse_node_setting(text: &str) -> Result<(String, toml::Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not section.key=value"))?;
    let value = if let Ok(n) = value.parse::<i64>() {
        n.into()
    } else if let Ok(b) = value.parse::<bool>() {
        b.into()
    } else {
        value.into()
    };
    Ok((key.trim().to_owned(), value))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Via {
    /// Spread the sessions over every node (followers forward to the leader).
    All,
    /// Connect every session to the leader.
    Leader,
    /// Spread the sessions over the followers (every write is forwarded).
    Followers,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the load generator leaves the other cores to the servers,
    // and its wake-ups queue in order, so the requests that sessions sharing
    // a link send together leave together.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    match cli.workload {
        Workload::Writes(args) => runtime.block_on(writes(args)),
        Workload::Compare(args) => runtime.block_on(compare::run(*args)),
        Workload::MetricsCost(args) => runtime.block_on(metrics_cost::metrics_cost(args)),
        Workload::Fanout(args) => runtime.block_on(fanout_only::fanout(args)),
        Workload::Failover(args) => runtime.block_on(failover::failover(args)),
        Workload::Timeline(args) => write_timeline::timeline(args),
    }
}

pub(crate) fn corral_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no directory for the corral binary")?
            .join("corral"),
    };
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p corral) or pass --corral",
            path.display()
        );
    }
    Ok(path)
}

async fn writes(args: WriteArgs) -> anyhow::Result<()> {
    let binary = corral_binary(args.corral.clone())?;
    let mut options = ClusterOptions::new(args.nodes).set_log("warn");
    options.settings.extend(args.node_settings.iter().cloned());
    let mut cluster = Cluster::lay_out(&binary, options).await?;
    // Measured before the nodes start, on the filesystem of their data directories.
    let fsync = fdatasync_latency_us(cluster.root(), args.fsync_samples)?;
    let ids = cluster.ids();
    for &id in &ids {
        cluster.start_node(id)?;
    }
    cluster.wait_serving(&ids, Duration::from_secs(60)).await?;
    let leader = cluster.wait_leader(&ids, Duration::from_secs(30)).await?;
    let targets = match args.via {
        Via::All => ids.clone(),
        Via::Leader => vec![leader],
        Via::Followers => ids.iter().copied().filter(|&id| id != leader).collect(),
    };
    if targets.is_empty() {
        bail!("no node to connect to: a 1-node cluster has no followers");
    }

    let clients = connect_proposers(
        &cluster,
        leader,
        &targets,
        args.proposers,
        args.shared_links,
    )
    .await?;
    let shared: Vec<String> = (0..args.znodes).map(|z| format!("/bench/k{z}")).collect();
    if let Some(first) = clients.first() {
        for path in shared.iter() {
            first.create(path, b"", CreateMode::Persistent).await?;
        }
    }

    let value = vec![b'v'; args.value_bytes];
    // Counts from here to the end of the load, warm-up included: per-write
    // costs that hold on a loaded machine, where wall-clock figures do not.
    let before = NodeCounts::take(&cluster, &ids).await?;
    let bench_cpu_before = cpu_ns(std::process::id());
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(1);
    let end = measure_from + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    let loops = clients.len() * args.inflight.max(1);
    for (p, client) in clients.into_iter().enumerate() {
        // `--inflight` writers share the session: its requests are pipelined.
        for i in 0..args.inflight.max(1) {
            let paths = if shared.is_empty() {
                vec![format!("/bench/p{p}")]
            } else {
                let first = p * args.inflight.max(1) + i;
                (first..)
                    .step_by(loops)
                    .take(shared.len().div_ceil(loops).max(1))
                    .map(|z| shared[z % shared.len()].clone())
                    .collect()
            };
            tasks.spawn(proposer(
                client.clone(),
                paths,
                value.clone(),
                Mix {
                    reads: args.reads,
                    reads_after_write: args.reads_after_write,
                },
                measure_from,
                end,
            ));
        }
    }
    let mut latencies_us = Vec::new();
    let mut read_after_us = Vec::new();
    let mut errors = 0u64;
    let mut acknowledged_total = 0u64;
    while let Some(result) = tasks.join_next().await {
        let done = result?;
        latencies_us.extend(done.samples);
        read_after_us.extend(done.reads_after);
        errors += done.failed;
        acknowledged_total += done.acknowledged;
    }
    read_after_us.sort_unstable();
    let after = NodeCounts::take(&cluster, &ids).await?;
    let bench_cpu_ns = cpu_ns(std::process::id()).saturating_sub(bench_cpu_before);
    // Again after the load, on the same filesystem: a shared disk drifts.
    let fsync_after = fdatasync_latency_us(cluster.root(), args.fsync_samples)?;
    latencies_us.sort_unstable();
    let ops = latencies_us.len();
    let rate = ops as f64 / args.seconds as f64;
    let p = |q: f64| percentile(&latencies_us, q);
    let op = if args.reads { "read" } else { "write" };
    let links = if args.shared_links {
        "links shared"
    } else {
        "a link each"
    };
    println!(
        "corral-bench writes: {} nodes, {} proposers ({} in flight each, via {:?}, {links}), {} B values, {} s, {op}s, fsync on",
        args.nodes, args.proposers, args.inflight, args.via, args.value_bytes, args.seconds
    );
    let rate_label = format!("{op}s/s");
    println!("  {rate_label:<14}{rate:.0}  ({ops} acknowledged, {errors} failed)");
    if args.reads_after_write > 0 {
        let q = |x: f64| percentile(&read_after_us, x);
        println!(
            "  reads after a write: {:.0}/s, latency us p50 {}  p90 {}  p99 {}  max {}",
            read_after_us.len() as f64 / args.seconds as f64,
            q(0.50),
            q(0.90),
            q(0.99),
            read_after_us.last().copied().unwrap_or(0)
        );
    }
    println!(
        "  latency us    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        p(0.50),
        p(0.90),
        p(0.99),
        p(0.999),
        latencies_us.last().copied().unwrap_or(0)
    );
    for (when, samples) in [("before", &fsync), ("after", &fsync_after)] {
        println!(
            "  fdatasync us  p50 {}  p99 {}  ({} appends of 128 B + fdatasync, {when} the load)",
            percentile(samples, 0.50),
            percentile(samples, 0.99),
            samples.len()
        );
    }
    let mut both = [fsync, fsync_after].concat();
    both.sort_unstable();
    let bound_us = 2 * percentile(&both, 0.50) + 500;
    println!(
        "  2 x fdatasync p50 (both probes) + 0.5 ms = {bound_us} us; median {op} {} us",
        p(0.50)
    );
    let per_write = |x: f64| x / (acknowledged_total.max(1) as f64);
    println!(
        "  per {op} (all {acknowledged_total} acknowledged, warm-up included): bench CPU {:.1} us",
        per_write(bench_cpu_ns as f64 / 1e3)
    );
    for (b, a) in before.iter().zip(&after) {
        let syncs = a.fsyncs - b.fsyncs;
        let sync_s = a.fsync_seconds - b.fsync_seconds;
        println!(
            "  node {}{}: CPU {:.1} us/{op}, {:.3} WAL fdatasyncs/{op}, {syncs:.0} fdatasyncs of mean {:.0} us",
            a.id,
            if a.id == leader { " (leader)" } else { "" },
            per_write(a.cpu_ns.saturating_sub(b.cpu_ns) as f64 / 1e3),
            per_write(syncs),
            if syncs > 0.0 {
                sync_s / syncs * 1e6
            } else {
                0.0
            },
        );
    }
    Ok(())
}

/// A node's cumulative counters at one moment.
struct NodeCounts {
    id: u64,
    cpu_ns: u64,
    fsyncs: f64,
    fsync_seconds: f64,
}

impl NodeCounts {
    async fn take(cluster: &Cluster, ids: &[u64]) -> anyhow::Result<Vec<NodeCounts>> {
        let mut counts = Vec::with_capacity(ids.len());
        for &id in ids {
            let (_, metrics) = http_get(
                cluster.node(id)?.metrics_listen,
                "/metrics",
                Duration::from_secs(2),
            )
            .await?;
            counts.push(NodeCounts {
                id,
                cpu_ns: cluster.pid(id).map_or(0, cpu_ns),
                fsyncs: metric_value(&metrics, "corral_storage_fsync_seconds_count").unwrap_or(0.0),
                fsync_seconds: metric_value(&metrics, "corral_storage_fsync_seconds_sum")
                    .unwrap_or(0.0),
            });
        }
        Ok(counts)
    }
}

/// Creates `/bench` through `leader`, then one session per proposer, proposer
/// p on `targets[p mod n]` with its own znode `/bench/p{p}`; with
/// `shared_links`, all through one `Connector` (sessions to a node share its
/// link), else a link each.
async fn connect_proposers(
    cluster: &Cluster,
    leader: u64,
    targets: &[u64],
    proposers: usize,
    shared_links: bool,
) -> anyhow::Result<Vec<Client>> {
    let setup = cluster.client(leader).await?;
    setup.create("/bench", b"", CreateMode::Persistent).await?;
    let connector = if shared_links {
        Some(corral_client::Connector::new(
            &cluster.client_config(targets),
        )?)
    } else {
        None
    };
    let mut clients = Vec::with_capacity(proposers);
    for p in 0..proposers {
        let target = targets[p % targets.len()];
        let client = match &connector {
            Some(connector) => {
                Client::connect_with(cluster.client_config(&[target]), connector).await?
            }
            None => cluster.client(target).await?,
        };
        client
            .create(&format!("/bench/p{p}"), b"", CreateMode::Persistent)
            .await?;
        clients.push(client);
    }
    Ok(clients)
}

/// CPU time used so far by every live thread of process `pid` (0 if unknown).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// What a proposer loop does with each znode in turn.
#[derive(Debug, Clone, Copy, Default)]
struct Mix {
    /// getData instead of setData.
    reads: bool,
    /// getData calls of the same znode after each setData.
    reads_after_write: usize,
}

/// What one proposer loop measured.
#[derive(Debug, Default)]
struct Measured {
    /// Latencies (µs) of its setData (getData, with `reads`) started after `measure_from`.
    samples: Vec<u32>,
    /// Latencies (µs) of the getData calls made after a setData, in the same window.
    reads_after: Vec<u32>,
    /// Requests in the window that failed.
    failed: u64,
    /// Every acknowledged setData (getData, with `reads`), warm-up included.
    acknowledged: u64,
}

/// Writes `value` to `paths` in turn (as `mix` says) until `end`.
async fn proposer(
    client: Client,
    paths: Vec<String>,
    value: Vec<u8>,
    mix: Mix,
    measure_from: Instant,
    end: Instant,
) -> Measured {
    let mut measured = Measured::default();
    for path in paths.iter().cycle() {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let result = if mix.reads {
            client.get_data(path).await.map(|_| ())
        } else {
            client.set_data(path, &value, None).await.map(|_| ())
        };
        measured.acknowledged += u64::from(result.is_ok());
        if sent >= measure_from {
            match result {
                Ok(_) => measured
                    .samples
                    .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX)),
                Err(_) => measured.failed += 1,
            }
        }
        for _ in 0..mix.reads_after_write {
            let sent = Instant::now();
            let read = client.get_data(path).await;
            if sent >= measure_from && sent < end {
                match read {
                    Ok(_) => measured
                        .reads_after
                        .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX)),
                    Err(_) => measured.failed += 1,
                }
            }
        }
    }
    measured
}
