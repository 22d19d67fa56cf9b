//! `corral-bench failover`: how long writes stop when the leader's process
//! dies. A session on a follower writes with one request in flight; each
//! round kills the leader with SIGKILL, times the first write acknowledged
//! after the kill that was sent after it, and the first status that shows
//! a new leader, then restarts the killed node and waits for it to serve.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corral_client::{Client, CreateMode, ErrorCode};
use corral_tests::cluster::{Cluster, ClusterOptions};

use crate::percentile::percentile;

/// Arguments of `failover`.
#[derive(Debug, clap::Args)]
pub(crate) struct FailoverArgs {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Leaders killed, one per round.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Writes before each kill, so the links are warm.
    #[arg(long, default_value_t = 200)]
    writes_before: usize,
    /// The `corral` binary (default: next to this one).
    #[arg(long)]
    corral: Option<std::path::PathBuf>,
}

/// Longest a round waits for writes to come back.
const ROUND_LIMIT: Duration = Duration::from_secs(30);

/// One round's figures, in microseconds after the kill.
struct Round {
    /// The first write sent after the kill and acknowledged.
    writes_back_us: u32,
    /// The first poll of the survivors' status that found a new leader.
    leader_seen_us: u32,
    /// Writes that failed meanwhile (ConnectionLoss: outcome unknown).
    failed: u32,
}

/// Runs `failover`.
pub(crate) async fn failover(args: FailoverArgs) -> anyhow::Result<()> {
    if args.nodes < 3 {
        bail!("--nodes must be at least 3: a smaller cluster has no quorum without its leader");
    }
    let binary = crate::corral_binary(args.corral.clone())?;
    let options = ClusterOptions::new(args.nodes).set_log("warn");
    let mut cluster = Cluster::start_serving(&binary, options).await?;
    let ids = cluster.ids();
    let mut rounds = Vec::with_capacity(args.rounds);
    for round in 0..args.rounds {
        let r = one_round(&mut cluster, &ids, round, args.writes_before)
            .await
            .with_context(|| format!("round {round}"))?;
        println!(
            "round {round}: writes back {:.1} ms after the kill, new leader seen at {:.1} ms, {} writes failed",
            f64::from(r.writes_back_us) / 1e3,
            f64::from(r.leader_seen_us) / 1e3,
            r.failed
        );
        rounds.push(r);
    }
    let mut back: Vec<u32> = rounds.iter().map(|r| r.writes_back_us).collect();
    let mut seen: Vec<u32> = rounds.iter().map(|r| r.leader_seen_us).collect();
    back.sort_unstable();
    seen.sort_unstable();
    let ms = |v: &[u32], q: f64| f64::from(percentile(v, q)) / 1e3;
    println!(
        "corral-bench failover: {} nodes, {} leaders killed (SIGKILL), a session on a follower writing",
        args.nodes, args.rounds
    );
    println!(
        "  writes back after  ms  p50 {:.1}  p90 {:.1}  max {:.1}",
        ms(&back, 0.5),
        ms(&back, 0.9),
        ms(&back, 1.0)
    );
    println!(
        "  new leader seen    ms  p50 {:.1}  p90 {:.1}  max {:.1}",
        ms(&seen, 0.5),
        ms(&seen, 0.9),
        ms(&seen, 1.0)
    );
    Ok(())
}

async fn one_round(
    cluster: &mut Cluster,
    ids: &[u64],
    round: usize,
    writes_before: usize,
) -> anyhow::Result<Round> {
    let leader = cluster.wait_leader(ids, ROUND_LIMIT).await?;
    let survivors: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
    let home = survivors[round % survivors.len()];
    let client = cluster.client(home).await?;
    let path = format!("/corral-bench-failover-{round}");
    client.create(&path, b"", CreateMode::Persistent).await?;
    for _ in 0..writes_before {
        client.set_data(&path, b"before", None).await?;
    }
    let (kill_tx, kill_rx) = tokio::sync::watch::channel(None);
    let writer = tokio::spawn(write_until_back(client.clone(), path, kill_rx));
    // Let the writer be mid-stream when the leader dies.
    tokio::time::sleep(Duration::from_millis(20)).await;
    cluster.kill9(leader)?;
    let killed = Instant::now();
    kill_tx.send_replace(Some(killed));
    let leader_seen = loop {
        if let Some((id, _)) = cluster.leader_among(&survivors).await {
            if id != leader {
                break killed.elapsed();
            }
        }
        if killed.elapsed() > ROUND_LIMIT {
            bail!("no new leader within {ROUND_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let (back_at, failed) = writer.await.context("the writer panicked")??;
    let writes_back = back_at
        .checked_duration_since(killed)
        .context("writes came back before the kill")?;
    client.close().await?;
    cluster.start_node(leader)?;
    cluster.wait_serving(ids, ROUND_LIMIT).await?;
    let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    Ok(Round {
        writes_back_us: us(writes_back),
        leader_seen_us: us(leader_seen),
        failed,
    })
}

/// Writes one at a time until a write sent after the kill (once `kill`
/// says when it was) is acknowledged; returns when it was, and how many
/// writes failed (ConnectionLoss: a write in flight when the leader died).
async fn write_until_back(
    client: Client,
    path: String,
    kill: tokio::sync::watch::Receiver<Option<Instant>>,
) -> anyhow::Result<(Instant, u32)> {
    let started = Instant::now();
    let mut failed = 0u32;
    loop {
        let sent = Instant::now();
        let result = client.set_data(&path, b"after", None).await;
        let sent_after_kill = (*kill.borrow()).is_some_and(|killed| sent >= killed);
        match result {
            Ok(_) if sent_after_kill => return Ok((Instant::now(), failed)),
            Ok(_) => {}
            // Lost with the link, or answered so by the follower whose
            // forward the old leader took with it.
            Err(e) if e.code() == Some(ErrorCode::ConnectionLoss) => failed += 1,
            Err(e) => return Err(e).context("a write failed"),
        }
        if started.elapsed() > ROUND_LIMIT {
            bail!("writes did not come back within {ROUND_LIMIT:?}");
        }
    }
}
