//! The on-disk layout of a local cluster: certificates, one `node.toml` per
//! node, and a manifest (`cluster.toml`) that says where everything is.
//!
//! ```text
//!  DIR/cluster.toml          the manifest (read by `corral dev` and the test harness)
//!  DIR/certs/ca.pem, ca.key  the cluster CA
//!  DIR/certs/node-N.pem/.key node N's certificate, for 127.0.0.1 and localhost
//!  DIR/certs/client-dev.pem/.key  a client certificate (x509 identity "dev")
//!  DIR/node-N/node.toml      node N's configuration
//!  DIR/node-N/data/          node N's WAL and snapshots
//!  DIR/node-N/node.log       node N's output
//! ```
//!
//! `corral dev` lays a cluster out and runs it; `corral dev --layout-only`
//! only lays it out, which is how the whole-cluster test harness (in
//! corral-tests) gets the very same layout and then runs the nodes itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use corral_certs::{CertPaths, IssueOptions};
use serde::{Deserialize, Serialize};

/// File name of the manifest in the cluster directory.
pub(crate) const MANIFEST_FILE: &str = "cluster.toml";
/// Name of the dev cluster's client certificate (its x509 identity).
pub(crate) const CLIENT_NAME: &str = "dev";
/// Name of the dev cluster (peers of another cluster are refused).
pub(crate) const CLUSTER_NAME: &str = "dev";
/// Most nodes `corral dev` lays out.
pub(crate) const NODES_MAX: u64 = 15;

/// Where everything of a laid-out cluster is (the manifest's contents).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    /// The cluster's name.
    pub(crate) cluster: String,
    /// The client certificate set, for `CORRAL_CA`/`CORRAL_CERT`/`CORRAL_KEY`.
    pub(crate) client: ClientFiles,
    /// Every node, by id.
    pub(crate) nodes: Vec<NodeEntry>,
}

/// A client's certificate files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientFiles {
    /// The cluster CA certificate.
    pub(crate) ca: PathBuf,
    /// The client certificate.
    pub(crate) cert: PathBuf,
    /// The client key.
    pub(crate) key: PathBuf,
}

/// One node of a laid-out cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeEntry {
    /// Its id.
    pub(crate) id: u64,
    /// Its `node.toml`.
    pub(crate) config: PathBuf,
    /// Its QUIC address (peers and clients).
    pub(crate) listen: SocketAddr,
    /// Its HTTP address (`/metrics`, `/health`, `/ready`).
    pub(crate) metrics_listen: SocketAddr,
    /// Its data directory.
    pub(crate) data_dir: PathBuf,
    /// Where its output goes.
    pub(crate) log: PathBuf,
}

impl Manifest {
    /// Reads the manifest of the cluster in `dir`.
    pub(crate) fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// The client endpoints, comma-separated.
    pub(crate) fn endpoints(&self) -> String {
        let listens: Vec<String> = self.nodes.iter().map(|n| n.listen.to_string()).collect();
        listens.join(",")
    }
}

