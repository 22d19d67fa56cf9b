//! QUIC endpoints: listening, dialling, and turning connections into [`Link`]s.
//!
//! ```text
//!  dial:   connect_peer(addr, id) ─► QUIC+TLS (ServerPolicy: CA, node id) ─► hello ─► Link
//!  accept: accept() ─► Incoming::establish() ─► QUIC+TLS (ClientPolicy: CA) ─►
//!          ALPN + certificate kind ─► hello ─► Link
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};

use corral_certs::{CertStore, ClientPolicy, ExpectServer, Identity, ServerPolicy};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::config::QUIC_MIN_DATAGRAM_BYTES;
use rustls::client::Resumption;
use tokio::task::JoinHandle;

use crate::config::{LinkConfig, bind_udp};
use crate::error::{Result, TransportError};
use crate::frame::{FrameReader, FrameWriter};
use crate::hello::{
    HELLO_BYTES_MAX, LinkWelcome, check_hello, check_welcome, decode_hello, hello_frame,
};
use crate::link::{ALPN_CLIENT, ALPN_PEER, Alpn, CloseCode, Link, peer_certs};
use crate::remote_gone::{GoneReader, watch_socket};
use crate::resumption::{ClientSessions, ServerTickets};

/// Verifiers kept for resumption (one per node dialled, plus one for clients).
const POLICIES_MAX: usize = 1024;

