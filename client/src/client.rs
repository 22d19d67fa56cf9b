//! [`Client`]: a session with the cluster and ZooKeeper's operations on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use corral_certs::{CertPaths, CertStore};
use corral_core::tree::{
    Acl, CreateMode, CreateRequest, MultiOp, MultiOpResult, Request, Response, SessionId, Stat,
};
use corral_transport::wire::{CLIENT_PROTOCOL_VERSION, ConnectRequest};
use corral_transport::{Endpoint, LinkConfig};
use tokio::sync::watch;

use crate::config::{ClientConfig, split_host_port};
use crate::connection::{Connection, OpenParams};
use crate::error::{Error, Result};
use crate::state::SessionState;

/// A session with a corral cluster.
///
/// Cloning is cheap and every clone shares the session: clones may call
/// concurrently, and their requests are pipelined on the session's one
/// stream. The session ends when [`Client::close`] is called, or when the last
/// clone is dropped (then the server expires it after its timeout).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    state: watch::Receiver<SessionState>,
    _endpoint: Endpoint,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server())
            .field("session_id", &self.session_id())
            .field("state", &self.state())
            .finish()
    }
}

impl Client {
    /// Opens a session on one of `config.endpoints`, trying them in turn from
    /// a random one until a server accepts.
    ///
    /// Must be called inside a tokio runtime. Cancel safety: cancel-safe; no
    /// session is left on this side.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        config.validate()?;
        let store = CertStore::load(CertPaths {
            ca: config.ca.clone(),
            cert: config.cert.clone(),
            key: config.key.clone(),
        })?;
        let link_config = LinkConfig {
            frame_bytes_max: config.frame_bytes_max,
            ..LinkConfig::default()
        };
        let mut attempts = Vec::new();
        let start = random_index(config.endpoints.len());
        let order = config.endpoints.iter().cycle().skip(start);
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting);
        for endpoint_name in order.take(config.endpoints.len()) {
            let (host, _) = split_host_port(endpoint_name)?;
            let addrs = match tokio::net::lookup_host(endpoint_name.as_str()).await {
                Ok(addrs) => addrs.collect::<Vec<SocketAddr>>(),
                Err(e) => {
                    attempts.push(format!("{endpoint_name}: {e}"));
                    continue;
                }
            };
            for server in addrs {
                let bind: SocketAddr = if server.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let endpoint = Endpoint::client(bind, store.clone(), link_config.clone())?;
                let params = OpenParams {
                    host: host.to_owned(),
                    server,
                    request: connect_request(&config),
                    requests_inflight_max: config.requests_inflight_max,
                    state: state_tx.clone(),
                };
                let open = Connection::open(&endpoint, params);
                match tokio::time::timeout(config.connect_timeout, open).await {
                    Ok(Ok(connection)) => {
                        let inner = Inner {
                            connection,
                            state: state_rx,
                            _endpoint: endpoint,
                        };
                        return Ok(Client {
                            inner: Arc::new(inner),
                        });
                    }
                    Ok(Err(e @ Error::SessionRefused { .. })) => return Err(e),
                    Ok(Err(e)) => attempts.push(format!("{server}: {e}")),
                    Err(_) => attempts.push(format!(
                        "{server}: no session within {} ms",
                        config.connect_timeout.as_millis()
                    )),
                }
            }
        }
        Err(Error::NoServer {
            endpoints: config.endpoints.join(","),
            attempts: attempts.join("; "),
        })
    }

    /// The server the session is connected to.
    pub fn server(&self) -> SocketAddr {
        self.inner.connection.server()
    }

    /// The session's id.
    pub fn session_id(&self) -> SessionId {
        self.inner.connection.session().session_id
    }

    /// The session timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        let ms = self.inner.connection.session().timeout_ms;
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// The highest zxid this session has seen (in replies and pongs).
    pub fn last_zxid(&self) -> i64 {
        self.inner.connection.last_zxid()
    }

    /// The session's state now.
    pub fn state(&self) -> SessionState {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every change of the session's state.
    pub fn state_changes(&self) -> watch::Receiver<SessionState> {
        self.inner.state.clone()
    }

    /// Sends any request and returns the server's response, or ZooKeeper's error.
    ///
    /// The typed methods below are built on this one. Cancel safety: if the
    /// future is dropped after the request was queued, the request is still
    /// sent and may take effect.
    pub async fn request(&self, request: Request) -> Result<Response> {
        let (_zxid, result) = self.inner.connection.call(request).await?;
        Ok(result?)
    }

    /// Creates a node with `data`, open ACL and `mode`; returns the path
    /// created (with the sequence suffix for sequential modes).
    pub async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        self.create_with(CreateRequest {
            path: path.to_owned(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode,
            ttl_ms: None,
        })
        .await
        .map(|(path, _)| path)
    }

    /// Creates a node as described (ACL, mode, TTL); returns its path and stat.
    pub async fn create_with(&self, create: CreateRequest) -> Result<(String, Stat)> {
        match self.request(Request::Create(create)).await? {
            Response::Create { path, stat } => Ok((path, stat)),
            other => Err(self.unexpected("Create", &other)),
        }
    }

    /// Deletes a node if its version is `version` (`None`: any version).
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let request = Request::Delete {
            path: path.to_owned(),
            version: version.unwrap_or(-1),
        };
        match self.request(request).await? {
            Response::Delete => Ok(()),
            other => Err(self.unexpected("Delete", &other)),
        }
    }

    /// The node's stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        let request = Request::Exists {
            path: path.to_owned(),
            watch: false,
        };
        match self.request(request).await? {
            Response::Exists { stat } => Ok(stat),
            other => Err(self.unexpected("Exists", &other)),
        }
    }

    /// The node's data and stat.
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        let request = Request::GetData {
            path: path.to_owned(),
            watch: false,
        };
        match self.request(request).await? {
            Response::GetData { data, stat } => Ok((data, stat)),
            other => Err(self.unexpected("GetData", &other)),
        }
    }

    /// Replaces the node's data if its version is `version` (`None`: any);
    /// returns the new stat.
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        let request = Request::SetData {
            path: path.to_owned(),
            data: data.to_vec(),
            version: version.unwrap_or(-1),
        };
        match self.request(request).await? {
            Response::SetData { stat } => Ok(stat),
            other => Err(self.unexpected("SetData", &other)),
        }
    }

    /// The node's children, sorted.
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        self.get_children2(path).await.map(|(children, _)| children)
    }

    /// The node's children, sorted, and its stat.
    pub async fn get_children2(&self, path: &str) -> Result<(Vec<String>, Option<Stat>)> {
        let request = Request::GetChildren {
            path: path.to_owned(),
            watch: false,
            with_stat: true,
        };
        match self.request(request).await? {
            Response::GetChildren { children, stat } => Ok((children, stat)),
            other => Err(self.unexpected("GetChildren", &other)),
        }
    }

    /// The node's ACL and stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let request = Request::GetAcl {
            path: path.to_owned(),
        };
        match self.request(request).await? {
            Response::GetAcl { acl, stat } => Ok((acl, stat)),
            other => Err(self.unexpected("GetAcl", &other)),
        }
    }

    /// Replaces the node's ACL if its aversion is `aversion` (`None`: any).
    pub async fn set_acl(&self, path: &str, acl: Vec<Acl>, aversion: Option<i32>) -> Result<Stat> {
        let request = Request::SetAcl {
            path: path.to_owned(),
            acl,
            aversion: aversion.unwrap_or(-1),
        };
        match self.request(request).await? {
            Response::SetAcl { stat } => Ok(stat),
            other => Err(self.unexpected("SetAcl", &other)),
        }
    }

    /// Applies `ops` atomically; on failure, the per-op results say which op
    /// failed (ZooKeeper's multi).
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiOpResult>> {
        match self.request(Request::Multi(ops)).await? {
            Response::Multi { results } => Ok(results),
            other => Err(self.unexpected("Multi", &other)),
        }
    }

    /// Waits until the server has applied every write committed before the call.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let request = Request::Sync {
            path: path.to_owned(),
        };
        match self.request(request).await? {
            Response::Sync { .. } => Ok(()),
            other => Err(self.unexpected("Sync", &other)),
        }
    }

    /// Ends the session: the cluster deletes its ephemerals. Other clones of
    /// this client fail from then on.
    pub async fn close(self) -> Result<()> {
        let result = self.request(Request::Close).await;
        self.inner.connection.close_link("session closed");
        match result? {
            Response::Close => Ok(()),
            other => Err(self.unexpected("Close", &other)),
        }
    }

    fn unexpected(&self, asked: &str, got: &Response) -> Error {
        Error::Protocol {
            server: self.server(),
            what: format!("{asked} answered with {got:?}"),
        }
    }
}

fn connect_request(config: &ClientConfig) -> ConnectRequest {
    ConnectRequest {
        protocol_version: CLIENT_PROTOCOL_VERSION,
        last_zxid_seen: 0,
        timeout_ms: i64::try_from(config.session_timeout.as_millis()).unwrap_or(i64::MAX),
        session_id: 0,
        secret: [0; 16],
        read_only: false,
    }
}

/// A start index spreading sessions over the endpoints (no RNG needed).
fn random_index(len: usize) -> usize {
    use std::hash::{BuildHasher, RandomState};
    let hash = RandomState::new().hash_one(std::time::SystemTime::now());
    usize::try_from(hash % u64::try_from(len.max(1)).unwrap_or(1)).unwrap_or(0)
}
