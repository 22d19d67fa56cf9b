//! `corral-bench fanout`: the watch fan-out phase of `compare` on its own,
//! against a corral cluster this command starts (no ZooKeeper), for working
//! on the fan-out path: one round's spread in time is printed per round.

use std::time::Duration;

use anyhow::Context;
use corral_tests::cluster::{Cluster, ClusterOptions};

use crate::compare_fanout::{Fanout, run_fanout};
use crate::compare_system::{Session, SystemAddress, SystemKind};
use crate::percentile::percentile;

/// Arguments of `fanout`.
#[derive(Debug, clap::Args)]
pub(crate) struct FanoutArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Sessions watching the one znode, spread evenly over the nodes.
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    /// Changes of the znode.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// `getconf CLK_TCK`: the unit of /proc/PID/stat CPU times.
    #[arg(long, default_value_t = 100)]
    clock_ticks: u64,
    /// The `corral` binary (default: next to this one).
    #[arg(long)]
    corral: Option<std::path::PathBuf>,
}

/// Runs `fanout`.
pub(crate) async fn fanout(args: FanoutArgs) -> anyhow::Result<()> {
    let binary = crate::corral_binary(args.corral.clone())?;
    // Laid out as `corral dev` lays it out: each node gets its share of the cores.
    let options = ClusterOptions::new(args.nodes).set_log("warn");
    let cluster = Cluster::start_serving(&binary, options).await?;
    let ids = cluster.ids();
    cluster.wait_leader(&ids, Duration::from_secs(30)).await?;
    let files = &cluster.manifest().client;
    let address = SystemAddress {
        kind: SystemKind::Corral,
        endpoints: cluster
            .manifest()
            .nodes
            .iter()
            .map(|n| n.listen.to_string())
            .collect(),
        tls: Some((files.ca.clone(), files.cert.clone(), files.key.clone())),
        shared: None,
    };
    let writer = Session::connect(&address, 0).await?;
    let pids: Vec<u32> = ids.iter().filter_map(|&id| cluster.pid(id)).collect();
    // Thousands of sessions in one process share one link per node, as in `compare`.
    let watchers = address.sharing()?;
    let result = run_fanout(Fanout {
        address: &watchers,
        writer: &writer,
        path: "/corral-bench-fanout",
        watchers: args.watchers,
        rounds: args.rounds,
        pids: &pids,
        quiet_pids: &pids,
        clock_ticks: args.clock_ticks,
    })
    .await
    .context("the watch fan-out")?;
    let events = result.ops.max(1) as f64;
    let ms = |q: f64| f64::from(percentile(&result.latencies_us, q)) / 1e3;
    println!(
        "corral-bench fanout: {} nodes, {} watchers, {} rounds: {} events, {} missing",
        args.nodes, args.watchers, args.rounds, result.ops, result.errors
    );
    println!(
        "  ms after the write: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0)
    );
    println!(
        "  CPU per event: servers {:.1} us, this load generator {:.1} us",
        result.server_cpu_us as f64 / events,
        result.bench_cpu_us as f64 / events
    );
    Ok(())
}
