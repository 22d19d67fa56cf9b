//! `corral dev`: a local cluster of real `corral serve` processes, for trying
//! corral out and for developing against it.
//!
//! It lays the cluster out ([`crate::dev_layout`]), starts one child process
//! per node (so any one can be killed, `kill -9 PID`), prints how to reach
//! it, and runs until Ctrl-C or SIGTERM; then it stops every node cleanly:
//! SIGTERM, a bounded wait, SIGKILL for any node still running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::dev_layout::{self, Manifest, NodeEntry};

/// How long stopped nodes get to exit after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long `corral dev` waits for every node to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often children and readiness are polled.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The `dev` subcommand's arguments.
#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Number of nodes (voters).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Directory for certificates, configs, data and logs; a directory that
    /// already holds a `corral dev` cluster is started again as it is.
    #[arg(long, default_value = "corral-dev")]
    dir: PathBuf,
    /// Only write the certificates, configs and manifest, then exit (the
    /// whole-cluster tests use this to get the same layout).
    #[arg(long, hide = true)]
    layout_only: bool,
}

/// Runs `corral dev`.
pub(crate) fn run(args: DevArgs) -> anyhow::Result<()> {
    let manifest = if args.dir.join(dev_layout::MANIFEST_FILE).exists() && !args.layout_only {
        println!("corral dev: reusing the cluster in {}", args.dir.display());
        Manifest::load(&args.dir)?
    } else {
        dev_layout::lay_out(&args.dir, args.nodes)?
    };
    if args.layout_only {
        println!("{}", args.dir.join(dev_layout::MANIFEST_FILE).display());
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the corral binary")?;
    let mut nodes = Vec::new();
    for entry in &manifest.nodes {
        match spawn_node(&exe, entry) {
            Ok(child) => nodes.push((entry.clone(), Some(child))),
            Err(e) => {
                stop_all(&mut nodes);
                return Err(e);
            }
        }
    }
    print_cluster(&args.dir, &manifest, &nodes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let result = runtime.block_on(supervise(&mut nodes));
    stop_all(&mut nodes);
    result
}

fn spawn_node(exe: &Path, entry: &NodeEntry) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&entry.log)
        .with_context(|| format!("cannot open {}", entry.log.display()))?;
    let log_err = log
        .try_clone()
        .with_context(|| format!("cannot open {}", entry.log.display()))?;
    Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(&entry.config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .with_context(|| format!("cannot start node {}", entry.id))
}

fn print_cluster(dir: &Path, manifest: &Manifest, nodes: &[(NodeEntry, Option<Child>)]) {
    println!(
        "corral dev: {} nodes, files in {}",
        nodes.len(),
        dir.display()
    );
    for (entry, child) in nodes {
        let pid = child.as_ref().map_or(0, Child::id);
        println!(
            "  node {}  pid {pid}  endpoint {}  metrics http://{}/metrics  log {}",
            entry.id,
            entry.listen,
            entry.metrics_listen,
            entry.log.display()
        );
    }
    println!();
    println!("export CORRAL_ENDPOINTS={}", manifest.endpoints());
    println!("export CORRAL_CA={}", manifest.client.ca.display());
    println!("export CORRAL_CERT={}", manifest.client.cert.display());
    println!("export CORRAL_KEY={}", manifest.client.key.display());
    println!();
    println!("Ctrl-C stops the cluster.");
}

/// Watches the nodes until Ctrl-C or SIGTERM; reports readiness and any node
/// that exits (killed by hand, say) without stopping the others.
async fn supervise(nodes: &mut [(NodeEntry, Option<Child>)]) -> anyhow::Result<()> {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let started = Instant::now();
    let mut ready_reported = false;
    let mut ticks = tokio::time::interval(POLL_EVERY);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
            _ = ticks.tick() => {}
        }
        for (entry, child) in nodes.iter_mut() {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                println!(
                    "corral dev: node {} exited ({status}); see {}",
                    entry.id,
                    entry.log.display()
                );
                *child = None;
            }
        }
        if !ready_reported {
            if nodes.iter().all(|(entry, _)| is_ready(entry)) {
                println!(
                    "corral dev: every node is ready ({} ms)",
                    started.elapsed().as_millis()
                );
                ready_reported = true;
            } else if started.elapsed() > READY_TIMEOUT {
                println!(
                    "corral dev: not every node is ready after {} s; see the logs",
                    READY_TIMEOUT.as_secs()
                );
                ready_reported = true;
            }
        }
    }
    println!("corral dev: stopping the nodes");
    Ok(())
}

/// Whether the node's `/ready` answers 200.
fn is_ready(entry: &NodeEntry) -> bool {
    crate::dev_http::get(entry.metrics_listen, "/ready", Duration::from_millis(200))
        .is_ok_and(|(status, _)| status == 200)
}

/// SIGTERM to every running node, a bounded wait, then SIGKILL for the rest.
fn stop_all(nodes: &mut [(NodeEntry, Option<Child>)]) {
    for (_, child) in nodes.iter() {
        if let Some(child) = child {
            let _ = kill(pid_of(child), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    for (entry, slot) in nodes.iter_mut() {
        let Some(child) = slot.as_mut() else { continue };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    println!("corral dev: node {} stopped ({status})", entry.id);
                    break;
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_EVERY),
                _ => {
                    println!(
                        "corral dev: node {} did not stop within {} s; killing it",
                        entry.id,
                        STOP_GRACE.as_secs()
                    );
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        *slot = None;
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}
