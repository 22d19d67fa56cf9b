//! One connection of the session to one server: the long-lived QUIC stream,
//! the requests in flight on it, and the tasks that write, read and ping.
//!
//! ```text
//!  submit() ─► lock{ xid, waiting.push, queue.try_send } ─► FrameSender ═► server
//!  reader task ◄═ Reply{xid, zxid} / Event / ResyncNeeded / Pong ═════════ server
//!      ├─► waiting[front] resolved; its watch registered if the reply allows
//!      └─► events and resyncs handed to the session's watch registry
//! ```
//!
//! Pushing onto `waiting` and queueing the frame happen under one lock, so the
//! wire order is the order of `waiting`, and the server answers in the order
//! it was sent. A watch is registered by the reader when it reads the reply,
//! before it reads the next message, so an event that follows the reply (the
//! server sends a read's reply before any event of its watch) always finds it.
//! The session's semaphore bounds the requests in flight; the queue has room
//! for every permit plus pings and SetWatches, so queueing never waits.
//!
//! When the connection is lost (stream ended, link closed, silence), every
//! waiting call fails with [`Error::ConnectionLoss`] and the session's
//! supervisor is told through [`Connection::lost`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use corral_core::tree::{ErrorCode, Request, Response, ZkError};
use corral_transport::wire::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ConnectResponse, ServerMessage,
};
use corral_transport::{CloseCode, FrameReader, FrameSender, FrameWriter, Link};
use tokio::sync::{OwnedSemaphorePermit, oneshot, watch};
use tokio::task::JoinHandle;

use crate::dialer::{Dialer, LinkRef};
use crate::error::{Error, Result};
use crate::session::Session;
use crate::state::SessionState;
use crate::watch::{OneShotSender, PersistentSink};
use crate::watch_registry::OneShotKind;

/// Room in the send queue beyond the request permits (pings, SetWatches).
const QUEUE_SLACK: usize = 16;

/// What a caller waits on: the zxid the server answered at, and the result.
pub(crate) type ReplyResult = Result<(i64, Result<Response, ZkError>)>;

/// A watch to register when its request's reply says so.
#[derive(Debug)]
pub(crate) enum PendingWatch {
    /// getData: a data watch if the read succeeded.
    Data { path: String, tx: OneShotSender },
    /// exists: a data watch if the node exists, an exist watch if not.
    Exists { path: String, tx: OneShotSender },
    /// getChildren: a child watch if the read succeeded.
    Child { path: String, tx: OneShotSender },
    /// addWatch: a persistent (or recursive) watch if it succeeded.
    Persistent {
        path: String,
        recursive: bool,
        sink: PersistentSink,
    },
}

/// A request on its way: what to send, the watch it may leave, its permit.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) request: Request,
    /// Sent as `ReadLinearizable` instead of `Request`.
    pub(crate) linearizable: bool,
    pub(crate) watch: Option<PendingWatch>,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// What [`Connection::submit`] did.
pub(crate) enum Submitted {
    /// Queued: the reply arrives here.
    Sent(oneshot::Receiver<ReplyResult>),
    /// The connection is lost and the call was not sent: try the next one.
    NotSent(Call),
    /// The call may have been lost on the way.
    Failed(Error),
}

struct Waiting {
    xid: i32,
    reply: oneshot::Sender<ReplyResult>,
    watch: Option<PendingWatch>,
    /// Released when the reply arrives (or the connection is lost), not when
    /// the caller stops waiting: a dropped call still occupies the server.
    _permit: OwnedSemaphorePermit,
}

#[derive(Default)]
struct Pending {
    xid_next: i32,
    waiting: VecDeque<Waiting>,
    /// Set once the connection is lost; every later call goes elsewhere.
    lost: Option<String>,
}

/// Shared between the callers and the connection's tasks.
struct Shared {
    server: SocketAddr,
    /// When the connection was opened; `heard_ms` counts from here.
    opened: Instant,
    /// Milliseconds after `opened` when the server last sent anything.
    heard_ms: AtomicU64,
    pending: Mutex<Pending>,
    session: Arc<Session>,
    lost: watch::Sender<bool>,
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

