//! Shared fixtures of the actors tests: a PKI, in-process nodes on loopback
//! QUIC, and a minimal client speaking the wire protocol.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use corral_actors::{NodeSpec, PeerSpec, RunningNode, View};
use corral_certs::{CertPaths, CertStore, IssueOptions, init_ca, issue_client, issue_node};
use corral_core::tree::{Acl, CreateMode, CreateRequest, Request, Response, ZkError};
use corral_transport::wire::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ServerMessage,
};
use corral_transport::{Endpoint, FrameReader, FrameWriter, Link, LinkConfig};

/// Bounds every wait of a test step.
pub const STEP: Duration = Duration::from_secs(20);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A cluster CA with node certificates for `ids` and client `alice`.
pub fn make_pki(dir: &Path, ids: &[u64]) {
    init_ca(dir, &IssueOptions::ca()).unwrap();
    let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for id in ids {
        issue_node(dir, *id, &hosts, &IssueOptions::leaf()).unwrap();
    }
    issue_client(dir, "alice", &IssueOptions::leaf()).unwrap();
}

/// Free loopback UDP ports, below the kernel's ephemeral range: a restarted
/// node rebinds its port, and a port of that range could meanwhile go to
/// any bind to port 0 (a peer dialer, a client).
pub fn free_ports(n: usize) -> Vec<SocketAddr> {
    corral_transport::free_ports::free_addresses(n as u64)
        .unwrap()
        .into_iter()
        .map(|(udp, _)| udp)
        .collect()
}

/// Specs of an `n`-node cluster (the last `observers` are observers), fast timing.
pub fn cluster_specs(root: &Path, n: usize, observers: usize) -> Vec<NodeSpec> {
    let addrs = free_ports(n);
    let ids: Vec<u64> = (1..=n as u64).collect();
    let is_observer = |id: u64| id as usize > n - observers;
    ids.iter()
        .map(|&id| {
            let peers = ids
                .iter()
                .filter(|&&p| p != id)
                .map(|&p| PeerSpec {
                    id: p,
                    address: addrs[p as usize - 1],
                    observer: is_observer(p),
                })
                .collect();
            let mut spec = NodeSpec::new(
                id,
                addrs[id as usize - 1],
                root.join(format!("data-{id}")),
                peers,
            );
            spec.observer = is_observer(id);
            spec.tick_ms = 50;
            spec.election_timeout_ticks = 10;
            spec.heartbeat_ticks = 2;
            spec
        })
        .collect()
}

pub fn node_certs(pki: &Path, id: u64) -> Arc<CertStore> {
    CertStore::load(CertPaths::node(pki, id)).unwrap()
}

