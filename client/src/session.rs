//! The session across connections: who it is (id, secret, timeout), the
//! highest zxid it has seen, its watches, its current connection, and the
//! supervisor that replaces a lost connection.
//!
//! ```text
//!   Client::connect ─► dial endpoints once (random start) ─► Connection ─► supervise()
//!   supervise: connection lost ─► Disconnected ─► round robin over the other
//!       endpoints, 50 ms..1 s pauses between rounds ─► Connect{id, secret,
//!       last_zxid_seen} + SetWatches ─► Connected
//!     └─ refused with SessionExpired, or session timeout since the last
//!        message heard ─► Expired (watchers end, calls fail)
//! ```
//!
//! A refusal for any other reason (the node is behind the client's zxid, is
//! draining, has no quorum) moves on to the next endpoint.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use corral_core::tree::{ErrorCode, SessionId, SessionSecret};
use corral_transport::wire::{CLIENT_PROTOCOL_VERSION, ConnectRequest, WatchesToRestore};
use tokio::sync::Semaphore;

use crate::config::{ClientConfig, split_host_port};
use crate::connection::{Connection, OpenParams};
use crate::dialer::Dialer;
use crate::error::{Error, Result};
use crate::state::{SessionState, StateCell};
use crate::watch::StreamEnd;
use crate::watch_registry::WatchRegistry;

/// First pause between two rounds of reconnect attempts.
pub(crate) const RECONNECT_PAUSE_FIRST: Duration = Duration::from_millis(50);

/// The session's identity as the cluster granted it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionIds {
    pub(crate) session_id: SessionId,
    pub(crate) secret: SessionSecret,
    pub(crate) timeout_ms: i64,
    pub(crate) server: Option<SocketAddr>,
    /// Index in `config.endpoints` of the current (or last) server.
    endpoint_index: usize,
}

/// Everything one session shares between clones, connections and supervisor.
pub(crate) struct Session {
    pub(crate) config: ClientConfig,
    dialer: Arc<Dialer>,
    pub(crate) state: StateCell,
    ids: Mutex<SessionIds>,
    /// Highest zxid seen anywhere (Connected, Reply, Pong, Event): a resumed
    /// session must never be served by a node behind it.
    last_zxid: AtomicI64,
    /// Highest zxid seen in a Reply or an Event: the server sends every event
    /// of the session's watches up to a reply's zxid before that reply, so
    /// the events are delivered up to here, and it is SetWatches' relative
    /// zxid. Connected and Pong carry the node's applied zxid, which may run
    /// ahead of events still to come (a replay, a fan-out), so they do not
    /// raise it.
    watch_zxid: AtomicI64,
    created: Instant,
    /// Milliseconds after `created` when any server last sent anything.
    heard_ms: AtomicU64,
    current: Mutex<Option<Arc<Connection>>>,
    watches: Mutex<WatchRegistry>,
    /// Bounds the requests in flight across connections.
    pub(crate) permits: Arc<Semaphore>,
    expired: Mutex<Option<String>>,
    /// Set before Close is sent: the server ends the stream after answering
    /// it, which must not start a resume.
    closing: AtomicBool,
}