    /// Fails every waiting call, refuses later ones and tells the supervisor.
    fn lose(&self, reason: String) {
        let waiting = {
            let mut pending = self.pending();
            if pending.lost.is_some() {
                return;
            }
            pending.lost = Some(reason.clone());
            std::mem::take(&mut pending.waiting)
        };
        tracing::debug!(server = %self.server, %reason, "session connection lost");
        self.session
            .state
            .set_if(|s| s == SessionState::Connected, SessionState::Disconnected);
        for w in waiting {
            let _ = w.reply.send(Err(self.lost_error(&reason)));
        }
        self.lost.send_replace(true);
    }

    fn heard(&self) {
        // One clock read for both: it happens for every message received.
        let now = Instant::now();
        let ms = now.saturating_duration_since(self.opened).as_millis();
        self.heard_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Release);
        self.session.heard_at(now);
    }

    /// Time since the server last sent anything.
    fn silence(&self) -> Duration {
        let heard = Duration::from_millis(self.heard_ms.load(Ordering::Acquire));
        self.opened.elapsed().saturating_sub(heard)
    }
}

/// A session established on one server.
pub(crate) struct Connection {
    link: LinkRef,
    queue: FrameSender<ClientMessage>,
    shared: Arc<Shared>,
    response: ConnectResponse,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shutdown("connection dropped");
    }
}

/// What [`Connection::open`] needs besides the endpoint.
pub(crate) struct OpenParams {
    pub(crate) host: String,
    pub(crate) server: SocketAddr,
    pub(crate) request: ConnectRequest,
    pub(crate) requests_inflight_max: usize,
    /// Send `SetWatches` with the registry's watches right after the handshake.
    pub(crate) restore_watches: bool,
}

impl Connection {
    /// Dials `server`, runs the session handshake and starts the connection's tasks.
    ///
    /// Cancel safety: cancel-safe; a dropped call leaves no connection behind
    /// on this side (the server may have created a session, which then expires).
    pub(crate) async fn open(
        dialer: &Dialer,
        params: OpenParams,
        session: Arc<Session>,
    ) -> Result<Self> {
        let OpenParams {
            host,
            server,
            request,
            requests_inflight_max,
            restore_watches,
        } = params;
        let link = dialer.link_to(server, &host).await?;
        let (mut writer, mut reader) = link.link().open_bi().await?;
        let timeout_ms = request.timeout_ms;
        let response = handshake(&mut writer, &mut reader, request, server).await?;
        let shared = Arc::new(Shared {
            server,
            opened: Instant::now(),
            heard_ms: AtomicU64::new(0),
            pending: Mutex::new(Pending::default()),
            session: session.clone(),
            lost: watch::channel(false).0,
        });
        shared.heard();
        session.raise_applied_zxid(response.last_zxid);
        let (queue, writer_task) = FrameSender::spawn(writer, requests_inflight_max + QUEUE_SLACK);
        if restore_watches {
            // Before any request and before the reader runs: the server must
            // know the watches before it answers anything on this connection.
            let restore = session.watches_to_restore();
            let queued = match restore {
                Some(restore) => queue.try_send(ClientMessage::SetWatches(restore)),
                None => Ok(true),
            };
            if !matches!(queued, Ok(true)) {
                return Err(Error::ConnectionLoss {
                    server,
                    reason: "cannot queue SetWatches on the new connection".into(),
                });
            }
        }
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
        let negotiated_ms = if response.timeout_ms > 0 {
            response.timeout_ms
        } else {
            timeout_ms
        };
        let pinger = tokio::spawn(ping_loop(
            queue.clone(),
            shared.clone(),
            link.link().clone(),
            ping_interval(negotiated_ms),
        ));
        Ok(Self {
            link,
            queue,
            shared,
            response,
            tasks: vec![writer_watch, reader_task, pinger],
        })
    }