pub async fn start_node(pki: &Path, spec: NodeSpec) -> RunningNode {
    let id = spec.id;
    // A restarted in-process node may find its port still held for a moment
    // by the previous endpoint's last connections.
    for _ in 0..50 {
        match corral_actors::start(spec.clone(), node_certs(pki, id)).await {
            Ok(node) => return node,
            Err(corral_actors::StartError::Transport(e)) => {
                tracing::debug!(error = %e, "bind failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("node {id} cannot start: {e}"),
        }
    }
    panic!("node {id} could not bind its port")
}

/// A started in-process cluster of voters, with a leader.
pub struct TestCluster {
    /// The PKI directory.
    pub pki: PathBuf,
    /// Each node's spec, node `id` at `id - 1`.
    pub specs: Vec<NodeSpec>,
    /// The running nodes, node `id` at `id - 1`.
    pub nodes: Vec<RunningNode>,
    /// The id of the leader they agreed on.
    pub leader: u64,
    /// The temp directory of the nodes' data and the PKI; last, so it is
    /// removed after the nodes are dropped.
    pub root: TempRoot,
}

/// Starts `n` voters under a fresh temp root tagged `tag`, each spec changed
/// by `tweak` first, and waits until they agree on a leader.
pub async fn start_cluster(tag: &str, n: usize, tweak: impl Fn(&mut NodeSpec)) -> TestCluster {
    let root = temp_root(tag);
    let pki = root.join("pki");
    let ids: Vec<u64> = (1..=n as u64).collect();
    make_pki(&pki, &ids);
    let mut specs = cluster_specs(&root, n, 0);
    specs.iter_mut().for_each(&tweak);
    let mut nodes = Vec::new();
    for spec in specs.clone() {
        nodes.push(start_node(&pki, spec).await);
    }
    let leader = wait_leader(&nodes.iter().collect::<Vec<_>>()).await;
    TestCluster {
        pki,
        specs,
        nodes,
        leader,
        root,
    }
}

/// Waits until one node leads and every node knows it; returns the leader's id.
pub async fn wait_leader(nodes: &[&RunningNode]) -> u64 {
    tokio::time::timeout(STEP, async {
        loop {
            // Role and leader changes are published as they happen.
            let views: Vec<View> = nodes.iter().map(|n| n.view().published()).collect();
            if let Some(leader) = views.iter().find(|v| v.is_leader()) {
                let id = leader.leader.unwrap_or(0);
                if id != 0 && views.iter().all(|v| v.leader == Some(id)) {
                    return id;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("no leader elected in time")
}

/// Waits until every node applied at least `index`.
pub async fn wait_applied(nodes: &[&RunningNode], index: u64) {
    for node in nodes {
        tokio::time::timeout(STEP, node.view().at_least(index))
            .await
            .expect("apply did not catch up in time")
            .expect("replica stopped");
    }
}

/// What `node` has applied so far, as a view.
pub async fn current_view(node: &RunningNode) -> View {
    node.view().current().await.expect("replica stopped")
}

/// What each of `nodes` has applied so far, as views.
pub async fn current_views(nodes: &[&RunningNode]) -> Vec<View> {
    let mut views = Vec::with_capacity(nodes.len());
    for node in nodes {
        views.push(current_view(node).await);
    }
    views
}

/// One client session over its own QUIC link.
pub struct Client {
    _endpoint: Endpoint,
    _link: Link,
    writer: FrameWriter,
    reader: FrameReader,
    next_xid: i32,
    pub session: i64,
    /// The session's secret, to resume it elsewhere.
    pub secret: [u8; 16],
    /// The highest zxid this client has seen.
    pub last_zxid: i64,
    /// Events (and resync notices) received and not yet taken.
    pub backlog: std::collections::VecDeque<ServerMessage>,
    /// Every message received after the handshake, in arrival order.
    pub transcript: Vec<ServerMessage>,
}

/// Session timeout the test client asks for unless a test says otherwise: the
/// server's longest (`session_timeout_ms_max`). The client sends no pings, so
/// a session must outlive whatever else a test waits for, which on a CI host
/// whose disk is busy right after the build can take ten seconds and more.
const SESSION_TIMEOUT_MS: i64 = 60_000;

impl Client {
    pub async fn connect(pki: &Path, addr: SocketAddr) -> Client {
        Self::connect_with_timeout(pki, addr, SESSION_TIMEOUT_MS).await
    }

    /// Connects, retrying a few times when the node cannot open a session yet
    /// (no leader, or a leader change while it was being opened).
    pub async fn connect_with_timeout(pki: &Path, addr: SocketAddr, timeout_ms: i64) -> Client {
        for _ in 0..10 {
            match Self::try_connect(pki, addr, timeout_ms).await {
                Ok(client) => return client,
                Err(refusal) => {
                    tracing::info!(?refusal, "connect refused; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        panic!("could not open a session on {addr}");
    }

    async fn try_connect(
        pki: &Path,
        addr: SocketAddr,
        timeout_ms: i64,
    ) -> Result<Client, ServerMessage> {
        Self::open(pki, addr, timeout_ms, None).await
    }

    /// Resumes `session` (id, secret, last zxid seen) on the node at `addr`.
    pub async fn resume(
        pki: &Path,
        addr: SocketAddr,
        session: (i64, [u8; 16], i64),
    ) -> Result<Client, ServerMessage> {
        Self::open(pki, addr, SESSION_TIMEOUT_MS, Some(session)).await
    }

    async fn open(
        pki: &Path,
        addr: SocketAddr,
        timeout_ms: i64,
        resume: Option<(i64, [u8; 16], i64)>,
    ) -> Result<Client, ServerMessage> {
        let store = CertStore::load(CertPaths::client(pki, "alice")).unwrap();
        let config = LinkConfig {
            cert_reload_poll_ms: 0,
            ..LinkConfig::default()
        };
        let endpoint = Endpoint::client("127.0.0.1:0".parse().unwrap(), store, config).unwrap();
        let link = tokio::time::timeout(STEP, endpoint.connect_client(addr, "127.0.0.1"))
            .await
            .unwrap()
            .unwrap();
        let (mut writer, mut reader) = link.open_bi().await.unwrap();
        writer
            .send(&ClientMessage::Connect(ConnectRequest {
                protocol_version: CLIENT_PROTOCOL_VERSION,
                last_zxid_seen: resume.map_or(0, |r| r.2),
                timeout_ms,
                session_id: resume.map_or(0, |r| r.0),
                secret: resume.map_or([0; 16], |r| r.1),
                read_only: false,
            }))
            .await
            .unwrap();
        let answer = tokio::time::timeout(STEP, reader.read::<ServerMessage>())
            .await
            .expect("no Connect answer in time")
            .unwrap()
            .unwrap();
        let ServerMessage::Connected(response) = answer else {
            return Err(answer);
        };
        Ok(Client {
            _endpoint: endpoint,
            _link: link,
            writer,
            reader,
            next_xid: 1,
            session: response.session_id,
            secret: response.secret,
            last_zxid: response.last_zxid,
            backlog: Default::default(),
            transcript: Vec::new(),
        })
    }

    /// Sends one message as it is.
    pub async fn send(&mut self, msg: ClientMessage) {
        self.writer.send(&msg).await.unwrap();
    }

    /// Receives the next message of any kind.
    pub async fn receive_any(&mut self) -> ServerMessage {
        self.receive().await
    }

    /// Receives the next message, noting its zxid and keeping it in the transcript.
    async fn receive(&mut self) -> ServerMessage {
        let msg = tokio::time::timeout(STEP, self.reader.read::<ServerMessage>())
            .await
            .expect("nothing from the server in time")
            .unwrap()
            .expect("the server ended the stream");
        let zxid = match &msg {
            ServerMessage::Reply { zxid, .. } | ServerMessage::Pong { zxid } => *zxid,
            ServerMessage::Event(e) => e.zxid,
            _ => 0,
        };
        self.last_zxid = self.last_zxid.max(zxid);
        self.transcript.push(msg.clone());
        msg
    }

    /// The next watch event or resync notice (from the backlog first).
    pub async fn next_event(&mut self) -> ServerMessage {
        if let Some(e) = self.backlog.pop_front() {
            return e;
        }
        loop {
            let msg = self.receive().await;
            if matches!(
                msg,
                ServerMessage::Event(_) | ServerMessage::ResyncNeeded { .. }
            ) {
                return msg;
            }
        }
    }

    /// Whether the server ends this stream within `wait` (reading, and keeping, what comes before).
    pub async fn stream_ends_within(&mut self, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(until, self.reader.read::<ServerMessage>()).await {
                Err(_) => return false,
                Ok(Ok(Some(msg))) => self.backlog.push_back(msg),
                Ok(Ok(None)) | Ok(Err(_)) => return true,
            }
        }
    }

    /// Sends one request and waits for its reply: (zxid, result).
    pub async fn call(&mut self, request: Request) -> (i64, Result<Response, ZkError>) {
        let xid = self.next_xid;
        self.next_xid += 1;
        self.writer
            .send(&ClientMessage::Request { xid, request })
            .await
            .unwrap();
        loop {
            let msg = self.receive().await;
            match msg {
                ServerMessage::Reply {
                    xid: got,
                    zxid,
                    result,
                } => {
                    assert_eq!(got, xid, "replies come in order");
                    return (zxid, result);
                }
                ServerMessage::Event(_) | ServerMessage::ResyncNeeded { .. } => {
                    self.backlog.push_back(msg)
                }
                _ => {}
            }
        }
    }

    /// Sends a Ping and waits for its Pong.
    pub async fn ping(&mut self) {
        self.writer.send(&ClientMessage::Ping).await.unwrap();
        loop {
            let msg = self.receive().await;
            match msg {
                ServerMessage::Pong { .. } => return,
                ServerMessage::Event(_) | ServerMessage::ResyncNeeded { .. } => {
                    self.backlog.push_back(msg)
                }
                _ => {}
            }
        }
    }

    pub async fn create_mode(
        &mut self,
        path: &str,
        mode: CreateMode,
    ) -> (i64, Result<Response, ZkError>) {
        self.call(Request::Create(CreateRequest {
            path: path.into(),
            data: Vec::new(),
            acl: Acl::open_unsafe(),
            mode,
            ttl_ms: None,
        }))
        .await
    }

    pub async fn create(&mut self, path: &str, data: &[u8]) -> (i64, Result<Response, ZkError>) {
        self.call(Request::Create(CreateRequest {
            path: path.into(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl_ms: None,
        }))
        .await
    }
}

/// A test's scratch directory; removed, with everything in it, when dropped.
pub struct TempRoot(PathBuf);

impl std::ops::Deref for TempRoot {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn temp_root(tag: &str) -> TempRoot {
    let dir = std::env::temp_dir().join(format!("corral-actors-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempRoot(dir)
}
