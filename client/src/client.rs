//! [`Client`]: a session with the cluster, and the machinery every operation
//! goes through (the typed operations are in `operations.rs`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use corral_core::tree::{ErrorCode, Request, Response, SessionId, ZkError};
use tokio::task::JoinHandle;

use crate::config::ClientConfig;
use crate::connection::{Call, PendingWatch, ReplyResult, Submitted};
use crate::connector::Connector;
use crate::error::{Error, Result};
use crate::session::{RECONNECT_PAUSE_FIRST, Session, supervise};
use crate::state::{SessionState, StateChanges};
use crate::watch::StreamEnd;

/// A session with a corral cluster.
///
/// Cloning is cheap and every clone shares the session: clones may call
/// concurrently, and their requests are pipelined on the session's one
/// stream. When the node is lost, the client resumes the session on another
/// node (see [`SessionState`]). The session ends when [`Client::close`] is
/// called, when it expires, or when the last clone is dropped (then the
/// server expires it after its timeout).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    session: Arc<Session>,
    supervisor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        self.session.shutdown();
    }
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

/// Whether a node refused a new session because it has no leader just now
/// (ConnectionLoss: the leader changed or none is known), which an election
/// ends within moments.
fn is_between_leaders(e: &Error) -> bool {
    matches!(
        e,
        Error::SessionRefused {
            code: Some(ErrorCode::ConnectionLoss),
            ..
        }
    )
}