impl Session {
    pub(crate) fn new(config: ClientConfig, dialer: Arc<Dialer>) -> Self {
        let permits = Arc::new(Semaphore::new(config.requests_inflight_max));
        let timeout_ms = i64::try_from(config.session_timeout.as_millis()).unwrap_or(i64::MAX);
        Self {
            config,
            dialer,
            state: StateCell::new(),
            ids: Mutex::new(SessionIds {
                session_id: 0,
                secret: [0; 16],
                timeout_ms,
                server: None,
                endpoint_index: 0,
            }),
            last_zxid: AtomicI64::new(0),
            watch_zxid: AtomicI64::new(0),
            created: Instant::now(),
            heard_ms: AtomicU64::new(0),
            current: Mutex::new(None),
            watches: Mutex::new(WatchRegistry::default()),
            permits,
            expired: Mutex::new(None),
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn ids(&self) -> SessionIds {
        *self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn watches(&self) -> MutexGuard<'_, WatchRegistry> {
        self.watches.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_slot(&self) -> MutexGuard<'_, Option<Arc<Connection>>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection calls go to now, if any.
    pub(crate) fn current(&self) -> Option<Arc<Connection>> {
        self.current_slot().clone()
    }

    pub(crate) fn last_zxid(&self) -> i64 {
        self.last_zxid.load(Ordering::Acquire)
    }

    /// Raises the zxids seen from a Reply or an Event.
    pub(crate) fn raise_zxid(&self, zxid: i64) {
        self.last_zxid.fetch_max(zxid, Ordering::AcqRel);
        self.watch_zxid.fetch_max(zxid, Ordering::AcqRel);
    }

    /// Raises the zxid seen from a Connected or a Pong (not the watches' zxid).
    pub(crate) fn raise_applied_zxid(&self, zxid: i64) {
        self.last_zxid.fetch_max(zxid, Ordering::AcqRel);
    }

    /// Records that a server sent something at `now`.
    pub(crate) fn heard_at(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.created).as_millis();
        self.heard_ms
            .fetch_max(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::AcqRel);
    }

    /// Time left before the session timeout since anything was last heard.
    fn time_left(&self) -> Option<Duration> {
        let heard = Duration::from_millis(self.heard_ms.load(Ordering::Acquire));
        let timeout_ms = u64::try_from(self.ids().timeout_ms).unwrap_or(0);
        let deadline = heard + Duration::from_millis(timeout_ms);
        deadline
            .checked_sub(self.created.elapsed())
            .filter(|left| !left.is_zero())
    }

    /// The watches to re-register, or `None` if there are none.
    pub(crate) fn watches_to_restore(&self) -> Option<WatchesToRestore> {
        let relative_zxid = self.watch_zxid.load(Ordering::Acquire);
        let mut registry = self.watches();
        let restore = registry.watches_held(relative_zxid);
        (!registry.is_empty()).then_some(restore)
    }

    /// The error of a call made once the session ended.
    pub(crate) fn ended_error(&self) -> Error {
        match self.state.get() {
            SessionState::Expired => Error::SessionExpired {
                reason: self
                    .expired
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                    .unwrap_or_default(),
            },
            _ => Error::Closed,
        }
    }

    fn connect_request(&self, resume: bool) -> ConnectRequest {
        let ids = self.ids();
        ConnectRequest {
            protocol_version: CLIENT_PROTOCOL_VERSION,
            last_zxid_seen: self.last_zxid(),
            timeout_ms: ids.timeout_ms,
            session_id: if resume { ids.session_id } else { 0 },
            secret: if resume { ids.secret } else { [0; 16] },
            read_only: false,
        }
    }

    /// Dials endpoint `index` (each of its addresses in turn) and opens or
    /// resumes the session there, within `limit`; installs the connection.
    pub(crate) async fn dial(
        self: &Arc<Self>,
        index: usize,
        resume: bool,
        limit: Duration,
    ) -> Result<Arc<Connection>> {
        let name = self
            .config
            .endpoints
            .get(index)
            .ok_or_else(|| Error::Config(format!("no endpoint number {index}")))?;
        let (host, _) = split_host_port(name)?;
        let started = Instant::now();
        let addrs: Vec<SocketAddr> =
            match tokio::time::timeout(limit, tokio::net::lookup_host(name.as_str())).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => return Err(Error::Config(format!("endpoint {name}: {e}"))),
                Err(_) => return Err(Error::Config(format!("endpoint {name}: lookup timed out"))),
            };
        let mut failure = Error::Config(format!("endpoint {name}: no address"));
        for server in addrs {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            let params = OpenParams {
                host: host.to_owned(),
                server,
                request: self.connect_request(resume),
                requests_inflight_max: self.config.requests_inflight_max,
                restore_watches: resume,
            };
            let open = Connection::open(&self.dialer, params, self.clone());
            match tokio::time::timeout(left.min(self.config.connect_timeout), open).await {
                Ok(Ok(connection)) => return Ok(self.install(connection, index)),
                Ok(Err(e)) if is_expired_refusal(&e) => return Err(e),
                Ok(Err(e)) => failure = e,
                Err(_) => {
                    failure = Error::ConnectionLoss {
                        server,
                        reason: format!("no session within {} ms", left.as_millis()),
                    }
                }
            }
        }
        Err(failure)
    }

    /// Makes `connection` the session's current one and the state Connected.
    fn install(&self, connection: Connection, index: usize) -> Arc<Connection> {
        let response = connection.response().clone();
        {
            let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
            ids.session_id = response.session_id;
            ids.secret = response.secret;
            if response.timeout_ms > 0 {
                ids.timeout_ms = response.timeout_ms;
            }
            ids.server = Some(connection.server());
            ids.endpoint_index = index;
        }
        let connection = Arc::new(connection);
        *self.current_slot() = Some(connection.clone());
        let connected = self.state.set(SessionState::Connected);
        if !connected && self.state.get().is_terminal() {
            // Closed or expired while this connection was being opened.
            self.current_slot().take();
            connection.shutdown("the session ended");
        }
        connection
    }

    /// Tries the other endpoints in turn, round robin with growing pauses,
    /// until one resumes the session or the session timeout has passed.
    async fn reconnect(self: &Arc<Self>) -> std::result::Result<Arc<Connection>, String> {
        let count = self.config.endpoints.len().max(1);
        let first = (self.ids().endpoint_index + 1) % count;
        let mut pause = RECONNECT_PAUSE_FIRST;
        let too_late = || {
            format!(
                "no node resumed the session within its timeout of {} ms",
                self.ids().timeout_ms
            )
        };
        loop {
            for k in 0..count {
                let index = (first + k) % count;
                let left = self.time_left().ok_or_else(too_late)?;
                match self.dial(index, true, left).await {
                    Ok(connection) => return Ok(connection),
                    Err(e) if is_expired_refusal(&e) => return Err(e.to_string()),
                    Err(e) => {
                        tracing::debug!(endpoint = %self.config.endpoints[index], error = %e, "resume failed; trying the next node");
                    }
                }
            }
            let left = self.time_left().ok_or_else(too_late)?;
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(self.config.reconnect_backoff_max);
        }
    }

    /// Marks the session as closing: a lost connection is not replaced.
    pub(crate) fn start_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Ends the session for good: Expired or Closed; watchers end, calls fail.
    pub(crate) fn end(&self, end: StreamEnd) {
        let state = match &end {
            StreamEnd::Expired(reason) => {
                *self.expired.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason.clone());
                SessionState::Expired
            }
            _ => SessionState::Closed,
        };
        self.state.set(state);
        self.watches().end_all(&end);
        if let Some(connection) = self.current_slot().take() {
            connection.shutdown("the session ended");
        }
    }

