//! Proves that the Grafana dashboard in `grafana/dashboards/` is backed by
//! metrics the nodes really export, and that the metrics follow a failover.
//!
//! How: a real 3-node cluster and a real Prometheus (the `prometheus`
//! binary, its own config and storage in a temporary directory, loopback
//! only, 1 s scrapes) scraping it. After a bounded load through
//! corral-client (writes, reads, errors, a snapshot on every node), every
//! expression of every panel is sent to Prometheus's HTTP API with `$node`
//! set to each node and to "All": each must return at least one series, so
//! a panel over a metric no node exports fails here. The `node` variable's
//! own query must list the three nodes. Then the leader is killed: within a
//! scrape interval plus the election, Prometheus must show another node
//! leading and the elections counter risen.
//!
//! Without the `prometheus` binary the test prints a skip line and passes,
//! unless CORRAL_REQUIRE_PROMETHEUS=1 (as in CI), where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corral_client::CreateMode;
use corral_tests::cluster::{Cluster, ClusterOptions};
use corral_tests::node_status::http_get;
use serde_json::Value;

const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Prometheus's scrape (and rule evaluation) interval.
const SCRAPE: Duration = Duration::from_secs(1);
/// What `$__rate_interval` and `$__interval` become: several scrapes.
const RATE_INTERVAL: &str = "30s";
const INTERVAL: &str = "1s";
/// Writes per node in the load (bounded; above the snapshot threshold).
const WRITES_PER_NODE: usize = 120;
/// Snapshot threshold, so every node takes at least one snapshot.
const SNAPSHOT_ENTRIES: i64 = 100;
/// Election bound used for the failover check (10-tick timeout, randomised
/// to at most 2x, 50 ms ticks, with room for a pre-vote and a split vote).
const ELECTION_MAX: Duration = Duration::from_secs(4);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The `prometheus` executable on PATH.
fn find_prometheus() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
}

