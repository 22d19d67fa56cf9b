//! `corral-bench metrics-cost`: what recording metrics costs on the write
//! benchmark, measured with and without in one run.
//!
//! Each round starts two fresh 3-node clusters side by side, one with
//! metrics on (the default) and one off (`[metrics] enabled = false`: no
//! recorder is installed, every `metrics::` call is a no-op), and drives
//! both with the same write load over the same seconds. Both share the
//! machine's state in that window (this machine's speed drifts by more than
//! the cost being measured, so clusters run one after the other would
//! compare the drift). For each round it prints writes/s and the nodes' CPU
//! time per write of each cluster; at the end, the median of each side and
//! the median of the rounds' paired differences.
//!
//! ```text
//!  cargo build --release -p corral
//!  cargo run --release -p corral-bench -- metrics-cost --rounds 5 --seconds 10
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use corral_client::Client;
use corral_tests::cluster::{Cluster, ClusterOptions};

/// Arguments of `metrics-cost`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetricsCostArgs {
    /// Nodes in each cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Concurrent proposers per cluster, each with its own session, spread
    /// over the nodes.
    #[arg(long, default_value_t = 64)]
    proposers: usize,
    /// Bytes of each value written.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Seconds measured per round (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Rounds; each runs a cluster with metrics and one without, side by side.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The `corral` binary (default: next to this one).
    #[arg(long)]
    corral: Option<PathBuf>,
}

/// What one cluster did over the measured seconds.
#[derive(Debug, Clone, Copy)]
struct Measured {
    writes_per_second: f64,
    /// The nodes' CPU time per write, in µs.
    cpu_us_per_write: f64,
}

/// Runs the comparison and prints it.
pub(crate) async fn metrics_cost(args: MetricsCostArgs) -> anyhow::Result<()> {
    let binary = super::corral_binary(args.corral.clone())?;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let (mut rate_costs, mut cpu_costs) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let with = Loaded::start(&binary, &args, true).await?;
        let without = Loaded::start(&binary, &args, false).await?;
        let measure_from = Instant::now() + Duration::from_secs(1);
        let end = measure_from + Duration::from_secs(args.seconds);
        let (a, b) = tokio::join!(
            with.drive(&args, measure_from, end),
            without.drive(&args, measure_from, end)
        );
        let (a, b) = (a?, b?);
        println!(
            "  round {}  metrics on {:.0} writes/s {:.1} µs node CPU/write  |  off {:.0} writes/s {:.1} µs node CPU/write",
            round + 1,
            a.writes_per_second,
            a.cpu_us_per_write,
            b.writes_per_second,
            b.cpu_us_per_write
        );
        // Throughput lost with metrics on, and CPU per write added, in % of off.
        rate_costs.push(-percent_over(a.writes_per_second, b.writes_per_second));
        cpu_costs.push(percent_over(a.cpu_us_per_write, b.cpu_us_per_write));
        on.push(a);
        off.push(b);
    }
    let median_of =
        |v: &[Measured], f: fn(&Measured) -> f64| median(&mut v.iter().map(f).collect::<Vec<_>>());
    println!(
        "corral-bench metrics-cost: {} nodes, {} proposers per cluster, {} B values, {} s x {} rounds, fsync on",
        args.nodes, args.proposers, args.value_bytes, args.seconds, args.rounds
    );
    for (name, side) in [("on ", &on), ("off", &off)] {
        println!(
            "  metrics {name}  median {:.0} writes/s  {:.1} µs node CPU/write",
            median_of(side, |m| m.writes_per_second),
            median_of(side, |m| m.cpu_us_per_write)
        );
    }
    println!(
        "  overhead     {:.1}% of throughput, {:.1}% of node CPU per write (median of the paired rounds; positive: metrics cost)",
        median(&mut rate_costs),
        median(&mut cpu_costs)
    );
    Ok(())
}

/// `x - base` in % of `base` (0 when `base` is 0).
fn percent_over(x: f64, base: f64) -> f64 {
    if base > 0.0 {
        (x - base) / base * 100.0
    } else {
        0.0
    }
}

/// A started cluster with one connected client per proposer.
struct Loaded {
    cluster: Cluster,
    clients: Vec<Client>,
}

impl Loaded {
    /// Starts a fresh cluster, metrics on or off, and connects the proposers.
    async fn start(
        binary: &std::path::Path,
        args: &MetricsCostArgs,
        enabled: bool,
    ) -> anyhow::Result<Loaded> {
        let options = ClusterOptions::new(args.nodes)
            .set_log("warn")
            .set("metrics.enabled", enabled);
        let cluster = Cluster::start(binary, options).await?;
        let ids = cluster.ids();
        cluster.wait_serving(&ids, Duration::from_secs(60)).await?;
        let leader = cluster.wait_leader(&ids, Duration::from_secs(30)).await?;
        let clients =
            super::connect_proposers(&cluster, leader, &ids, args.proposers, false).await?;
        Ok(Loaded { cluster, clients })
    }

    /// Writes from every proposer until `end`; measures from `measure_from`.
    /// Stops the cluster afterwards.
    async fn drive(
        self,
        args: &MetricsCostArgs,
        measure_from: Instant,
        end: Instant,
    ) -> anyhow::Result<Measured> {
        let Loaded { cluster, clients } = self;
        let value = vec![b'v'; args.value_bytes];
        let mut tasks = tokio::task::JoinSet::new();
        for (p, client) in clients.into_iter().enumerate() {
            tasks.spawn(super::proposer(
                client,
                vec![format!("/bench/p{p}")],
                value.clone(),
                super::Mix::default(),
                measure_from,
                end,
            ));
        }
        let pids: Vec<u32> = cluster
            .ids()
            .iter()
            .filter_map(|&id| cluster.pid(id))
            .collect();
        let node_cpu_ns = || pids.iter().map(|&pid| super::cpu_ns(pid)).sum::<u64>();
        tokio::time::sleep_until(measure_from.into()).await;
        let cpu_from = node_cpu_ns();
        tokio::time::sleep_until(end.into()).await;
        let cpu_ns = node_cpu_ns().saturating_sub(cpu_from);
        let mut writes = 0usize;
        while let Some(result) = tasks.join_next().await {
            writes += result?.samples.len();
        }
        // Dropping the cluster stops its nodes.
        drop(cluster);
        Ok(Measured {
            writes_per_second: writes as f64 / args.seconds as f64,
            cpu_us_per_write: cpu_ns as f64 / 1e3 / writes.max(1) as f64,
        })
    }
}

/// The median of `samples` (0 when empty).
fn median(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_over_is_relative_to_the_base() {
        assert_eq!(percent_over(110.0, 100.0), 10.0);
        assert_eq!(percent_over(90.0, 100.0), -10.0);
        assert_eq!(percent_over(5.0, 0.0), 0.0);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
