//! One session on one server: the long-lived QUIC stream, the requests in
//! flight on it, and the tasks that write, read and ping.
//!
//! ```text
//!  call() ─ permit ─► lock{ xid, waiting.push, queue.try_send } ─► FrameSender ═► server
//!  reader task ◄═ Reply{xid, zxid} / Event / Pong ══════════════════════════════ server
//!      └─► waiting[xid] resolved (permit released), last zxid raised
//! ```
//!
//! Pushing onto `waiting` and queueing the frame happen under one lock, so the
//! wire order is the order of `waiting`, and the server answers a session in
//! the order it sent. The semaphore bounds the requests in flight (a caller
//! waits for a permit: backpressure, never an unbounded buffer); the queue has
//! room for every permit plus pings, so queueing under the lock never waits.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use corral_core::tree::{Request, Response, ZkError};
use corral_transport::wire::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ConnectResponse, ServerMessage,
};
use corral_transport::{CloseCode, Endpoint, FrameReader, FrameSender, Link};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::state::SessionState;

/// Room in the send queue beyond the request permits (pings, close).
const QUEUE_SLACK: usize = 16;

/// What a caller waits on: the zxid the server answered at, and the result.
type ReplySlot = oneshot::Sender<Result<(i64, Result<Response, ZkError>)>>;

struct Waiting {
    xid: i32,
    reply: ReplySlot,
    /// Released when the reply arrives (or the connection is lost), not when
    /// the caller stops waiting: a dropped call still occupies the server.
    _permit: OwnedSemaphorePermit,
}

#[derive(Default)]
struct Pending {
    xid_next: i32,
    waiting: VecDeque<Waiting>,
    /// Set once the connection is lost; every later call fails with it.
    lost: Option<String>,
}

/// Shared between the callers and the reader task.
struct Shared {
    server: SocketAddr,
    /// When the connection was opened; `heard_ms` counts from here.
    opened: Instant,
    /// Milliseconds after `opened` when the server last sent anything.
    heard_ms: AtomicU64,
    pending: Mutex<Pending>,
    last_zxid: AtomicI64,
    state: watch::Sender<SessionState>,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lost_error(&self, reason: &str) -> Error {
        Error::ConnectionLoss {
            server: self.server,
            reason: reason.to_owned(),
        }
    }

    /// Fails every waiting call and refuses later ones.
    fn lose(&self, reason: String) {
        let waiting = {
            let mut pending = self.pending();
            if pending.lost.is_none() {
                pending.lost = Some(reason.clone());
            }
            std::mem::take(&mut pending.waiting)
        };
        for w in waiting {
            let _ = w.reply.send(Err(self.lost_error(&reason)));
        }
        self.state.send_if_modified(|state| {
            if *state == SessionState::Connected {
                *state = SessionState::Disconnected;
                true
            } else {
                false
            }
        });
    }

    fn heard(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heard_ms.store(ms, Ordering::Release);
    }

    /// Time since the server last sent anything.
    fn silence(&self) -> Duration {
        let heard = Duration::from_millis(self.heard_ms.load(Ordering::Acquire));
        self.opened.elapsed().saturating_sub(heard)
    }

    fn raise_zxid(&self, zxid: i64) {
        self.last_zxid.fetch_max(zxid, Ordering::AcqRel);
    }
}

/// A session established on one server.
pub(crate) struct Connection {
    link: Link,
    queue: FrameSender<ClientMessage>,
    permits: Arc<Semaphore>,
    shared: Arc<Shared>,
    session: ConnectResponse,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.link.close(CloseCode::Normal, "client dropped");
    }
}

/// What [`Connection::open`] needs besides the endpoint.
pub(crate) struct OpenParams {
    pub(crate) host: String,
    pub(crate) server: SocketAddr,
    pub(crate) request: ConnectRequest,
    pub(crate) requests_inflight_max: usize,
    pub(crate) state: watch::Sender<SessionState>,
}

impl Connection {
    /// Dials `server`, runs the session handshake and starts the session's tasks.
    ///
    /// Cancel safety: cancel-safe; a dropped call leaves no session behind on
    /// this side (the server may have created one, which then expires).
    pub(crate) async fn open(endpoint: &Endpoint, params: OpenParams) -> Result<Self> {
        let OpenParams {
            host,
            server,
            request,
            requests_inflight_max,
            state,
        } = params;
        let link = endpoint.connect_client(server, &host).await?;
        let (mut writer, mut reader) = link.open_bi().await?;
        let timeout_ms = request.timeout_ms;
        writer.send(&ClientMessage::Connect(request)).await?;
        let session = match reader.read::<ServerMessage>().await? {
            Some(ServerMessage::Connected(session)) => session,
            Some(ServerMessage::ConnectRefused { error, reason }) => {
                return Err(Error::SessionRefused {
                    server,
                    code: error.map(|e| e.code),
                    reason,
                });
            }
            Some(other) => {
                return Err(Error::Protocol {
                    server,
                    what: format!("expected Connected, got {other:?}"),
                });
            }
            None => {
                return Err(Error::SessionRefused {
                    server,
                    code: None,
                    reason: "the server ended the session stream during the handshake".into(),
                });
            }
        };
        if session.protocol_version != CLIENT_PROTOCOL_VERSION {
            return Err(Error::Protocol {
                server,
                what: format!(
                    "server speaks client protocol {}, we speak {CLIENT_PROTOCOL_VERSION}",
                    session.protocol_version
                ),
            });
        }
        state.send_replace(SessionState::Connected);
        let shared = Arc::new(Shared {
            server,
            opened: Instant::now(),
            heard_ms: AtomicU64::new(0),
            pending: Mutex::new(Pending::default()),
            last_zxid: AtomicI64::new(session.last_zxid),
            state,
        });
        let (queue, writer_task) = FrameSender::spawn(writer, requests_inflight_max + QUEUE_SLACK);
        let writer_shared = shared.clone();
        let writer_watch = tokio::spawn(async move {
            let reason = match writer_task.await {
                Ok(Ok(())) => "the send stream ended".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("the writer task failed: {e}"),
            };
            writer_shared.lose(reason);
        });
        let reader_task = tokio::spawn(read_loop(reader, shared.clone()));
        let negotiated_ms = if session.timeout_ms > 0 {
            session.timeout_ms
        } else {
            timeout_ms
        };
        let ping_every = ping_interval(negotiated_ms);
        let pinger = tokio::spawn(ping_loop(
            queue.clone(),
            shared.clone(),
            link.clone(),
            ping_every,
        ));
        Ok(Self {
            link,
            queue,
            permits: Arc::new(Semaphore::new(requests_inflight_max)),
            shared,
            session,
            tasks: vec![writer_watch, reader_task, pinger],
        })
    }