/// A Prometheus process this test started; killed by PID on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts `binary` scraping `targets` every [`SCRAPE`], with the alert
    /// rules loaded (so a rule that does not evaluate shows in its log).
    fn start(binary: &Path, dir: &Path, targets: &[SocketAddr]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: {s}s\n  evaluation_interval: {s}s\n\
             rule_files:\n  - '{rules}'\n\
             scrape_configs:\n  - job_name: corral\n    static_configs:\n      - targets: [{targets}]\n",
            s = SCRAPE.as_secs(),
            rules = repo_file("grafana/alerts/corral.rules.yml").display(),
            targets = targets.join(", "),
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self { child, addr, log }
    }

    async fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok((200, _)) = http_get(self.addr, "/-/ready", Duration::from_secs(1)).await {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {timeout:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GETs an API path; returns the `data` of a successful answer.
    async fn api(&self, path: &str) -> Value {
        let (status, body) = http_get(self.addr, path, Duration::from_secs(5))
            .await
            .unwrap();
        let answer: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(answer["status"], "success", "GET {path}: {body}");
        answer["data"].clone()
    }

    /// The series an instant query returns.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let data = self
            .api(&format!("/api/v1/query?query={}", percent_encode(expr)))
            .await;
        assert_eq!(data["resultType"], "vector", "{expr}: {data}");
        data["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Percent-encodes a query parameter (RFC 3986 unreserved characters stay).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every panel's (title, expressions) in the dashboard.
fn dashboard_panels() -> Vec<(String, Vec<String>)> {
    let path = repo_file("grafana/dashboards/corral-cluster.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(dashboard["title"], "corral cluster");
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        let Some(targets) = panel["targets"].as_array() else {
            continue;
        };
        let exprs: Vec<String> = targets
            .iter()
            .map(|t| t["expr"].as_str().unwrap().to_owned())
            .collect();
        panels.push((panel["title"].as_str().unwrap().to_owned(), exprs));
    }
    panels
}

/// Grafana's substitutions, done as Grafana would for one `node` value.
fn substitute(expr: &str, node: &str) -> String {
    expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__interval", INTERVAL)
        .replace("$node", node)
}

/// Writes, reads, a few errors and ephemerals through a session on each
/// node; returns the sessions (kept open until the queries ran).
async fn load(cluster: &Cluster) -> Vec<corral_client::Client> {
    let ids = cluster.ids();
    let first = cluster.client(ids[0]).await.unwrap();
    first
        .create("/load", b"", CreateMode::Persistent)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for &id in &ids {
        let client = cluster.client(id).await.unwrap();
        tasks.spawn(async move {
            let base = format!("/load/n{id}");
            client.create(&base, b"", CreateMode::Persistent).await?;
            client
                .create(&format!("{base}-eph"), b"e", CreateMode::Ephemeral)
                .await?;
            for i in 0..WRITES_PER_NODE {
                let path = format!("{base}/{i}");
                client.create(&path, b"0", CreateMode::Persistent).await?;
                client.set_data(&path, b"value", None).await?;
                client.get_data(&path).await?;
                client.exists(&path).await?;
                // A read of a missing node: a `no_node` result, on purpose.
                assert!(client.get_data(&format!("{path}/missing")).await.is_err());
            }
            client.get_children(&base).await?;
            client.sync("/").await?;
            anyhow::Ok(client)
        });
    }
    let mut clients = vec![first];
    while let Some(done) = tasks.join_next().await {
        clients.push(done.unwrap().unwrap());
    }
    clients
}

/// Queries every panel's expressions for every node and for "All".
async fn check_every_panel(prometheus: &Prometheus, instances: &[String]) {
    let panels = dashboard_panels();
    assert!(panels.len() >= 10, "only {} panels", panels.len());
    let mut nodes: Vec<String> = instances.to_vec();
    nodes.push(".*".into());
    let mut empty = Vec::new();
    let mut checked = 0;
    for (title, exprs) in &panels {
        for expr in exprs {
            for node in &nodes {
                let query = substitute(expr, node);
                let series = prometheus.query(&query).await;
                checked += 1;
                if series.is_empty() {
                    empty.push(format!("panel {title:?}, node {node}: {query}"));
                }
            }
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {checked} panel queries returned no series:\n{}",
        empty.len(),
        empty.join("\n")
    );
    eprintln!(
        "{checked} panel queries over {} panels all returned data",
        panels.len()
    );
}

/// Waits until every expression returns a series (the first scrapes of new
/// series take a scrape interval or two).
async fn wait_for_series(prometheus: &Prometheus, exprs: &[&str], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for expr in exprs {
        while prometheus.query(expr).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "no series for {expr} within {timeout:?}"
            );
            tokio::time::sleep(SCRAPE / 2).await;
        }
    }
}

fn value_of(series: &Value) -> f64 {
    series["value"][1].as_str().unwrap().parse().unwrap()
}

async fn run(prometheus_binary: PathBuf) {
    let options = ClusterOptions::new(3).set("limits.snapshot_entries", SNAPSHOT_ENTRIES);
    let mut cluster = Cluster::start_serving(binary(), options).await.unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(15))
        .await
        .unwrap();
    let targets: Vec<SocketAddr> = ids
        .iter()
        .map(|id| cluster.node(*id).unwrap().metrics_listen)
        .collect();
    let instances: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let prom_dir = tempfile::tempdir().unwrap();
    let mut prometheus = Prometheus::start(&prometheus_binary, prom_dir.path(), &targets);
    prometheus.wait_ready(Duration::from_secs(30)).await;

    let _sessions = load(&cluster).await;
    wait_for_series(
        &prometheus,
        &[
            "corral_snapshot_size_bytes",
            "corral_request_duration_seconds_bucket",
            "corral_requests_total{result!=\"ok\"}",
        ],
        Duration::from_secs(20),
    )
    .await;
    // Every node's series, after the load, in at least two scrapes.
    tokio::time::sleep(SCRAPE * 3).await;

    let listed = prometheus
        .api("/api/v1/label/instance/values?match[]=corral_replica_term")
        .await;
    let mut listed: Vec<String> = serde_json::from_value(listed).unwrap();
    listed.sort();
    let mut expected = instances.clone();
    expected.sort();
    assert_eq!(
        listed, expected,
        "the node variable's query lists every node"
    );

    check_every_panel(&prometheus, &instances).await;

    // Failover: the metrics show the new leader and more elections.
    let old = instances[ids.iter().position(|id| *id == leader).unwrap()].clone();
    // Counted on the survivors: the killed node's series go stale.
    let elections = format!("sum(corral_replica_elections_started_total{{instance!=\"{old}\"}})");
    let elections = elections.as_str();
    let before = value_of(&prometheus.query(elections).await[0]);
    cluster.kill9(leader).unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<u64> = ids.iter().copied().filter(|id| *id != leader).collect();
    let new_leader = cluster.wait_leader(&survivors, ELECTION_MAX).await.unwrap();
    let new_instance = instances[ids.iter().position(|id| *id == new_leader).unwrap()].clone();
    let leads = format!("corral_replica_is_leader{{instance=\"{new_instance}\"}} == 1");
    let followed = format!("corral_replica_leader_id{{instance!=\"{old}\"}} == {new_leader}");
    let bound = SCRAPE * 2 + ELECTION_MAX;
    loop {
        let shows_leader = !prometheus.query(&leads).await.is_empty();
        let followers = prometheus.query(&followed).await.len();
        let risen = prometheus
            .query(elections)
            .await
            .first()
            .is_some_and(|s| value_of(s) > before);
        if shows_leader && followers == survivors.len() && risen {
            eprintln!(
                "the metrics showed leader {new_leader} and more elections {:?} after the kill",
                killed_at.elapsed()
            );
            break;
        }
        assert!(
            killed_at.elapsed() < bound,
            "within {bound:?} of killing leader {leader}: new leader shown {shows_leader}, \
             {followers} nodes following node {new_leader}, elections risen {risen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_has_data_and_a_failover_shows_in_the_metrics() {
    let Some(prometheus) = find_prometheus() else {
        let required = std::env::var("CORRAL_REQUIRE_PROMETHEUS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "CORRAL_REQUIRE_PROMETHEUS=1 but no `prometheus` binary on PATH (apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED every_dashboard_panel_has_data_and_a_failover_shows_in_the_metrics: \
             no `prometheus` binary on PATH (apt-get install prometheus)"
        );
        return;
    };
    tokio::time::timeout(TEST_TIMEOUT, run(prometheus))
        .await
        .unwrap();
}