/// A UDP socket speaking corral's QUIC: it dials and, if a server, accepts.
///
/// Cloning is cheap; all clones share the socket.
#[derive(Debug, Clone)]
pub struct Endpoint {
    quinn: quinn::Endpoint,
    store: Arc<CertStore>,
    config: Arc<LinkConfig>,
    transport: Arc<quinn::TransportConfig>,
    sessions: Arc<ClientSessions>,
    policies: Arc<Mutex<HashMap<ExpectServer, Arc<ServerPolicy>>>>,
    /// Remotes the socket heard are gone (dial-only endpoints; see `remote_gone`).
    gone: Option<Arc<GoneReader>>,
    /// A second descriptor of the socket, polled for readiness only.
    watched: Arc<OwnedFd>,
    _reload: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

impl Endpoint {
    /// Binds a server at `addr`: it accepts peer and client links, and dials.
    ///
    /// Must be called inside a tokio runtime.
    pub fn server(addr: SocketAddr, store: Arc<CertStore>, config: LinkConfig) -> Result<Self> {
        let transport = config.quinn_transport()?;
        let tls = server_tls(&store)?;
        let quic = QuicServerConfig::try_from(tls).map_err(|e| TransportError::Config {
            what: format!("server TLS: {e}"),
        })?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic));
        server.transport_config(transport.clone());
        let (quinn, watched) = bind(addr, bind_socket(addr, &config)?, Some(server), &config)?;
        Ok(Self::new(quinn, store, config, transport, None, watched))
    }

    /// Binds a dial-only endpoint at `addr` (port 0 for any). Its links learn
    /// at once when the remote's process is gone ([`Link::remote_gone`]).
    ///
    /// Must be called inside a tokio runtime.
    pub fn client(addr: SocketAddr, store: Arc<CertStore>, config: LinkConfig) -> Result<Self> {
        let transport = config.quinn_transport()?;
        let socket = bind_socket(addr, &config)?;
        let bind_error = |source| TransportError::Bind { addr, source };
        let gone = watch_socket(socket.try_clone().map_err(bind_error)?).map_err(bind_error)?;
        let (quinn, watched) = bind(addr, socket, None, &config)?;
        Ok(Self::new(
            quinn,
            store,
            config,
            transport,
            Some(gone),
            watched,
        ))
    }

    fn new(
        quinn: quinn::Endpoint,
        store: Arc<CertStore>,
        config: LinkConfig,
        transport: Arc<quinn::TransportConfig>,
        gone: Option<GoneReader>,
        watched: OwnedFd,
    ) -> Self {
        let sessions = Arc::new(ClientSessions::new(store.clone()));
        let reload = (config.cert_reload_poll_ms > 0).then(|| {
            let store = store.clone();
            let period = std::time::Duration::from_millis(config.cert_reload_poll_ms.into());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    match store.reload_if_changed() {
                        Ok(true) => tracing::info!(paths = ?store.paths(), "certificates reloaded"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "certificate reload failed; keeping the previous set"),
                    }
                }
            })
        });
        Self {
            quinn,
            store,
            config: Arc::new(config),
            transport,
            sessions,
            policies: Arc::new(Mutex::new(HashMap::new())),
            gone: gone.map(Arc::new),
            watched: Arc::new(watched),
            _reload: Arc::new(AbortOnDrop(reload)),
        }
    }

    /// A new descriptor of the socket, to poll for datagrams waiting (never
    /// to read from: the endpoint reads them). Keeps the port bound while held.
    pub fn readiness_fd(&self) -> std::io::Result<OwnedFd> {
        self.watched.try_clone()
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.quinn
            .local_addr()
            .map_err(|source| TransportError::Config {
                what: format!("local address: {source}"),
            })
    }

    /// The certificate store this endpoint presents and verifies with.
    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }

    /// The limits of this endpoint.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Dials node `node_id` at `addr` on the peer ALPN; its certificate must name `node_id`.
    ///
    /// Cancel safety: cancel-safe; a dropped call leaves no link (a half-made
    /// connection is closed when dropped).
    pub async fn connect_peer(
        &self,
        addr: SocketAddr,
        node_id: corral_certs::NodeId,
    ) -> Result<Link> {
        let tls = self.client_tls(addr, ALPN_PEER, ExpectServer::Node(node_id))?;
        // The name keys the TLS resumption cache by node, never reusing one
        // node's session for another at the same address.
        let server_name = format!("node-{node_id}.peer.corral");
        self.connect_with(addr, &server_name, tls, ExpectServer::Node(node_id))
            .await
    }

    /// Dials the cluster at `addr` on the client ALPN; the server's certificate
    /// must be a node certificate valid for `server_name` (a DNS name or IP).
    ///
    /// Cancel safety: cancel-safe, as [`Endpoint::connect_peer`].
    pub async fn connect_client(&self, addr: SocketAddr, server_name: &str) -> Result<Link> {
        let tls = self.client_tls(addr, ALPN_CLIENT, ExpectServer::AnyNode)?;
        self.connect_with(addr, server_name, tls, ExpectServer::AnyNode)
            .await
    }

    /// The rustls config a dial to `addr` uses: our certificate, the CA,
    /// `expect`, one ALPN, and the TLS tickets kept for that node.
    ///
    /// Public so tools and tests can alter it before [`Endpoint::connect_with`].
    pub fn client_tls(
        &self,
        addr: SocketAddr,
        alpn: &[u8],
        expect: ExpectServer,
    ) -> Result<rustls::ClientConfig> {
        let mut tls = rustls::ClientConfig::builder_with_provider(self.store.provider().clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TransportError::Config {
                what: format!("client TLS: {e}"),
            })?
            .dangerous()
            .with_custom_certificate_verifier(self.policy(expect))
            .with_client_cert_resolver(self.store.clone());
        tls.alpn_protocols = vec![alpn.to_vec()];
        // Resumption yes (cheap reconnects), 0-RTT never: early data could replay
        // a state-changing request.
        tls.resumption = Resumption::store(self.sessions.at(addr));
        tls.enable_early_data = false;
        Ok(tls)
    }

    /// The verifier for `expect`, the same `Arc` every time: rustls resumes a
    /// TLS session only under the very verifier that checked it.
    fn policy(&self, expect: ExpectServer) -> Arc<ServerPolicy> {
        let mut policies = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        if policies.len() >= POLICIES_MAX && !policies.contains_key(&expect) {
            // More distinct remotes than any cluster has: start over rather than grow.
            policies.clear();
        }
        policies
            .entry(expect)
            .or_insert_with(|| Arc::new(ServerPolicy::new(self.store.clone(), expect)))
            .clone()
    }

    /// Dials `addr` with a given rustls config, then checks the server's identity
    /// against `expect` and runs the link hello.
    ///
    /// Cancel safety: cancel-safe, as [`Endpoint::connect_peer`].
    pub async fn connect_with(
        &self,
        addr: SocketAddr,
        server_name: &str,
        tls: rustls::ClientConfig,
        expect: ExpectServer,
    ) -> Result<Link> {
        let quic = QuicClientConfig::try_from(tls).map_err(|e| TransportError::Config {
            what: format!("client TLS: {e}"),
        })?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic));
        client.transport_config(self.transport.clone());
        let gone = self.gone.as_ref().map(|reader| {
            let watch = reader.watch_from_now();
            watch.clear_pending_error();
            watch
        });
        let connecting = self
            .quinn
            .connect_with(client, addr, server_name)
            .map_err(|source| TransportError::Connect { peer: addr, source })?;
        let limit = self.config.handshake_timeout();
        let timeout_ms = u64::from(self.config.handshake_timeout_ms);
        let dial = async {
            let conn = connecting
                .await
                .map_err(|source| TransportError::Handshake { peer: addr, source })?;
            let alpn = negotiated_alpn(&conn).ok_or_else(|| TransportError::Rejected {
                peer: addr,
                reason: "the server negotiated no corral ALPN".into(),
            })?;
            // Checked again here because a resumed TLS session skips the verifier.
            let identity = remote_identity(&conn)?;
            let matches = match expect {
                ExpectServer::Node(id) => identity == Identity::Node(id),
                ExpectServer::AnyNode => identity.node_id().is_some(),
            };
            if !matches {
                let reason = format!("server is {identity}, expected {expect:?}");
                conn.close(CloseCode::Refused.into(), reason.as_bytes());
                return Err(TransportError::Rejected { peer: addr, reason });
            }
            let version = self.hello_dialer(&conn, alpn).await?;
            let link = Link::new(conn, identity, alpn, version, self.config.frame_bytes_max);
            Ok(match &gone {
                Some(gone) => link.watching_gone(gone.clone()),
                None => link,
            })
        };
        // A dial to a dead port ends at the kernel's answer, not the timeout.
        let refused = async {
            match &gone {
                Some(gone) => gone.gone(addr).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            dialled = tokio::time::timeout(limit, dial) => {
                return dialled.map_err(|_| TransportError::Timeout {
                    peer: addr,
                    stage: "dialling",
                    timeout_ms,
                })?;
            }
            () = refused => {}
        }
        // The dial is dropped, so its connection sends a close to the dead
        // port, whose answer would cost the next dial its first datagram.
        if let Some(gone) = &gone {
            gone.renewed().absorb_echo(addr).await;
        }
        Err(TransportError::Unreachable { peer: addr })
    }

    /// Says hello; returns the protocol version the link speaks.
    async fn hello_dialer(&self, conn: &quinn::Connection, alpn: Alpn) -> Result<u32> {
        let peer = conn.remote_address();
        let refused = |e: TransportError| refusal(peer, e);
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|source| refusal_of(peer, source))?;
        let mut writer = FrameWriter::new(send, peer, HELLO_BYTES_MAX);
        let mut reader = FrameReader::new(recv, peer, HELLO_BYTES_MAX);
        let cluster_id = match alpn {
            Alpn::Peer => Some(self.config.cluster_id.clone()),
            Alpn::Client => None,
        };
        let ours = alpn.protocol_versions(&self.config);
        // The hello, then the newest version, in one frame (see `hello`).
        writer
            .send(&hello_frame(&ours, cluster_id))
            .await
            .map_err(refused)?;
        writer.finish().await.map_err(refused)?;
        match reader.read::<LinkWelcome>().await.map_err(refused)? {
            Some(welcome) => check_welcome(&welcome, &ours).map_err(|reason| {
                conn.close(CloseCode::Refused.into(), reason.as_bytes());
                TransportError::Refused { peer, reason }
            }),
            None => Err(TransportError::Refused {
                peer,
                reason: "the server ended the hello".into(),
            }),
        }
    }

    /// Waits for the next incoming connection; `None` once the endpoint is closed.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn accept(&self) -> Option<Incoming> {
        let incoming = self.quinn.accept().await?;
        Some(Incoming {
            incoming,
            config: self.config.clone(),
        })
    }

    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        self.quinn
            .close(CloseCode::Shutdown.into(), b"endpoint closing");
    }

    /// Waits until every connection has finished closing.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn wait_idle(&self) {
        self.quinn.wait_idle().await;
    }
}

