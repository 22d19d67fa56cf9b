//! A cluster of real `corral serve` processes on loopback, for whole-cluster
//! tests and benchmarks.
//!
//! The layout (CA, certificates, one `node.toml` per node, the manifest) is
//! made by the binary itself, `corral dev --layout-only`, so tests run exactly
//! what `corral dev` runs. The harness then adjusts each `node.toml` (timing,
//! snapshot thresholds, peer addresses routed through [`UdpProxy`]s) and runs
//! each node as its own child process, so it can stop, `kill -9`, SIGSTOP and
//! restart any one of them on the same data directory.
//!
//! ```text
//!  Cluster::start(binary, options)
//!     ├─ corral dev --layout-only --dir DIR --nodes N   (certs, configs, cluster.toml)
//!     ├─ edit DIR/node-N/node.toml                      (options, proxies)
//!     └─ corral serve --config DIR/node-N/node.toml     ×N, output appended to node.log
//! ```
//!
//! Only processes the harness started are ever signalled, by PID. Every wait
//! takes a timeout. Dropping a [`Cluster`] kills every node it still runs; if
//! the test is panicking, the directory is kept and its path printed, so the
//! logs can be read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corral_client::{Client, ClientConfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;

use crate::node_status::{NodeStatus, http_get, metric_value};
use crate::udp_proxy::UdpProxy;

/// How often waits poll.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// Limit on one HTTP status request.
const HTTP_TIMEOUT: Duration = Duration::from_millis(500);

/// How to build a test cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of voters.
    pub nodes: u64,
    /// Route every peer link through a [`UdpProxy`] (one per direction of
    /// each pair, dialer to upstream), so faults can be put on it.
    pub proxies: bool,
    /// Extra settings for every `node.toml`, as `("section.key", value)`
    /// (`"limits.snapshot_entries"`, `"timing.tick_ms"`, ...).
    pub settings: Vec<(String, toml::Value)>,
    /// `RUST_LOG` for the nodes.
    pub rust_log: String,
}

impl ClusterOptions {
    /// `nodes` voters, default timing and limits, no proxies.
    pub fn new(nodes: u64) -> Self {
        Self {
            nodes,
            proxies: false,
            settings: Vec::new(),
            rust_log: "info".into(),
        }
    }

    /// Sets the nodes' `RUST_LOG`.
    pub fn set_log(mut self, rust_log: &str) -> Self {
        self.rust_log = rust_log.to_owned();
        self
    }

    /// Adds a `node.toml` setting for every node.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.settings.push((key.to_owned(), value.into()));
        self
    }
}

/// The manifest `corral dev --layout-only` writes (`cluster.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The cluster's name.
    pub cluster: String,
    /// The client certificate set.
    pub client: ClientFiles,
    /// Every node.
    pub nodes: Vec<NodeEntry>,
}

/// A client's certificate files.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientFiles {
    /// The cluster CA.
    pub ca: PathBuf,
    /// The client certificate.
    pub cert: PathBuf,
    /// The client key.
    pub key: PathBuf,
}

/// One node of the layout.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeEntry {
    /// Its id.
    pub id: u64,
    /// Its `node.toml`.
    pub config: PathBuf,
    /// Its QUIC address.
    pub listen: SocketAddr,
    /// Its HTTP address.
    pub metrics_listen: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
}

/// One node's process, if running.
#[derive(Debug)]
struct NodeProcess {
    entry: NodeEntry,
    child: Option<Child>,
    paused: bool,
}

/// A running test cluster; see the module docs.
#[derive(Debug)]
pub struct Cluster {
    binary: PathBuf,
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    manifest: Manifest,
    nodes: BTreeMap<u64, NodeProcess>,
    proxies: BTreeMap<(u64, u64), UdpProxy>,
    rust_log: String,
}

/// How long [`Cluster::start_serving`] waits for every node to serve.
pub const SERVING_WITHIN: Duration = Duration::from_secs(30);

impl Cluster {
    /// Lays out a cluster with `binary` (the `corral` executable) in a fresh
    /// temporary directory and starts every node.
    pub async fn start(binary: &Path, options: ClusterOptions) -> anyhow::Result<Self> {
        let mut cluster = Self::lay_out(binary, options).await?;
        for id in cluster.ids() {
            cluster.start_node(id)?;
        }
        Ok(cluster)
    }