/// Lays out a cluster of `nodes` voters in `dir` (created if missing; it must
/// not already hold a cluster) and returns its manifest.
pub(crate) fn lay_out(dir: &Path, nodes: u64) -> anyhow::Result<Manifest> {
    if !(1..=NODES_MAX).contains(&nodes) {
        bail!("--nodes: {nodes} is outside 1..={NODES_MAX}");
    }
    if dir.join(MANIFEST_FILE).exists() {
        bail!(
            "{} already holds a cluster ({MANIFEST_FILE}); remove it or use another --dir",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let certs = dir.join("certs");
    let leaf = IssueOptions::leaf();
    corral_certs::init_ca(&certs, &IssueOptions::ca())?;
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    for id in 1..=nodes {
        corral_certs::issue_node(&certs, id, &hosts, &leaf)?;
    }
    corral_certs::issue_client(&certs, CLIENT_NAME, &leaf)?;
    let client = CertPaths::client(&certs, CLIENT_NAME);

    let addresses = corral_transport::free_ports::free_addresses(nodes)?;
    let threads = worker_threads_per_node(nodes);
    let mut entries = Vec::new();
    for (id, (listen, metrics_listen)) in (1..=nodes).zip(addresses.iter().copied()) {
        let node_dir = dir.join(format!("node-{id}"));
        std::fs::create_dir_all(&node_dir)
            .with_context(|| format!("cannot create {}", node_dir.display()))?;
        let entry = NodeEntry {
            id,
            config: node_dir.join("node.toml"),
            listen,
            metrics_listen,
            data_dir: node_dir.join("data"),
            log: node_dir.join("node.log"),
        };
        let peers: Vec<(u64, SocketAddr)> = (1..=nodes)
            .zip(addresses.iter().map(|a| a.0))
            .filter(|(peer, _)| *peer != id)
            .collect();
        let text = node_toml(&entry, &CertPaths::node(&certs, id), &peers, threads);
        write_new(&entry.config, &text)?;
        entries.push(entry);
    }
    let manifest = Manifest {
        cluster: CLUSTER_NAME.to_owned(),
        client: ClientFiles {
            ca: client.ca,
            cert: client.cert,
            key: client.key,
        },
        nodes: entries,
    };
    let text = toml::to_string_pretty(&manifest).context("cannot write the manifest")?;
    write_new(&dir.join(MANIFEST_FILE), &text)?;
    Ok(manifest)
}

/// Runtime threads for each of `nodes` nodes sharing this machine: an equal
/// share of its cores, at least one. More threads than cores only adds
/// cross-thread wake-ups (a 3-node cluster on 2 cores commits a lone write
/// about 20% sooner at one thread per node than at two).
fn worker_threads_per_node(nodes: u64) -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    (cores / nodes.max(1)).max(1)
}

/// One node's `node.toml`: the documented format, defaults for timing and limits.
fn node_toml(
    entry: &NodeEntry,
    tls: &CertPaths,
    peers: &[(u64, SocketAddr)],
    worker_threads: u64,
) -> String {
    let quoted = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    let mut text = format!(
        "# Written by `corral dev`; see the README for every field.\n\
         id = {id}\n\
         cluster = \"{CLUSTER_NAME}\"\n\
         role = \"voter\"\n\
         listen = \"{listen}\"\n\
         data_dir = {data_dir}\n\
         metrics_listen = \"{metrics}\"\n\
         \n\
         [tls]\n\
         ca = {ca}\n\
         cert = {cert}\n\
         key = {key}\n\
         \n\
         # This machine's cores shared by the cluster's nodes.\n\
         [runtime]\n\
         worker_threads = {worker_threads}\n",
        id = entry.id,
        listen = entry.listen,
        data_dir = quoted(&entry.data_dir),
        metrics = entry.metrics_listen,
        ca = quoted(&tls.ca),
        cert = quoted(&tls.cert),
        key = quoted(&tls.key),
    );
    for (id, address) in peers {
        text.push_str(&format!(
            "\n[[peers]]\nid = {id}\naddress = \"{address}\"\nrole = \"voter\"\n"
        ));
    }
    text
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_has_certificates_configs_and_a_manifest_that_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = lay_out(dir.path(), 3).unwrap();
        assert_eq!(manifest.nodes.len(), 3);
        assert_eq!(Manifest::load(dir.path()).unwrap(), manifest);
        assert!(manifest.client.key.exists());
        for node in &manifest.nodes {
            let config = crate::config::NodeConfig::load(&node.config).unwrap();
            assert_eq!(config.id, node.id);
            assert_eq!(config.listen, node.listen);
            assert_eq!(config.peers.len(), 2);
            assert!(config.tls.key.exists());
        }
        let listens: std::collections::BTreeSet<_> =
            manifest.nodes.iter().map(|n| n.listen).collect();
        assert_eq!(listens.len(), 3);
        let e = lay_out(dir.path(), 3).unwrap_err().to_string();
        assert!(e.contains("already holds a cluster"), "{e}");
        assert!(lay_out(dir.path(), 0).is_err());
    }
}