/// A connection attempt not yet handshaken; [`Incoming::establish`] makes it a link.
#[derive(Debug)]
pub struct Incoming {
    incoming: quinn::Incoming,
    config: Arc<LinkConfig>,
}

impl Incoming {
    /// The remote's address.
    pub fn remote_address(&self) -> std::net::SocketAddr {
        self.incoming.remote_address()
    }

    /// Runs the TLS handshake, the ALPN and certificate-kind checks, and the hello.
    ///
    /// Errors name the remote and what failed; a refused remote is told why.
    /// Run it in its own task: it takes a round trip or two.
    ///
    /// Cancel safety: cancel-safe; a dropped call drops the connection.
    pub async fn establish(self) -> Result<Link> {
        let peer = self.incoming.remote_address();
        let timeout_ms = u64::from(self.config.handshake_timeout_ms);
        let limit = self.config.handshake_timeout();
        let config = self.config.clone();
        let accept = async move {
            let connecting = self
                .incoming
                .accept()
                .map_err(|source| TransportError::Handshake { peer, source })?;
            let conn = connecting
                .await
                .map_err(|source| TransportError::Handshake { peer, source })?;
            let reject = |reason: String| {
                conn.close(CloseCode::Refused.into(), reason.as_bytes());
                TransportError::Rejected { peer, reason }
            };
            let Some(alpn) = negotiated_alpn(&conn) else {
                return Err(reject(
                    "no corral ALPN (expected corral-peer/1 or corral-client/1)".into(),
                ));
            };
            let identity = remote_identity(&conn).map_err(|e| match e {
                TransportError::Rejected { reason, .. } => reject(reason),
                other => other,
            })?;
            match (alpn, &identity) {
                (Alpn::Peer, Identity::Node(_)) | (Alpn::Client, Identity::Client(_)) => {}
                (Alpn::Peer, other) => {
                    return Err(reject(format!(
                        "{other} presented a client certificate on corral-peer/1; a node certificate is required"
                    )));
                }
                (Alpn::Client, other) => {
                    return Err(reject(format!(
                        "{other} presented a node certificate on corral-client/1; a client certificate is required"
                    )));
                }
            }
            let version = hello_acceptor(&conn, alpn, &config)
                .await
                .map_err(|e| match e {
                    TransportError::Rejected { reason, .. } => reject(reason),
                    other => other,
                })?;
            Ok(Link::new(
                conn,
                identity,
                alpn,
                version,
                config.frame_bytes_max,
            ))
        };
        tokio::time::timeout(limit, accept)
            .await
            .map_err(|_| TransportError::Timeout {
                peer,
                stage: "accepting",
                timeout_ms,
            })?
    }
}