    /// Starts a cluster as [`Cluster::start`] does and waits until every
    /// node serves (at most [`SERVING_WITHIN`]).
    pub async fn start_serving(binary: &Path, options: ClusterOptions) -> anyhow::Result<Self> {
        let cluster = Self::start(binary, options).await?;
        cluster.wait_serving(&cluster.ids(), SERVING_WITHIN).await?;
        Ok(cluster)
    }

    /// Lays out a cluster without starting any node.
    pub async fn lay_out(binary: &Path, options: ClusterOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("corral-cluster-")
            .tempdir()
            .context("cannot create the cluster directory")?;
        let root = dir.path().join("cluster");
        let output = Command::new(binary)
            .args(["dev", "--layout-only", "--nodes"])
            .arg(options.nodes.to_string())
            .arg("--dir")
            .arg(&root)
            .output()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        if !output.status.success() {
            bail!(
                "corral dev --layout-only failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let manifest_path = root.join("cluster.toml");
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("cannot read {}", manifest_path.display()))?;
        let manifest: Manifest = toml::from_str(&text).context("bad cluster.toml")?;
        let mut proxies = BTreeMap::new();
        if options.proxies {
            for from in &manifest.nodes {
                for to in &manifest.nodes {
                    if from.id != to.id {
                        let seed = from.id * 1000 + to.id;
                        let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
                        let proxy = UdpProxy::start(listen, to.listen, seed).await?;
                        proxies.insert((from.id, to.id), proxy);
                    }
                }
            }
        }
        for node in &manifest.nodes {
            edit_config(&node.config, |table| {
                for (key, value) in &options.settings {
                    set_path(table, key, value.clone())?;
                }
                if let Some(peers) = table.get_mut("peers").and_then(|p| p.as_array_mut()) {
                    for peer in peers.iter_mut().filter_map(|p| p.as_table_mut()) {
                        let peer_id = peer.get("id").and_then(toml::Value::as_integer);
                        let proxy = peer_id
                            .and_then(|to| u64::try_from(to).ok())
                            .and_then(|to| proxies.get(&(node.id, to)));
                        if let Some(proxy) = proxy {
                            let address = UdpProxy::address(proxy).to_string();
                            peer.insert("address".into(), address.into());
                        }
                    }
                }
                Ok(())
            })?;
        }
        let nodes = manifest
            .nodes
            .iter()
            .map(|entry| {
                let process = NodeProcess {
                    entry: entry.clone(),
                    child: None,
                    paused: false,
                };
                (entry.id, process)
            })
            .collect();
        Ok(Self {
            binary: binary.to_owned(),
            dir: Some(dir),
            root,
            manifest,
            nodes,
            proxies,
            rust_log: options.rust_log,
        })
    }

    /// Every node id, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// The cluster directory (manifest, certs, node dirs).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Node `id`'s layout entry.
    pub fn node(&self, id: u64) -> anyhow::Result<&NodeEntry> {
        Ok(&self.process(id)?.entry)
    }

    /// The proxy on the link dialled from `from` to `to` (with `proxies` on).
    pub fn proxy(&self, from: u64, to: u64) -> Option<&UdpProxy> {
        self.proxies.get(&(from, to))
    }

    /// Changes one setting of node `id`'s `node.toml` (takes effect at its next start).
    pub fn set(&self, id: u64, key: &str, value: impl Into<toml::Value>) -> anyhow::Result<()> {
        let value = value.into();
        edit_config(&self.node(id)?.config, |table| set_path(table, key, value))
    }

    /// Starts node `id` (its output is appended to its log file).
    pub fn start_node(&mut self, id: u64) -> anyhow::Result<()> {
        let (binary, rust_log) = (self.binary.clone(), self.rust_log.clone());
        let process = self.process_mut(id)?;
        if process.child.is_some() {
            bail!("node {id} is already running");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&process.entry.log)
            .with_context(|| format!("cannot open {}", process.entry.log.display()))?;
        let child = Command::new(&binary)
            .arg("serve")
            .arg("--config")
            .arg(&process.entry.config)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start node {id}"))?;
        process.child = Some(child);
        process.paused = false;
        Ok(())
    }

    /// Whether node `id`'s process is running (paused counts as running).
    pub fn is_running(&mut self, id: u64) -> bool {
        let Ok(process) = self.process_mut(id) else {
            return false;
        };
        match process.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                process.child = None;
                false
            }
            None => false,
        }
    }

    /// Node `id`'s PID, if it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.nodes.get(&id)?.child.as_ref().map(Child::id)
    }

    /// `kill -9` node `id` and reaps it.
    pub fn kill9(&mut self, id: u64) -> anyhow::Result<()> {
        let process = self.process_mut(id)?;
        let Some(mut child) = process.child.take() else {
            bail!("node {id} is not running");
        };
        child
            .kill()
            .with_context(|| format!("cannot kill node {id}"))?;
        child.wait()?;
        process.paused = false;
        Ok(())
    }

    /// SIGTERM to node `id`, then waits up to `timeout` for it to exit;
    /// returns its exit status (an error if it had to be killed).
    pub fn stop(&mut self, id: u64, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let process = self.process_mut(id)?;
        let Some(mut child) = process.child.take() else {
            bail!("node {id} is not running");
        };
        if process.paused {
            let _ = kill(pid_of(&child), Signal::SIGCONT);
            process.paused = false;
        }
        kill(pid_of(&child), Signal::SIGTERM).with_context(|| format!("SIGTERM to node {id}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("node {id} did not exit within {timeout:?} of SIGTERM; killed");
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// SIGSTOP to node `id` (it stays in memory, silent).
    pub fn pause(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, Signal::SIGSTOP)?;
        self.process_mut(id)?.paused = true;
        Ok(())
    }

    /// SIGCONT to a paused node `id`.
    pub fn resume(&mut self, id: u64) -> anyhow::Result<()> {
        self.signal(id, Signal::SIGCONT)?;
        self.process_mut(id)?.paused = false;
        Ok(())
    }

    fn signal(&self, id: u64, signal: Signal) -> anyhow::Result<()> {
        let child = self
            .process(id)?
            .child
            .as_ref()
            .with_context(|| format!("node {id} is not running"))?;
        kill(pid_of(child), signal).with_context(|| format!("{signal} to node {id}"))
    }

    /// Waits up to `timeout` for node `id`'s process to exit by itself.
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let process = self.process_mut(id)?;
        let child = process
            .child
            .as_mut()
            .with_context(|| format!("node {id} is not running"))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                process.child = None;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("node {id} still runs after {timeout:?}");
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Node `id`'s output so far.
    pub fn log(&self, id: u64) -> String {
        self.node(id)
            .ok()
            .and_then(|n| std::fs::read(&n.log).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of every node's log, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for id in self.ids() {
            let log = self.log(id);
            let tail: Vec<&str> = log.lines().rev().take(lines).collect();
            out.push_str(&format!("--- node {id} ---\n"));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Node `id`'s status from its metrics (a short wait: polled in loops).
    pub async fn status(&self, id: u64) -> anyhow::Result<NodeStatus> {
        let text = self.metrics_within(id, HTTP_TIMEOUT).await?;
        Ok(NodeStatus::from_metrics(&text))
    }

    /// Node `id`'s `/metrics` text (waiting up to 5 s, for a node under load).
    pub async fn metrics(&self, id: u64) -> anyhow::Result<String> {
        self.metrics_within(id, Duration::from_secs(5)).await
    }

    /// Node `id`'s value of `series` (a metric name, with its labels if it
    /// has any); `None` if the node does not answer or has no such series.
    pub async fn metric(&self, id: u64, series: &str) -> Option<f64> {
        metric_value(&self.metrics(id).await.ok()?, series)
    }

    async fn metrics_within(&self, id: u64, timeout: Duration) -> anyhow::Result<String> {
        let addr = self.node(id)?.metrics_listen;
        let (code, body) = http_get(addr, "/metrics", timeout).await?;
        if code != 200 {
            bail!("node {id}: /metrics answered {code}");
        }
        Ok(body)
    }

    /// Whether node `id` answers `/ready` with 200.
    pub async fn is_ready(&self, id: u64) -> bool {
        let Ok(node) = self.node(id) else {
            return false;
        };
        matches!(
            http_get(node.metrics_listen, "/ready", HTTP_TIMEOUT).await,
            Ok((200, _))
        )
    }

    /// Waits until every node in `ids` is ready.
    pub async fn wait_ready(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for &id in ids {
            while !self.is_ready(id).await {
                if Instant::now() >= deadline {
                    bail!(
                        "node {id} not ready within {timeout:?}\n{}",
                        self.logs_tail(20)
                    );
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
        Ok(())
    }

    /// Waits until every node in `ids` is ready and serves a session: a
    /// session opens on it (which is a write through the log) and a sync
    /// through it returns. Attempts are bounded; a stuck one is retried.
    pub async fn wait_serving(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<()> {
        self.wait_ready(ids, timeout).await?;
        let deadline = Instant::now() + timeout;
        for &id in ids {
            let mut config = self.client_config(&[id]);
            config.connect_timeout = Duration::from_secs(2);
            loop {
                let attempt = async {
                    let client = Client::connect(config.clone()).await?;
                    client.sync("/").await?;
                    anyhow::Ok(())
                };
                let error = match tokio::time::timeout(Duration::from_secs(3), attempt).await {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "no sync within 3 s".to_owned(),
                };
                if Instant::now() >= deadline {
                    bail!(
                        "node {id} serves no session within {timeout:?}: {error}\n{}",
                        self.logs_tail(20)
                    );
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
        Ok(())
    }

    /// The leader among `ids` right now: the one reporting leadership in the
    /// highest term.
    pub async fn leader_among(&self, ids: &[u64]) -> Option<(u64, NodeStatus)> {
        let mut best: Option<(u64, NodeStatus)> = None;
        for &id in ids {
            if let Ok(status) = self.status(id).await {
                if status.is_leader && best.is_none_or(|(_, b)| status.term > b.term) {
                    best = Some((id, status));
                }
            }
        }
        best
    }

    /// Waits until one of `ids` leads; returns its id.
    pub async fn wait_leader(&self, ids: &[u64], timeout: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((id, _)) = self.leader_among(ids).await {
                return Ok(id);
            }
            if Instant::now() >= deadline {
                bail!(
                    "no leader among {ids:?} within {timeout:?}\n{}",
                    self.logs_tail(20)
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Waits until every node in `ids` has applied at least `index`.
    pub async fn wait_applied(
        &self,
        ids: &[u64],
        index: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for &id in ids {
            loop {
                let applied = self.status(id).await.map(|s| s.applied_index).unwrap_or(0);
                if applied >= index {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "node {id} applied {applied}, not {index}, within {timeout:?}\n{}",
                        self.logs_tail(20)
                    );
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
        Ok(())
    }

    /// A client configuration for the nodes `ids` (all if empty).
    pub fn client_config(&self, ids: &[u64]) -> ClientConfig {
        let endpoints = self
            .manifest
            .nodes
            .iter()
            .filter(|n| ids.is_empty() || ids.contains(&n.id))
            .map(|n| n.listen.to_string())
            .collect();
        let files = &self.manifest.client;
        ClientConfig::new(endpoints, &files.ca, &files.cert, &files.key)
    }

    /// A session on node `id`.
    pub async fn client(&self, id: u64) -> anyhow::Result<Client> {
        let client = Client::connect(self.client_config(&[id]))
            .await
            .with_context(|| format!("cannot connect to node {id}"))?;
        Ok(client)
    }

    /// The WAL segment files of node `id`, in order.
    pub fn wal_segments(&self, id: u64) -> anyhow::Result<Vec<PathBuf>> {
        let dir = self.node(id)?.data_dir.join("wal");
        let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wal"))
            .collect();
        segments.sort();
        Ok(segments)
    }

    /// Keeps the cluster directory after the cluster is dropped; returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            return dir.keep();
        }
        self.root.clone()
    }

    fn process(&self, id: u64) -> anyhow::Result<&NodeProcess> {
        self.nodes.get(&id).with_context(|| format!("no node {id}"))
    }

    fn process_mut(&mut self, id: u64) -> anyhow::Result<&mut NodeProcess> {
        self.nodes
            .get_mut(&id)
            .with_context(|| format!("no node {id}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in self.nodes.values_mut() {
            if let Some(mut child) = process.child.take() {
                if process.paused {
                    let _ = kill(pid_of(&child), Signal::SIGCONT);
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            let kept = self.keep_dir();
            eprintln!("cluster directory kept for inspection: {}", kept.display());
        }
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

/// Rewrites the TOML file at `path` through `edit`.
fn edit_config(
    path: &Path,
    edit: impl FnOnce(&mut toml::Table) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut table: toml::Table = text
        .parse()
        .with_context(|| format!("bad TOML in {}", path.display()))?;
    edit(&mut table)?;
    std::fs::write(path, table.to_string())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Sets `section.key` (or a top-level `key`) in `table`.
fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> anyhow::Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else {
        bail!("empty setting name");
    };
    let mut at = table;
    for part in parts {
        at = at
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .with_context(|| format!("setting {key}: {part} is not a table"))?;
    }
    at.insert(last.to_owned(), value);
    Ok(())
}