    /// The handshake's answer: session id, secret, negotiated timeout.
    pub(crate) fn response(&self) -> &ConnectResponse {
        &self.response
    }

    /// The server this connection is to.
    pub(crate) fn server(&self) -> SocketAddr {
        self.shared.server
    }

    /// Queues `call`, unless the connection is lost.
    pub(crate) fn submit(&self, call: Call) -> Submitted {
        let mut pending = self.shared.pending();
        if pending.lost.is_some() {
            return Submitted::NotSent(call);
        }
        let Call {
            request,
            linearizable,
            watch,
            permit,
        } = call;
        let xid = pending.xid_next;
        // xids wrap after 2^31 requests; the server only echoes them.
        pending.xid_next = xid.wrapping_add(1).max(0);
        let message = if linearizable {
            ClientMessage::ReadLinearizable { xid, request }
        } else {
            ClientMessage::Request { xid, request }
        };
        match self.queue.try_send(message) {
            Ok(true) => {
                let (reply, answer) = oneshot::channel();
                pending.waiting.push_back(Waiting {
                    xid,
                    reply,
                    watch,
                    _permit: permit,
                });
                Submitted::Sent(answer)
            }
            Ok(false) => Submitted::Failed(Error::Protocol {
                server: self.shared.server,
                what: "send queue full despite a permit (a client bug)".into(),
            }),
            Err(e) => Submitted::Failed(self.shared.lost_error(&e.to_string())),
        }
    }

    /// Resolves once the connection is lost.
    ///
    /// Cancel safety: cancel-safe.
    pub(crate) async fn lost(&self) {
        let mut lost = self.shared.lost.subscribe();
        let _ = lost.wait_for(|lost| *lost).await;
    }

    /// Fails what is in flight, stops the tasks and lets go of the link
    /// (closed unless other sessions share it; their streams go on).
    pub(crate) fn shutdown(&self, reason: &str) {
        self.shared.lose(reason.to_owned());
        for task in &self.tasks {
            task.abort();
        }
        self.link.release(reason);
    }
}