/// Answers the dialer's hello; returns the protocol version the link speaks.
async fn hello_acceptor(conn: &quinn::Connection, alpn: Alpn, config: &LinkConfig) -> Result<u32> {
    let peer = conn.remote_address();
    let (send, recv) = conn
        .accept_bi()
        .await
        .map_err(|source| TransportError::Connection { peer, source })?;
    let mut writer = FrameWriter::new(send, peer, HELLO_BYTES_MAX);
    let mut reader = FrameReader::new(recv, peer, HELLO_BYTES_MAX);
    let rejected = |reason: String| TransportError::Rejected { peer, reason };
    let (hello, theirs) = match reader.read_frame().await {
        Ok(Some(frame)) => match decode_hello(frame) {
            Ok(decoded) => decoded,
            Err(source) => {
                let e = TransportError::Decode { peer, source };
                return Err(rejected(format!("bad hello: {e}")));
            }
        },
        Ok(None) => return Err(rejected("the stream ended before the hello".into())),
        Err(e @ TransportError::FrameTooLarge { .. }) => {
            return Err(rejected(format!("bad hello: {e}")));
        }
        Err(e) => return Err(e),
    };
    let ours = alpn.protocol_versions(config);
    let version =
        check_hello(&hello, &theirs, &ours, alpn, &config.cluster_id).map_err(rejected)?;
    let welcome = LinkWelcome {
        protocol_version: version,
        cluster_id: config.cluster_id.clone(),
    };
    writer.send(&welcome).await?;
    writer.finish().await?;
    Ok(version)
}

/// A UDP socket bound at `addr` with `config`'s buffer sizes.
fn bind_socket(addr: SocketAddr, config: &LinkConfig) -> Result<std::net::UdpSocket> {
    bind_udp(addr, config).map_err(|source| TransportError::Bind { addr, source })
}

