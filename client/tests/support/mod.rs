//! A scriptable fake corral node for the client's tests: a real QUIC
//! endpoint with a node certificate that accepts client links and hands each
//! session stream to the test, which reads what the client sent and writes
//! what the "server" answers. Pings are answered by the fake itself (unless
//! told to go silent), so tests only see the messages they script.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use corral_certs::{CertPaths, CertStore, IssueOptions, init_ca, issue_client, issue_node};
use corral_client::{Client, ClientConfig, Request, Response, WatchedEvent, ZkError};
use corral_transport::wire::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ConnectResponse, ServerMessage,
};
use corral_transport::{CloseCode, Endpoint, FrameSender, Link, LinkConfig};
use tokio::sync::mpsc;

/// Bounds every wait of a test step.
pub const STEP: Duration = Duration::from_secs(10);

/// The session id every fake grants.
pub const SESSION_ID: i64 = 0x1234;
/// The secret every fake grants.
pub const SECRET: [u8; 16] = [7; 16];

/// A cluster CA with node certificates 1..=3 and client `alice`.
pub fn make_pki(dir: &Path) {
    init_ca(dir, &IssueOptions::ca()).unwrap();
    let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for id in 1..=3 {
        issue_node(dir, id, &hosts, &IssueOptions::leaf()).unwrap();
    }
    issue_client(dir, "alice", &IssueOptions::leaf()).unwrap();
}

/// A client configuration for `alice` on `servers`.
pub fn client_config(pki: &Path, servers: &[SocketAddr], timeout: Duration) -> ClientConfig {
    let paths = CertPaths::client(pki, "alice");
    let endpoints = servers.iter().map(ToString::to_string).collect();
    ClientConfig::new(endpoints, paths.ca, paths.cert, paths.key)
        .with_session_timeout(timeout)
        .with_connect_timeout(Duration::from_secs(2))
}

/// A fake node: accepts client links, one session stream each.
pub struct FakeServer {
    pub addr: SocketAddr,
    endpoint: Endpoint,
    streams: mpsc::Receiver<FakeSession>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.accept.abort();
        self.endpoint.close();
    }
}