/// Sends the Connect and reads the server's answer.
async fn handshake(
    writer: &mut FrameWriter,
    reader: &mut FrameReader,
    request: ConnectRequest,
    server: SocketAddr,
) -> Result<ConnectResponse> {
    writer.send(&ClientMessage::Connect(request)).await?;
    let response = match reader.read::<ServerMessage>().await? {
        Some(ServerMessage::Connected(response)) => response,
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
    if response.protocol_version != CLIENT_PROTOCOL_VERSION {
        return Err(Error::Protocol {
            server,
            what: format!(
                "server speaks client protocol {}, we speak {CLIENT_PROTOCOL_VERSION}",
                response.protocol_version
            ),
        });
    }
    Ok(response)
}

/// Registers `watch` as the reply to its request allows.
fn register(session: &Session, watch: PendingWatch, result: &Result<Response, ZkError>) {
    let no_node = matches!(result, Err(e) if e.code == ErrorCode::NoNode);
    let mut registry = session.watches();
    match watch {
        PendingWatch::Data { path, tx } if result.is_ok() => {
            registry.add_one_shot(OneShotKind::Data, &path, tx);
        }
        PendingWatch::Child { path, tx } if result.is_ok() => {
            registry.add_one_shot(OneShotKind::Child, &path, tx);
        }
        PendingWatch::Exists { path, tx } => match result {
            Ok(Response::Exists { stat: Some(_) }) => {
                registry.add_one_shot(OneShotKind::Data, &path, tx);
            }
            Ok(Response::Exists { stat: None }) => {
                registry.add_one_shot(OneShotKind::Exist, &path, tx);
            }
            _ if no_node => registry.add_one_shot(OneShotKind::Exist, &path, tx),
            _ => {}
        },
        PendingWatch::Persistent {
            path,
            recursive,
            sink,
        } if result.is_ok() => registry.add_persistent(&path, recursive, sink),
        _ => {}
    }
}

async fn read_loop(mut reader: FrameReader, shared: Arc<Shared>) {
    let reason = loop {
        let message = match reader.read::<ServerMessage>().await {
            Ok(Some(message)) => message,
            Ok(None) => break "the server ended the session stream".to_owned(),
            Err(e) => break e.to_string(),
        };
        if *shared.lost.borrow() {
            // Shut down while this task was running: the session has moved
            // on (its SetWatches may already be computed), so deliver nothing.
            return;
        }
        shared.heard();
        match message {
            ServerMessage::Reply { xid, zxid, result } => {
                shared.session.raise_zxid(zxid);
                // Replies come in request order, so this is the front.
                let waiting = {
                    let mut pending = shared.pending();
                    match pending.waiting.front() {
                        Some(w) if w.xid == xid => pending.waiting.pop_front(),
                        _ => None,
                    }
                };
                let Some(waiting) = waiting else {
                    break format!("reply to xid {xid}, which is not the oldest request in flight");
                };
                if let Some(watch) = waiting.watch {
                    register(&shared.session, watch, &result);
                }
                let _ = waiting.reply.send(Ok((zxid, result)));
            }
            ServerMessage::Pong { zxid } => shared.session.raise_applied_zxid(zxid),
            ServerMessage::Event(event) => {
                shared.session.raise_zxid(event.zxid);
                shared.session.watches().materialize(&event);
            }
            ServerMessage::ResyncNeeded {
                path,
                last_zxid_seen,
                oldest_zxid,
            } => {
                tracing::debug!(%path, last_zxid_seen, oldest_zxid, "resync needed");
                shared
                    .session
                    .watches()
                    .resync_needed(&path, last_zxid_seen, oldest_zxid);
            }
            other @ (ServerMessage::Connected(_)
            | ServerMessage::ConnectRefused { .. }
            | ServerMessage::Status(_)) => {
                break format!("unexpected {other:?} after the handshake");
            }
        }
    };
    shared.lose(reason);
}

/// Pings every `every` (a third of the session timeout) and declares the
/// connection lost as soon as the server has sent nothing for two of those
/// periods (ZooKeeper's read timeout): a silent server must not hold the
/// session, and the third left of the timeout is for resuming elsewhere.
/// A server whose process is gone (its host answers ICMP port unreachable
/// to whatever this end sends: a request, a ping, a QUIC keep-alive) is
/// lost at once, as a ZooKeeper client loses a server whose TCP connection
/// was reset.
async fn ping_loop(
    queue: FrameSender<ClientMessage>,
    shared: Arc<Shared>,
    link: Link,
    every: Duration,
) {
    let silence_max = every * 2;
    let mut next_ping = tokio::time::Instant::now() + every;
    let gone = link.remote_gone();
    tokio::pin!(gone);
    loop {
        // Wake at the next ping or when the silence would reach its limit.
        let silence = shared.silence();
        if silence > silence_max {
            let reason = format!("the server sent nothing for {} ms", silence.as_millis());
            shared.lose(reason.clone());
            link.close(CloseCode::Normal, &reason);
            return;
        }
        let now = tokio::time::Instant::now();
        if now >= next_ping {
            // A full queue means traffic is flowing, which keeps the session alive anyway.
            if queue.try_send(ClientMessage::Ping).is_err() {
                return; // the writer is gone: the connection is already lost
            }
            next_ping = now + every;
        }
        let silence_deadline = now + (silence_max - silence) + Duration::from_millis(1);
        tokio::select! {
            () = tokio::time::sleep_until(next_ping.min(silence_deadline)) => {}
            () = &mut gone => {
                let reason = format!(
                    "nothing listens at {} any more (ICMP port unreachable): the server's process is gone",
                    link.remote_address()
                );
                link.close_gone(&reason).await;
                shared.lose(reason);
                return;
            }
        }
    }
}

/// A third of the session timeout, as ZooKeeper's client pings.
fn ping_interval(timeout_ms: i64) -> Duration {
    let ms = u64::try_from(timeout_ms / 3).unwrap_or(0).max(50);
    Duration::from_millis(ms)
}