/// A quinn endpoint on `socket` (bound at `addr`), and a second descriptor of
/// the socket to poll for readiness.
fn bind(
    addr: SocketAddr,
    socket: std::net::UdpSocket,
    server: Option<quinn::ServerConfig>,
    config: &LinkConfig,
) -> Result<(quinn::Endpoint, OwnedFd)> {
    let watched = OwnedFd::from(
        socket
            .try_clone()
            .map_err(|source| TransportError::Bind { addr, source })?,
    );
    let mut endpoint_config = quinn::EndpointConfig::default();
    // What we accept must be at least what path-MTU discovery may send us;
    // without discovery, the remote is told to send nothing larger (and so
    // sends no probes).
    let accepted = if config.path_mtu_discovery() {
        config.mtu_bytes_max.max(1472)
    } else {
        QUIC_MIN_DATAGRAM_BYTES
    };
    endpoint_config
        .max_udp_payload_size(accepted)
        .map_err(|e| TransportError::Config {
            what: format!("mtu_bytes_max: {e}"),
        })?;
    let quinn = quinn::Endpoint::new(
        endpoint_config,
        server,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|source| TransportError::Bind { addr, source })?;
    Ok((quinn, watched))
}

fn server_tls(store: &Arc<CertStore>) -> Result<rustls::ServerConfig> {
    let mut tls = rustls::ServerConfig::builder_with_provider(store.provider().clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TransportError::Config {
            what: format!("server TLS: {e}"),
        })?
        .with_client_cert_verifier(Arc::new(ClientPolicy::new(store.clone())))
        .with_cert_resolver(store.clone());
    // rustls refuses a ClientHello offering neither (no_application_protocol).
    tls.alpn_protocols = vec![ALPN_PEER.to_vec(), ALPN_CLIENT.to_vec()];
    // 0-RTT off: early data could replay a state-changing request.
    tls.max_early_data_size = 0;
    // Resumption on, but only of sessions made under the current
    // certificates: stateless tickets, nothing kept per session.
    tls.ticketer =
        Arc::new(
            ServerTickets::new(store.clone()).map_err(|e| TransportError::Config {
                what: format!("TLS ticket key: {e}"),
            })?,
        );
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(tls)
}

fn negotiated_alpn(conn: &quinn::Connection) -> Option<Alpn> {
    let data = conn.handshake_data()?;
    let data = data
        .downcast::<quinn::crypto::rustls::HandshakeData>()
        .ok()?;
    Alpn::from_id(data.protocol.as_deref()?)
}

fn remote_identity(conn: &quinn::Connection) -> Result<Identity> {
    let peer = conn.remote_address();
    let certs = peer_certs(conn).ok_or_else(|| TransportError::Rejected {
        peer,
        reason: "no certificate presented".into(),
    })?;
    let leaf = certs.first().ok_or_else(|| TransportError::Rejected {
        peer,
        reason: "empty certificate chain".into(),
    })?;
    corral_certs::identity_of(leaf).map_err(|e| TransportError::Rejected {
        peer,
        reason: e.to_string(),
    })
}

/// A dialer's view of a failure during the hello: a close by the acceptor is a refusal.
fn refusal(peer: SocketAddr, e: TransportError) -> TransportError {
    match e {
        TransportError::Read {
            source: quinn::ReadError::ConnectionLost(c),
            ..
        }
        | TransportError::Write {
            source: quinn::WriteError::ConnectionLost(c),
            ..
        }
        | TransportError::Connection { source: c, .. } => refusal_of(peer, c),
        other => other,
    }
}

fn refusal_of(peer: SocketAddr, source: quinn::ConnectionError) -> TransportError {
    match source {
        quinn::ConnectionError::ApplicationClosed(close)
            if close.error_code == CloseCode::Refused.into() =>
        {
            TransportError::Refused {
                peer,
                reason: String::from_utf8_lossy(&close.reason).into_owned(),
            }
        }
        // A TLS alert from the server arriving after our side finished: still the handshake.
        source @ (quinn::ConnectionError::ConnectionClosed(_)
        | quinn::ConnectionError::TransportError(_)) => TransportError::Handshake { peer, source },
        source => TransportError::Connection { peer, source },
    }
}