impl Client {
    /// Opens a session on one of `config.endpoints`, trying each in turn
    /// from a random one until a server accepts. A round in which some node
    /// answered that it has no leader just now (the cluster is electing one:
    /// a refusal with ConnectionLoss) is tried again after a pause, until
    /// the session timeout has passed since the first dial, as a ZooKeeper
    /// client keeps looking for a server; any other failure of every
    /// endpoint ends the call with [`Error::NoServer`].
    ///
    /// Must be called inside a tokio runtime. Cancel safety: cancel-safe; no
    /// session is left on this side.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        let connector = Connector::private(&config)?;
        Self::connect_with(config, &connector).await
    }

    /// As [`Client::connect`], through `connector`'s shared endpoint and TLS
    /// session cache (see [`Connector`]).
    ///
    /// Cancel safety: cancel-safe; no session is left on this side.
    pub async fn connect_with(config: ClientConfig, connector: &Connector) -> Result<Client> {
        config.validate()?;
        let count = config.endpoints.len();
        let endpoints = config.endpoints.join(",");
        let connect_timeout = config.connect_timeout;
        let give_up_after = config.session_timeout;
        let pause_max = config.reconnect_backoff_max;
        let session = Arc::new(Session::new(config, connector.dialer.clone()));
        let started = tokio::time::Instant::now();
        let mut pause = RECONNECT_PAUSE_FIRST;
        loop {
            let start = random_index(count);
            let mut attempts = Vec::new();
            let mut electing = false;
            for k in 0..count {
                let index = (start + k) % count;
                match session.dial(index, false, connect_timeout).await {
                    Ok(connection) => {
                        let supervisor = tokio::spawn(supervise(session.clone(), connection));
                        return Ok(Client {
                            inner: Arc::new(Inner {
                                session,
                                supervisor: Mutex::new(Some(supervisor)),
                            }),
                        });
                    }
                    Err(e) => {
                        electing |= is_between_leaders(&e);
                        attempts.push(format!("{}: {e}", session.config.endpoints[index]));
                    }
                }
            }
            if !electing || started.elapsed() + pause >= give_up_after {
                return Err(Error::NoServer {
                    endpoints,
                    attempts: attempts.join("; "),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(pause_max);
        }
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.inner.session
    }

    /// The server the session is (or was last) connected to.
    pub fn server(&self) -> SocketAddr {
        self.inner
            .session
            .ids()
            .server
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The session's id.
    pub fn session_id(&self) -> SessionId {
        self.inner.session.ids().session_id
    }

    /// The session timeout the server granted.
    pub fn session_timeout(&self) -> Duration {
        let ms = self.inner.session.ids().timeout_ms;
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// The highest zxid this session has seen (handshakes, replies, pongs,
    /// events); a node behind it will not serve the session.
    pub fn last_zxid(&self) -> i64 {
        self.inner.session.last_zxid()
    }

    /// The session's state now.
    pub fn state(&self) -> SessionState {
        self.inner.session.state.get()
    }

    /// A `Stream` of the session's states: the current one, then every change
    /// (Connected, Disconnected, Expired, Closed), ending after a final one.
    pub fn state_changes(&self) -> StateChanges {
        self.inner.session.state.subscribe()
    }

    /// Sends any request and returns the server's response, or ZooKeeper's error.
    ///
    /// While the session is disconnected the call waits for it to be resumed
    /// (at most until it expires). Cancel safety: if the future is dropped
    /// after the request was queued, the request is still sent and may take
    /// effect.
    pub async fn request(&self, request: Request) -> Result<Response> {
        let (_zxid, result) = self.call(request, false, None).await?;
        Ok(result?)
    }

    /// Sends a read (getData, exists, getChildren, ...) answered only after
    /// the node has applied everything committed when it arrived
    /// (linearizable); a write is refused by the server.
    ///
    /// Cancel safety: as [`Client::request`].
    pub async fn request_linearizable(&self, request: Request) -> Result<Response> {
        let (_zxid, result) = self.call(request, true, None).await?;
        Ok(result?)
    }

    /// Sends `request` on the current connection (waiting for one while the
    /// session is disconnected); `watch` is registered if the reply allows.
    pub(crate) async fn call(
        &self,
        request: Request,
        linearizable: bool,
        watch: Option<PendingWatch>,
    ) -> Result<(i64, Result<Response, ZkError>)> {
        let session = self.session();
        let permit = session
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        let mut call = Call {
            request,
            linearizable,
            watch,
            permit,
        };
        // Subscribed only when the first try finds no live connection; every
        // try after subscribing re-checks before waiting, so no change is missed.
        let mut state: Option<tokio::sync::watch::Receiver<SessionState>> = None;
        let answer = loop {
            if let Some(state) = &mut state {
                state.borrow_and_update();
            }
            if session.state.get().is_terminal() {
                return Err(session.ended_error());
            }
            if let Some(connection) = session.current() {
                match connection.submit(call) {
                    Submitted::Sent(answer) => break answer,
                    Submitted::Failed(e) => return Err(e),
                    Submitted::NotSent(back) => call = back,
                }
            }
            // Lost or not yet replaced: wait for the next state change.
            match &mut state {
                None => state = Some(session.state.watch()),
                Some(state) => {
                    if state.changed().await.is_err() {
                        return Err(Error::Closed);
                    }
                }
            }
        };
        let result: ReplyResult = answer.await.unwrap_or_else(|_| {
            Err(Error::ConnectionLoss {
                server: self.server(),
                reason: "the connection stopped before the reply".into(),
            })
        });
        result
    }

    /// Ends the session: the cluster deletes its ephemerals, watchers end
    /// with [`Error::Closed`], and other clones of this client fail from then on.
    ///
    /// Cancel safety: if dropped while waiting for the server, the session
    /// may or may not be closed on the cluster; here it is no longer resumed
    /// on another node if its connection is lost.
    pub async fn close(self) -> Result<()> {
        self.session().start_closing();
        let result = self.request(Request::Close).await;
        if let Some(task) = self
            .inner
            .supervisor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        self.session().end(StreamEnd::Closed);
        match result? {
            Response::Close => Ok(()),
            other => Err(self.unexpected("Close", &other)),
        }
    }

    pub(crate) fn unexpected(&self, asked: &str, got: &Response) -> Error {
        Error::Protocol {
            server: self.server(),
            what: format!("{asked} answered with {got:?}"),
        }
    }
}

/// A start index spreading sessions over the endpoints (no RNG needed).
fn random_index(len: usize) -> usize {
    use std::hash::{BuildHasher, RandomState};
    let hash = RandomState::new().hash_one(std::time::SystemTime::now());
    usize::try_from(hash % u64::try_from(len.max(1)).unwrap_or(1)).unwrap_or(0)
}