impl FakeServer {
    /// Binds node `id`'s fake on a free loopback port.
    pub fn start(pki: &Path, id: u64) -> FakeServer {
        let store = CertStore::load(CertPaths::node(pki, id)).unwrap();
        let config = LinkConfig {
            cert_reload_poll_ms: 0,
            ..LinkConfig::default()
        };
        let endpoint = Endpoint::server("127.0.0.1:0".parse().unwrap(), store, config).unwrap();
        let addr = endpoint.local_addr().unwrap();
        let (tx, streams) = mpsc::channel(16);
        let server = endpoint.clone();
        let accept = tokio::spawn(async move {
            while let Some(incoming) = server.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Ok(link) = incoming.establish().await else {
                        return;
                    };
                    // Every session stream of the link (a Connector's
                    // sessions share one).
                    while let Ok((writer, reader)) = link.accept_bi().await {
                        let session = FakeSession::start(link.clone(), writer, reader);
                        if tx.send(session).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        FakeServer {
            addr,
            endpoint,
            streams,
            accept,
        }
    }

    /// The next session stream a client opens.
    pub async fn next_session(&mut self) -> FakeSession {
        tokio::time::timeout(STEP, self.streams.recv())
            .await
            .expect("no client stream in time")
            .expect("accept loop ended")
    }

    /// Stops accepting and drops every link (the node is gone).
    pub fn stop(&self) {
        self.accept.abort();
        self.endpoint.close();
    }
}

/// One session stream as the fake node sees it.
pub struct FakeSession {
    pub link: Link,
    out: FrameSender<ServerMessage>,
    inbox: mpsc::Receiver<ClientMessage>,
    /// Pongs are sent while this is true.
    pub answer_pings: Arc<AtomicBool>,
    /// The zxid pongs carry.
    pub zxid: Arc<AtomicI64>,
}

impl FakeSession {
    fn start(
        link: Link,
        writer: corral_transport::FrameWriter,
        mut reader: corral_transport::FrameReader,
    ) -> FakeSession {
        let (out, _writer) = FrameSender::spawn(writer, 4096);
        let (tx, inbox) = mpsc::channel(4096);
        let answer_pings = Arc::new(AtomicBool::new(true));
        let zxid = Arc::new(AtomicI64::new(0));
        let (pongs, pings, zxids) = (out.clone(), answer_pings.clone(), zxid.clone());
        tokio::spawn(async move {
            while let Ok(Some(message)) = reader.read::<ClientMessage>().await {
                if message == ClientMessage::Ping {
                    if pings.load(Ordering::Acquire) {
                        let zxid = zxids.load(Ordering::Acquire);
                        let _ = pongs.try_send(ServerMessage::Pong { zxid });
                    }
                    continue;
                }
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        });
        FakeSession {
            link,
            out,
            inbox,
            answer_pings,
            zxid,
        }
    }

    /// The next message the client sent (pings excluded).
    pub async fn recv(&mut self) -> ClientMessage {
        tokio::time::timeout(STEP, self.inbox.recv())
            .await
            .expect("no client message in time")
            .expect("client stream ended")
    }

    /// Sends `message` to the client.
    pub async fn send(&self, message: ServerMessage) {
        self.out.send(message).await.unwrap();
    }

    /// Reads the Connect and accepts it at `last_zxid`; returns the request.
    pub async fn accept(&mut self, last_zxid: i64) -> ConnectRequest {
        let ClientMessage::Connect(request) = self.recv().await else {
            panic!("the first message was not Connect");
        };
        self.zxid.store(last_zxid, Ordering::Release);
        self.send(ServerMessage::Connected(ConnectResponse {
            protocol_version: CLIENT_PROTOCOL_VERSION,
            timeout_ms: request.timeout_ms,
            session_id: SESSION_ID,
            secret: SECRET,
            last_zxid,
            read_only: false,
        }))
        .await;
        request
    }

    /// Reads the Connect and refuses it.
    pub async fn refuse(&mut self, error: Option<ZkError>, reason: &str) -> ConnectRequest {
        let ClientMessage::Connect(request) = self.recv().await else {
            panic!("the first message was not Connect");
        };
        self.send(ServerMessage::ConnectRefused {
            error,
            reason: reason.into(),
        })
        .await;
        request
    }

    /// Reads the next request; returns its xid and the request.
    pub async fn request(&mut self) -> (i32, Request) {
        match self.recv().await {
            ClientMessage::Request { xid, request } => (xid, request),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// Reads the next request and answers it with `result` at `zxid`.
    pub async fn answer(&mut self, zxid: i64, result: Result<Response, ZkError>) -> Request {
        let (xid, request) = self.request().await;
        self.send(ServerMessage::Reply { xid, zxid, result }).await;
        request
    }

    /// Sends a watch event.
    pub async fn event(&self, event: WatchedEvent) {
        self.send(ServerMessage::Event(event)).await;
    }

    /// Closes the link (the node dropped the client).
    pub fn close(&self) {
        self.link.close(CloseCode::Normal, "fake node closes");
    }
}

/// Accepts the client's first session on whichever of `servers` it dials;
/// returns that server's index and its session.
pub async fn accept_on_any(servers: &mut [FakeServer], last_zxid: i64) -> (usize, FakeSession) {
    let (index, mut session) = {
        let waits = servers
            .iter_mut()
            .enumerate()
            .map(|(i, s)| Box::pin(async move { (i, s.next_session().await) }));
        futures_util::future::select_all(waits).await.0
    };
    session.accept(last_zxid).await;
    (index, session)
}

/// A client connected to one of the fake servers it was given.
pub struct Connected {
    /// The PKI directory (removed when dropped).
    pub pki: tempfile::TempDir,
    /// Every fake server, in endpoint order.
    pub servers: Vec<FakeServer>,
    /// Index of the server that accepted the session.
    pub first: usize,
    /// The accepted session, server side.
    pub session: FakeSession,
    /// The connected client.
    pub client: Client,
}

/// Starts `count` fake servers, connects a client to them (session timeout
/// `timeout`, its configuration passed through `tweak`) and accepts its
/// session at `last_zxid` on whichever server it picked.
pub async fn connect_client(
    count: u64,
    timeout: Duration,
    last_zxid: i64,
    tweak: impl FnOnce(ClientConfig) -> ClientConfig,
) -> Connected {
    let pki = tempfile::tempdir().unwrap();
    make_pki(pki.path());
    let mut servers: Vec<FakeServer> = (1..=count)
        .map(|id| FakeServer::start(pki.path(), id))
        .collect();
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let config = tweak(client_config(pki.path(), &addrs, timeout));
    let connect = tokio::spawn(Client::connect(config));
    let (first, session) = accept_on_any(&mut servers, last_zxid).await;
    let client = connect.await.unwrap().unwrap();
    Connected {
        pki,
        servers,
        first,
        session,
        client,
    }
}
