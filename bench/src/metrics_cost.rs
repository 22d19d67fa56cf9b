//! `corral-bench metrics-cost`: what recording metrics costs on the write
//! benchmark. In one run it starts fresh 3-node clusters alternately with
//! metrics on (the default) and off (`[metrics] enabled = false`: no
//! recorder is installed, every `metrics::` call is a no-op), drives each
//! with the same write load, and prints writes/s and the nodes' CPU time per
//! write of every round, the median of each side and the overhead by both
//! measures. On a saturated machine throughput is CPU time per write seen
//! through the scheduler's noise; CPU per write is the steadier figure.
//!
//! ```text
//!  cargo build --release -p corral
//!  cargo run --release -p corral-bench -- metrics-cost --rounds 3 --seconds 10
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};

/// Arguments of `metrics-cost`.
#[derive(Debug, clap::Args)]
pub(crate) struct MetricsCostArgs {
    /// Nodes in each cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Concurrent proposers, each with its own session, spread over the nodes.
    #[arg(long, default_value_t = 64)]
    proposers: usize,
    /// Bytes of each value written.
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Seconds measured per cluster (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Rounds; each runs one cluster with metrics and one without, in
    /// alternating order.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The `corral` binary (default: next to this one).
    #[arg(long)]
    corral: Option<PathBuf>,
}

/// Runs the comparison and prints it.
pub(crate) async fn metrics_cost(args: MetricsCostArgs) -> anyhow::Result<()> {
    let binary = super::corral_binary(args.corral.clone())?;
    let mut with = Vec::new();
    let mut without = Vec::new();
    let (mut cpu_with, mut cpu_without) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which goes first, so a drift of the machine hits both sides.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for enabled in order {
            let (rate, cpu) = one_cluster(&binary, &args, enabled).await?;
            println!(
                "  round {} metrics {:3}  {rate:.0} writes/s  {cpu:.1} µs node CPU/write",
                round + 1,
                if enabled { "on" } else { "off" }
            );
            if enabled {
                with.push(rate);
                cpu_with.push(cpu);
            } else {
                without.push(rate);
                cpu_without.push(cpu);
            }
        }
    }
    let (on, off) = (median(&mut with), median(&mut without));
    let (cpu_on, cpu_off) = (median(&mut cpu_with), median(&mut cpu_without));
    println!(
        "corral-bench metrics-cost: {} nodes, {} proposers, {} B values, {} s x {} rounds, fsync on",
        args.nodes, args.proposers, args.value_bytes, args.seconds, args.rounds
    );
    println!("  metrics on   median {on:.0} writes/s  {cpu_on:.1} µs node CPU/write");
    println!("  metrics off  median {off:.0} writes/s  {cpu_off:.1} µs node CPU/write");
    if off > 0.0 && cpu_off > 0.0 {
        println!(
            "  overhead     {:.1}% of throughput, {:.1}% of node CPU per write (positive: metrics cost)",
            (off - on) / off * 100.0,
            (cpu_on - cpu_off) / cpu_off * 100.0
        );
    }
    Ok(())
}

/// One fresh cluster, metrics on or off; returns its writes/s and the nodes'
/// CPU time per write in µs, both over the measured seconds.
async fn one_cluster(
    binary: &std::path::Path,
    args: &MetricsCostArgs,
    enabled: bool,
) -> anyhow::Result<(f64, f64)> {
    let options = ClusterOptions::new(args.nodes)
        .set_log("warn")
        .set("metrics.enabled", enabled);
    let cluster = Cluster::start(binary, options).await?;
    let ids = cluster.ids();
    cluster.wait_serving(&ids, Duration::from_secs(60)).await?;
    let leader = cluster.wait_leader(&ids, Duration::from_secs(30)).await?;
    let setup = cluster.client(leader).await?;
    setup.create("/bench", b"", CreateMode::Persistent).await?;
    let mut clients = Vec::with_capacity(args.proposers);
    for p in 0..args.proposers {
        let client = cluster.client(ids[p % ids.len()]).await?;
        client
            .create(&format!("/bench/p{p}"), b"", CreateMode::Persistent)
            .await?;
        clients.push(client);
    }
    let value = vec![b'v'; args.value_bytes];
    let measure_from = Instant::now() + Duration::from_secs(1);
    let end = measure_from + Duration::from_secs(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for (p, client) in clients.into_iter().enumerate() {
        let path = format!("/bench/p{p}");
        tasks.spawn(super::proposer(
            client,
            path,
            value.clone(),
            measure_from,
            end,
        ));
    }
    let pids: Vec<u32> = ids.iter().filter_map(|&id| cluster.pid(id)).collect();
    let node_cpu_ns = || pids.iter().map(|&pid| super::cpu_ns(pid)).sum::<u64>();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = node_cpu_ns();
    tokio::time::sleep_until(end.into()).await;
    let cpu_ns = node_cpu_ns().saturating_sub(cpu_from);
    let mut writes = 0usize;
    while let Some(result) = tasks.join_next().await {
        writes += result?.0.len();
    }
    // Dropping the cluster stops its nodes.
    drop(cluster);
    let per_write_us = cpu_ns as f64 / 1e3 / writes.max(1) as f64;
    Ok((writes as f64 / args.seconds as f64, per_write_us))
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
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut []), 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
