//! `corral-bench failover`: how long writes stop when the leader's process
//! dies, or (`--fault stop`) hangs, for corral or (`--system zookeeper`) for
//! Apache ZooKeeper on the same machine. A session on a follower writes with
//! one request in flight; each round kills the leader with SIGKILL (or
//! pauses it with SIGSTOP, as a long GC pause or a frozen VM would) and
//! times the first write sent after the fault that is acknowledged, and the
//! first poll that shows a new leader; then it restarts (or resumes) the
//! server, waits for every server to serve and for the old leader to no
//! longer claim to lead.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corral_tests::cluster::{Cluster, ClusterOptions};
use nix::sys::signal::Signal;

use crate::compare_system::{Session, SystemAddress, SystemKind};
use crate::percentile::percentile;
use crate::zk_ensemble::ZkEnsemble;

/// The system `failover` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailoverSystem {
    /// A corral cluster (its `corral serve` processes).
    Corral,
    /// An Apache ZooKeeper ensemble (Debian's `zookeeper` package; needs the
    /// `zookeeper` feature).
    Zookeeper,
}

/// What happens to the leader each round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Fault {
    /// SIGKILL: the process dies and its ports answer with ICMP port
    /// unreachable; the server is restarted after the round.
    Kill,
    /// SIGSTOP: the process hangs, silent, its sockets open (no ICMP); it is
    /// resumed with SIGCONT after the round and must step down.
    Stop,
}

impl Fault {
    /// What the round does to the leader, in words.
    fn done(self) -> &'static str {
        match self {
            Fault::Kill => "killed (SIGKILL)",
            Fault::Stop => "paused (SIGSTOP) and resumed",
        }
    }
}

/// Arguments of `failover`.
#[derive(Debug, clap::Args)]
pub(crate) struct FailoverArgs {
    /// The system to measure.
    #[arg(long, value_enum, default_value_t = FailoverSystem::Corral)]
    system: FailoverSystem,
    /// Servers in the cluster.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Leaders killed (or paused), one per round.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// What each round does to the leader.
    #[arg(long, value_enum, default_value_t = Fault::Kill)]
    fault: Fault,
    /// Writes before each fault, so the links are warm.
    #[arg(long, default_value_t = 200)]
    writes_before: usize,
    /// The `corral` binary (default: next to this one).
    #[arg(long)]
    corral: Option<PathBuf>,
}

/// Longest a round waits for writes to come back, and for servers to serve.
/// (A ZooKeeper follower notices a paused leader only after `syncLimit`
/// ticks: 10 s in the configuration used.)
const ROUND_LIMIT: Duration = Duration::from_secs(60);

/// One round's figures, in microseconds after the fault.
struct Round {
    /// The first write sent after the fault and acknowledged.
    writes_back_us: u32,
    /// The first poll of the survivors that found a new leader.
    leader_seen_us: u32,
    /// Writes that failed meanwhile (a write in flight when the leader died
    /// ends in ConnectionLoss: its outcome is unknown).
    failed: u32,
}

/// The servers under test.
enum Servers {
    Corral {
        cluster: Box<Cluster>,
        ids: Vec<u64>,
        tls: (PathBuf, PathBuf, PathBuf),
    },
    ZooKeeper {
        ensemble: ZkEnsemble,
        root: PathBuf,
    },
}

impl Servers {
    async fn start(args: &FailoverArgs) -> anyhow::Result<Self> {
        match args.system {
            FailoverSystem::Corral => {
                let binary = crate::corral_binary(args.corral.clone())?;
                let options = ClusterOptions::new(args.nodes).set_log("warn");
                let cluster = Cluster::start_serving(&binary, options).await?;
                let ids = cluster.ids();
                let files = &cluster.manifest().client;
                let tls = (files.ca.clone(), files.cert.clone(), files.key.clone());
                Ok(Servers::Corral {
                    cluster: Box::new(cluster),
                    ids,
                    tls,
                })
            }
            FailoverSystem::Zookeeper => {
                let root = std::env::temp_dir()
                    .join(format!("corral-bench-failover-{}", std::process::id()));
                let nodes = usize::try_from(args.nodes)?;
                let ensemble = ZkEnsemble::start(&root, nodes, ROUND_LIMIT).await?;
                Ok(Servers::ZooKeeper { ensemble, root })
            }
        }
    }