    /// Drops the current connection (the last client handle is gone).
    pub(crate) fn shutdown(&self) {
        if let Some(connection) = self.current_slot().take() {
            connection.shutdown("client dropped");
        }
    }
}

fn is_expired_refusal(e: &Error) -> bool {
    matches!(
        e,
        Error::SessionRefused {
            code: Some(ErrorCode::SessionExpired),
            ..
        }
    )
}

/// Replaces every lost connection until the session ends.
pub(crate) async fn supervise(session: Arc<Session>, mut connection: Arc<Connection>) {
    loop {
        connection.lost().await;
        connection.shutdown("connection lost");
        {
            let mut current = session.current_slot();
            if current
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &connection))
            {
                current.take();
            }
        }
        drop(connection);
        if session.state.get().is_terminal() {
            return;
        }
        if session.closing.load(Ordering::Acquire) {
            // Close was sent (and maybe answered) on the lost connection.
            session.end(StreamEnd::Closed);
            return;
        }
        session
            .state
            .set_if(|s| s == SessionState::Connected, SessionState::Disconnected);
        match session.reconnect().await {
            Ok(next) => {
                tracing::debug!(server = %next.server(), "session resumed");
                connection = next;
            }
            Err(reason) => {
                tracing::debug!(%reason, "session expired");
                session.end(StreamEnd::Expired(reason));
                return;
            }
        }
    }
}