    /// The handshake's answer: session id, secret, negotiated timeout.
    pub(crate) fn session(&self) -> &ConnectResponse {
        &self.session
    }

    /// The server this session is on.
    pub(crate) fn server(&self) -> SocketAddr {
        self.shared.server
    }

    /// The highest zxid seen in any reply or pong.
    pub(crate) fn last_zxid(&self) -> i64 {
        self.shared.last_zxid.load(Ordering::Acquire)
    }

    /// Sends `request` and waits for its reply.
    ///
    /// Cancel safety: if the future is dropped after the request was queued,
    /// the request is still sent and may take effect; its reply is discarded.
    pub(crate) async fn call(&self, request: Request) -> Result<(i64, Result<Response, ZkError>)> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Closed)?;
        let (reply, answer) = oneshot::channel();
        {
            let mut pending = self.shared.pending();
            if let Some(reason) = &pending.lost {
                return Err(self.shared.lost_error(reason));
            }
            let xid = pending.xid_next;
            // xids wrap after 2^31 requests; the server only echoes them.
            pending.xid_next = xid.wrapping_add(1).max(0);
            let queued = self.queue.try_send(ClientMessage::Request { xid, request });
            match queued {
                Ok(true) => pending.waiting.push_back(Waiting {
                    xid,
                    reply,
                    _permit: permit,
                }),
                Ok(false) => {
                    return Err(Error::Protocol {
                        server: self.shared.server,
                        what: "send queue full despite a permit (a client bug)".into(),
                    });
                }
                Err(e) => return Err(self.shared.lost_error(&e.to_string())),
            }
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(self.shared.lost_error("the session's reader stopped")),
        }
    }

    /// Closes the link after a clean `Close` (or when giving up).
    pub(crate) fn close_link(&self, reason: &str) {
        self.shared.state.send_replace(SessionState::Closed);
        self.shared.lose(reason.to_owned());
        self.link.close(CloseCode::Normal, reason);
    }
}

async fn read_loop(mut reader: FrameReader, shared: Arc<Shared>) {
    let reason = loop {
        let message = match reader.read::<ServerMessage>().await {
            Ok(Some(message)) => message,
            Ok(None) => break "the server ended the session stream".to_owned(),
            Err(e) => break e.to_string(),
        };
        shared.heard();
        match message {
            ServerMessage::Reply { xid, zxid, result } => {
                shared.raise_zxid(zxid);
                let waiting = {
                    let mut pending = shared.pending();
                    // Replies come in request order, so this is the front.
                    let at = pending.waiting.iter().position(|w| w.xid == xid);
                    at.and_then(|at| pending.waiting.remove(at))
                };
                match waiting {
                    Some(w) => {
                        let _ = w.reply.send(Ok((zxid, result)));
                    }
                    None => break format!("reply to unknown xid {xid}"),
                }
            }
            ServerMessage::Pong { zxid } => shared.raise_zxid(zxid),
            ServerMessage::Event(event) => {
                // Watches arrive with the sessions issue; until then no request
                // asks for one, so an event is only logged.
                tracing::debug!(?event, "watch event with no watcher");
            }
            ServerMessage::ResyncNeeded { path, .. } => {
                tracing::debug!(%path, "resync needed with no watcher");
            }
            other @ (ServerMessage::Connected(_)
            | ServerMessage::ConnectRefused { .. }
            | ServerMessage::Status(_)) => {
                break format!("unexpected {other:?} after the handshake");
            }
        }
    };
    tracing::debug!(server = %shared.server, %reason, "session connection lost");
    shared.lose(reason);
}

/// Pings every `every` (a third of the session timeout) and declares the
/// connection lost when the server has sent nothing for two of those periods
/// (ZooKeeper's read timeout): a silent server must not hold calls forever.
async fn ping_loop(
    queue: FrameSender<ClientMessage>,
    shared: Arc<Shared>,
    link: Link,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let silence = shared.silence();
        if silence > every * 2 {
            let reason = format!("the server sent nothing for {} ms", silence.as_millis());
            shared.lose(reason.clone());
            link.close(CloseCode::Normal, &reason);
            return;
        }
        // A full queue means traffic is flowing, which keeps the session alive anyway.
        if queue.try_send(ClientMessage::Ping).is_err() {
            return; // the writer is gone: the session is already lost
        }
    }
}

/// A third of the session timeout, as ZooKeeper's client pings.
fn ping_interval(timeout_ms: i64) -> Duration {
    let ms = u64::try_from(timeout_ms / 3).unwrap_or(0).max(50);
    Duration::from_millis(ms)
}