    fn count(&self) -> usize {
        match self {
            Servers::Corral { ids, .. } => ids.len(),
            Servers::ZooKeeper { ensemble, .. } => ensemble.len(),
        }
    }

    /// The server (an index) that leads, among `among`.
    async fn leader(&self, among: &[usize]) -> Option<usize> {
        match self {
            Servers::Corral { cluster, ids, .. } => {
                let candidates: Vec<u64> = among.iter().map(|&i| ids[i]).collect();
                let (id, _) = cluster.leader_among(&candidates).await?;
                ids.iter().position(|&x| x == id)
            }
            Servers::ZooKeeper { ensemble, .. } => {
                for &i in among {
                    if ensemble.mode(i).await.as_deref() == Some("leader") {
                        return Some(i);
                    }
                }
                None
            }
        }
    }

    /// Kills or pauses server `index`.
    fn inflict(&mut self, index: usize, fault: Fault) -> anyhow::Result<()> {
        match (self, fault) {
            (Servers::Corral { cluster, ids, .. }, Fault::Kill) => cluster.kill9(ids[index]),
            (Servers::Corral { cluster, ids, .. }, Fault::Stop) => cluster.pause(ids[index]),
            (Servers::ZooKeeper { ensemble, .. }, Fault::Kill) => ensemble.kill9(index),
            (Servers::ZooKeeper { ensemble, .. }, Fault::Stop) => {
                ensemble.signal(index, Signal::SIGSTOP)
            }
        }
    }

    /// Restarts (or resumes) server `index`, then waits until every server serves.
    async fn recover(&mut self, index: usize, fault: Fault) -> anyhow::Result<()> {
        match self {
            Servers::Corral { cluster, ids, .. } => {
                match fault {
                    Fault::Kill => cluster.start_node(ids[index])?,
                    Fault::Stop => cluster.resume(ids[index])?,
                }
                let all = ids.clone();
                cluster.wait_serving(&all, ROUND_LIMIT).await
            }
            Servers::ZooKeeper { ensemble, .. } => {
                match fault {
                    Fault::Kill => ensemble.start_server(index)?,
                    Fault::Stop => ensemble.signal(index, Signal::SIGCONT)?,
                }
                let all: Vec<usize> = (0..ensemble.len()).collect();
                ensemble.wait_serving(&all, ROUND_LIMIT).await
            }
        }
    }

    /// Waits until server `index`, which led before the fault, serves
    /// without claiming to lead (a resumed leader must step down).
    async fn wait_stepped_down(&self, index: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + ROUND_LIMIT;
        while self.leader(&[index]).await.is_some() {
            if Instant::now() > deadline {
                bail!("server {index} still claims to lead {ROUND_LIMIT:?} after the fault");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Server `index` alone, for a session that stays there.
    fn address(&self, index: usize) -> anyhow::Result<SystemAddress> {
        let (endpoint, tls) = match self {
            Servers::Corral { cluster, ids, tls } => (
                cluster.node(ids[index])?.listen.to_string(),
                Some(tls.clone()),
            ),
            Servers::ZooKeeper { ensemble, .. } => (ensemble.endpoint(index)?, None),
        };
        Ok(SystemAddress {
            kind: self.kind(),
            endpoints: vec![endpoint],
            tls,
            shared: None,
        })
    }

    fn kind(&self) -> SystemKind {
        match self {
            Servers::Corral { .. } => SystemKind::Corral,
            Servers::ZooKeeper { .. } => SystemKind::ZooKeeper,
        }
    }
}

/// Runs `failover`.
pub(crate) async fn failover(args: FailoverArgs) -> anyhow::Result<()> {
    if args.nodes < 3 {
        bail!("--nodes must be at least 3: a smaller cluster has no quorum without its leader");
    }
    let mut servers = Servers::start(&args).await?;
    let result = run_rounds(&mut servers, &args).await;
    if let Servers::ZooKeeper { root, .. } = &servers {
        let root = root.clone();
        drop(servers);
        let _ = std::fs::remove_dir_all(root);
    }
    result
}

async fn run_rounds(servers: &mut Servers, args: &FailoverArgs) -> anyhow::Result<()> {
    let mut rounds = Vec::with_capacity(args.rounds);
    for round in 0..args.rounds {
        let r = one_round(servers, round, args.writes_before, args.fault)
            .await
            .with_context(|| format!("round {round}"))?;
        println!(
            "round {round}: writes back {:.1} ms after the fault, new leader seen at {:.1} ms, {} writes failed",
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
        "corral-bench failover: {}, {} servers, {} leaders {}, a session on a follower writing",
        servers.kind().name(),
        args.nodes,
        args.rounds,
        args.fault.done()
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
    servers: &mut Servers,
    round: usize,
    writes_before: usize,
    fault: Fault,
) -> anyhow::Result<Round> {
    let all: Vec<usize> = (0..servers.count()).collect();
    let deadline = Instant::now() + ROUND_LIMIT;
    let leader = loop {
        if let Some(leader) = servers.leader(&all).await {
            break leader;
        }
        if Instant::now() > deadline {
            bail!("no leader within {ROUND_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let survivors: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    let home = survivors[round % survivors.len()];
    let session = Session::connect(&servers.address(home)?, 0).await?;
    let path = format!("/corral-bench-failover-{round}");
    session.ensure(&path, b"").await?;
    for _ in 0..writes_before {
        session.write(&path, b"before").await?;
    }
    let (fault_tx, fault_rx) = tokio::sync::watch::channel(None);
    let writer = tokio::spawn(write_until_back(session.clone(), path, fault_rx));
    // Let the writer be mid-stream when the fault strikes.
    tokio::time::sleep(Duration::from_millis(20)).await;
    servers.inflict(leader, fault)?;
    let struck = Instant::now();
    fault_tx.send_replace(Some(struck));
    let measured = async {
        let leader_seen = loop {
            if servers.leader(&survivors).await.is_some() {
                break struck.elapsed();
            }
            if struck.elapsed() > ROUND_LIMIT {
                bail!("no new leader within {ROUND_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let (back_at, failed) = writer.await.context("the writer panicked")??;
        let writes_back = back_at
            .checked_duration_since(struck)
            .context("writes came back before the fault")?;
        anyhow::Ok((leader_seen, writes_back, failed))
    }
    .await;
    // A paused server is resumed whatever the round found.
    let recovered = servers.recover(leader, fault).await;
    let (leader_seen, writes_back, failed) = measured?;
    recovered?;
    servers.wait_stepped_down(leader).await?;
    session.close().await?;
    let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
    Ok(Round {
        writes_back_us: us(writes_back),
        leader_seen_us: us(leader_seen),
        failed,
    })
}

/// Writes one at a time until a write sent after the fault (once `fault`
/// says when it was) is acknowledged; returns when it was, and how many
/// writes failed meanwhile.
async fn write_until_back(
    session: Session,
    path: String,
    fault: tokio::sync::watch::Receiver<Option<Instant>>,
) -> anyhow::Result<(Instant, u32)> {
    let started = Instant::now();
    let mut failed = 0u32;
    loop {
        let sent = Instant::now();
        let result = session.write(&path, b"after").await;
        let sent_after_fault = (*fault.borrow()).is_some_and(|struck| sent >= struck);
        match result {
            Ok(()) if sent_after_fault => return Ok((Instant::now(), failed)),
            Ok(()) => {}
            // Connection loss, or the leader's change answered so: the
            // session goes on (both clients reconnect by themselves).
            Err(_) => {
                failed += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        if started.elapsed() > ROUND_LIMIT {
            bail!("writes did not come back within {ROUND_LIMIT:?}");
        }
    }
}
