//! SessionActor: one per client session stream. It owns the stream, orders the
//! session's requests, serves reads from the read view, sends writes to the
//! replica (which proposes them as leader or forwards them to the leader), and
//! delivers the session's watch events in order with its replies.
//!
//! ```text
//!  client ──Connect──► handshake (CreateSession entry, or resume by id + secret)
//!  client ──Request{xid}──► reader ──write──► ReplicaActor (Submit) ─► oneshot ─┐
//!                             │                                                 ▼
//!                             └──read/watch/ping──► [bounded FIFO] ──► writer ──Reply{xid}──► client
//!  ReplicaActor ── apply ─► ZnodeActor × w ─► [bounded event queue] ──► writer ──Event──► client
//! ```
//!
//! The FIFO between reader and writer holds at most
//! `session_requests_inflight_max` requests: when it is full the reader stops
//! reading, and QUIC flow control pushes back on the client. The writer
//! answers strictly in the order requests arrived; a read is evaluated only
//! when everything before it has been answered, on the newest view, so a
//! session always reads its own writes. Reads that leave a watch, addWatch,
//! removeWatches and SetWatches are evaluated by the replica, between two
//! applies, so no event between a read and its watch is lost. See
//! `session/writer.rs` for how events and replies are ordered.

mod events;
mod held_events;
mod writer;

pub use events::{
    EventInbox, EventRoute, EventsLost, SESSION_EVENTS_MAX, SessionEvent, SharedEvent, WatchOp,
    event_queue, touches_watches,
};

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use corral_core::broadcast::Role;
use corral_core::tree::{Command, ErrorCode, Id, Request, Response, SessionId, ZkError};
use corral_transport::wire::{
    CLIENT_PROTOCOL_VERSION, ClientMessage, ConnectRequest, ConnectResponse, NodeStatus,
    ServerMessage, check_client_version,
};
use corral_transport::{CloseCode, FrameReader, FrameWriter, Link};
use ractor::{ActorRef, RpcReplyPort};
use rand::Rng;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::replica::{ReplicaMsg, Submitted};
use crate::spec::NodeSpec;
use crate::view::Views;
use writer::{Outbox, Pending, Queued, write_replies};

/// Numbers session streams, so a stale stream's end does not unroute a newer one.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// How long a handshake waits for this node to apply what the client has seen.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// How long a client has to send its Connect after opening the stream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What sessions share: the replica, the view, the gates.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// The node's spec.
    pub spec: Arc<NodeSpec>,
    /// The replica.
    pub replica: ActorRef<ReplicaMsg>,
    /// The read views.
    pub view: Views,
    /// The bounded gate in front of the replica's mailbox.
    pub gate: Arc<Semaphore>,
    /// Sessions served at once.
    pub sessions: Arc<Semaphore>,
    /// Sessions heard from since the replica's last tick.
    pub heard: Arc<Mutex<BTreeSet<SessionId>>>,
    /// Closed when the node stops taking new work.
    pub draining: watch::Receiver<bool>,
    /// Requests in flight on this node (for a graceful stop).
    pub inflight: Arc<Semaphore>,
    /// The fan-out mark: the oldest watch firing not yet queued.
    pub fanout: watch::Receiver<crate::znode::fanout_mark::FiringKey>,
}

impl SessionContext {
    /// Sends `command` to the replica (waiting for room at the gate); resolves
    /// once it is applied here, or with why it was not.
    ///
    /// Cancel safety: once the command is sent, dropping the receiver does not
    /// withdraw it.
    pub async fn submit(&self, command: Command) -> oneshot::Receiver<Submitted> {
        let (tx, rx) = oneshot::channel();
        self.send_commands(vec![(command, RpcReplyPort::from(tx))])
            .await;
        rx
    }

    /// [`SessionContext::submit`] for several commands in order, in one
    /// message (one slot at the gate).
    ///
    /// Cancel safety: as [`SessionContext::submit`].
    pub async fn submit_all(&self, commands: Vec<Command>) -> Vec<oneshot::Receiver<Submitted>> {
        let mut replies = Vec::with_capacity(commands.len());
        let commands = commands
            .into_iter()
            .map(|command| {
                let (tx, rx) = oneshot::channel();
                replies.push(rx);
                (command, RpcReplyPort::from(tx))
            })
            .collect();
        self.send_commands(commands).await;
        replies
    }

    /// Sends commands to the replica once there is room at the gate.
    async fn send_commands(&self, commands: Vec<(Command, RpcReplyPort<Submitted>)>) {
        let gate = self.gate.clone().acquire_owned().await.ok();
        let msg = ReplicaMsg::Submit { commands, gate };
        // A stopped replica drops the ports: the receivers then report an error.
        let _ = self.replica.send_message(msg);
    }
}

impl SessionContext {
    /// Asks the replica to evaluate a watch operation for `session`, in step with apply.
    pub async fn watch(&self, session: SessionId, op: WatchOp) -> oneshot::Receiver<Submitted> {
        let (tx, rx) = oneshot::channel();
        let gate = self.gate.clone().acquire_owned().await.ok();
        let msg = ReplicaMsg::Watch {
            session,
            op,
            gate,
            reply: RpcReplyPort::from(tx),
        };
        let _ = self.replica.send_message(msg);
        rx
    }

    /// Asks the replica for a ReadIndex: the index to apply before a linearizable read.
    pub async fn read_index(&self) -> Result<u64, ZkError> {
        let (tx, rx) = oneshot::channel();
        let gate = self.gate.clone().acquire_owned().await.ok();
        let msg = ReplicaMsg::ReadIndex {
            gate,
            reply: RpcReplyPort::from(tx),
        };
        let _ = self.replica.send_message(msg);
        rx.await.unwrap_or_else(|_| {
            Err(ZkError::new(
                ErrorCode::ConnectionLoss,
                "the node is stopping",
            ))
        })
    }

    /// Routes `session`'s watch events to this stream's queue.
    async fn route(&self, session: SessionId, stream: u64, events: EventRoute) {
        let gate = self.gate.clone().acquire_owned().await.ok();
        let msg = ReplicaMsg::RouteEvents {
            session,
            stream,
            events,
            gate,
        };
        let _ = self.replica.send_message(msg);
    }

    /// Stops routing `session`'s events to `stream` and drops its watches here.
    async fn unroute(&self, session: SessionId, stream: u64) {
        let gate = self.gate.clone().acquire_owned().await.ok();
        let msg = ReplicaMsg::Unroute {
            session,
            stream,
            gate,
        };
        let _ = self.replica.send_message(msg);
    }
}

/// Serves every session stream a client link opens.
pub async fn serve_client_link(link: Link, ctx: SessionContext) {
    let Some(name) = link.client_name().map(str::to_owned) else {
        return;
    };
    loop {
        let (writer, reader) = match link.accept_bi().await {
            Ok(streams) => streams,
            Err(_) => return,
        };
        let Ok(permit) = ctx.sessions.clone().try_acquire_owned() else {
            tracing::warn!(client = %name, "too many sessions: refused");
            link.close(CloseCode::Refused, "too many sessions");
            return;
        };
        let ctx = ctx.clone();
        let name = name.clone();
        tokio::spawn(async move {
            metrics::gauge!("corral_sessions_open").increment(1.0);
            if let Err(e) = run_session(writer, reader, &name, &ctx).await {
                tracing::debug!(client = %name, error = %e, "session stream ended");
            }
            metrics::gauge!("corral_sessions_open").decrement(1.0);
            drop(permit);
        });
    }
}

async fn run_session(
    mut writer: FrameWriter,
    mut reader: FrameReader,
    name: &str,
    ctx: &SessionContext,
) -> Result<(), String> {
    let connect = match tokio::time::timeout(CONNECT_TIMEOUT, reader.read::<ClientMessage>()).await
    {
        Ok(Ok(Some(ClientMessage::Connect(req)))) => req,
        Ok(Ok(Some(ClientMessage::Status))) => {
            let status = ServerMessage::Status(node_status(ctx).await?);
            writer.send(&status).await.map_err(|e| e.to_string())?;
            let _ = writer.finish().await;
            return Ok(());
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Ok(Some(_))) => {
            refuse(&mut writer, None, "the first message must be Connect").await;
            return Err("no Connect".into());
        }
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("no Connect in time".into()),
    };
    let Some((session, response)) = handshake(&mut writer, connect, name, ctx).await? else {
        return Ok(());
    };
    writer
        .send(&ServerMessage::Connected(response))
        .await
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel::<Queued>(ctx.spec.session_requests_inflight_max.max(1));
    let (events_tx, events_rx) = event_queue();
    let stream = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    ctx.route(session, stream, events_tx).await;
    let outbox = Outbox::new(writer, events_rx, ctx.fanout.clone(), session);
    let writer_task = tokio::spawn(write_replies(outbox, rx, ctx.clone()));
    let result = read_requests(&mut reader, &tx, session, ctx).await;
    drop(tx);
    // Everything read gets its answer before the stream closes.
    let written = writer_task.await;
    ctx.unroute(session, stream).await;
    match written {
        Ok(Err(stop)) => {
            reader.stop(CloseCode::Protocol);
            Err(stop.to_string())
        }
        _ => result,
    }
}

/// Opens (or resumes) the session; `None` if refused (already told the client).
async fn handshake(
    writer: &mut FrameWriter,
    req: ConnectRequest,
    name: &str,
    ctx: &SessionContext,
) -> Result<Option<(SessionId, ConnectResponse)>, String> {
    if let Err(e) = check_client_version(req.protocol_version) {
        refuse(writer, None, &e.to_string()).await;
        return Ok(None);
    }
    if *ctx.draining.borrow() {
        refuse(writer, None, "the node is shutting down").await;
        return Ok(None);
    }
    // A client must never see the tree go back in time: a server behind what
    // the client has seen waits a little for apply, then refuses.
    let seen = u64::try_from(req.last_zxid_seen).unwrap_or(0);
    let mut views = ctx.view.clone();
    let wanted = seen.max(views.applied());
    let view = match tokio::time::timeout(CATCH_UP_WAIT, views.at_least(wanted)).await {
        Ok(Some(view)) => view,
        Ok(None) => return Err("the replica stopped".to_string()),
        Err(_) => {
            let reason = format!(
                "this server has applied zxid {}, behind the client's {}",
                views.applied(),
                req.last_zxid_seen
            );
            refuse(writer, None, &reason).await;
            return Ok(None);
        }
    };
    let spec = &ctx.spec;
    let timeout_ms = req
        .timeout_ms
        .clamp(spec.session_timeout_ms_min, spec.session_timeout_ms_max);
    if req.session_id != 0 {
        let live = view
            .tree
            .session(req.session_id)
            .filter(|s| s.secret == req.secret)
            .map(|s| s.timeout_ms);
        return match live {
            Some(timeout_ms) => {
                mark_heard(ctx, req.session_id);
                Ok(Some((
                    req.session_id,
                    ConnectResponse {
                        protocol_version: CLIENT_PROTOCOL_VERSION,
                        timeout_ms,
                        session_id: req.session_id,
                        secret: req.secret,
                        last_zxid: view.tree.last_zxid(),
                        read_only: false,
                    },
                )))
            }
            None => {
                let error = ZkError::new(
                    ErrorCode::SessionExpired,
                    format!("session 0x{:x}", req.session_id),
                );
                refuse(writer, Some(error), "unknown or expired session").await;
                Ok(None)
            }
        };
    }
    let secret: [u8; 16] = rand::rng().random();
    let command = Command::CreateSession {
        timeout_ms,
        secret,
        identities: vec![Id::x509(name)],
    };
    let submitted = ctx
        .submit(command)
        .await
        .await
        .map_err(|_| "the replica stopped".to_string())?;
    match submitted.result {
        Ok(Response::SessionCreated {
            session,
            timeout_ms,
            secret,
        }) => {
            tracing::debug!(client = %name, session, "session created");
            Ok(Some((
                session,
                ConnectResponse {
                    protocol_version: CLIENT_PROTOCOL_VERSION,
                    timeout_ms,
                    session_id: session,
                    secret,
                    last_zxid: submitted.zxid,
                    read_only: false,
                },
            )))
        }
        Ok(other) => Err(format!("unexpected answer to CreateSession: {other:?}")),
        Err(error) => {
            let reason = format!("cannot open a session: {error}");
            refuse(writer, Some(error), &reason).await;
            Ok(None)
        }
    }
}

/// What this node says of itself to `corral status`.
async fn node_status(ctx: &SessionContext) -> Result<NodeStatus, String> {
    let view = ctx
        .view
        .clone()
        .current()
        .await
        .ok_or("the replica stopped")?;
    let open = ctx
        .spec
        .sessions_max
        .saturating_sub(ctx.sessions.available_permits());
    Ok(NodeStatus {
        id: ctx.spec.id,
        role: role_name(view.role, ctx.spec.observer).to_owned(),
        voter: !ctx.spec.observer,
        term: view.term,
        leader: view.leader,
        committed: view.committed,
        applied: view.applied,
        last_zxid: view.tree.last_zxid(),
        sessions: u64::try_from(open).unwrap_or(u64::MAX),
        znodes: u64::try_from(view.tree.node_count()).unwrap_or(u64::MAX),
    })
}

/// The name `corral status` prints for a role.
fn role_name(role: Role, observer: bool) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Follower if observer => "observer",
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::PreCandidate => "pre-candidate",
    }
}

async fn refuse(writer: &mut FrameWriter, error: Option<ZkError>, reason: &str) {
    let msg = ServerMessage::ConnectRefused {
        error,
        reason: reason.to_owned(),
    };
    let _ = writer.send(&msg).await;
    let _ = writer.finish().await;
}

fn mark_heard(ctx: &SessionContext, session: SessionId) {
    ctx.heard
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(session);
}

/// Whether a request goes through the log: writes, and sync (answered once
/// everything before it applied).
fn goes_to_log(request: &Request) -> bool {
    request.is_write() || matches!(request, Request::Sync { .. })
}

/// Adds to `writes` the requests for the log already buffered behind them,
/// as many as the FIFO has room for (so the session's bound holds); stops
/// after a close, and keeps in `next` the first message of another kind.
/// `Err` is a bad frame, after the writes read before it.
fn gather_writes(
    reader: &mut FrameReader,
    tx: &mpsc::Sender<Queued>,
    writes: &mut Vec<(i32, Request, Option<&'static str>)>,
    next: &mut Option<ClientMessage>,
) -> Result<(), corral_transport::TransportError> {
    let room = tx.capacity().max(1);
    while writes.len() < room
        && !writes
            .last()
            .is_some_and(|(_, request, _)| matches!(request, Request::Close))
    {
        match reader.try_read_buffered::<ClientMessage>()? {
            Some(ClientMessage::Request { xid, request }) if goes_to_log(&request) => {
                let op = Some(crate::request_metrics::op_label(&request));
                writes.push((xid, request, op));
            }
            Some(other) => {
                *next = Some(other);
                break;
            }
            None => break,
        }
    }
    Ok(())
}

/// Reads the client's messages and queues each for the writer, in order;
/// writes go to the log at once, those that arrived together in one message
/// to the replica, so they pipeline.
async fn read_requests(
    reader: &mut FrameReader,
    tx: &mpsc::Sender<Queued>,
    session: SessionId,
    ctx: &SessionContext,
) -> Result<(), String> {
    let mut draining = ctx.draining.clone();
    // A message read while gathering writes, handled next.
    let mut next = None;
    loop {
        let msg = match next.take() {
            Some(msg) => Ok(Some(msg)),
            None => tokio::select! {
                msg = reader.read::<ClientMessage>() => msg,
                _ = draining.wait_for(|d| *d) => return Ok(()),
                // The writer stopped (stream failed, or events overflowed).
                _ = tx.closed() => return Ok(()),
            },
        };
        let msg = match msg {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(()),
            Err(e) => {
                reader.stop(CloseCode::Protocol);
                return Err(e.to_string());
            }
        };
        mark_heard(ctx, session);
        let at = std::time::Instant::now();
        let op = match &msg {
            ClientMessage::Request { request, .. }
            | ClientMessage::ReadLinearizable { request, .. } => {
                Some(crate::request_metrics::op_label(request))
            }
            _ => None,
        };
        let pending = match msg {
            ClientMessage::Request { xid, request } => {
                if goes_to_log(&request) {
                    let mut writes = vec![(xid, request, op)];
                    let gathered = gather_writes(reader, tx, &mut writes, &mut next);
                    let closing = writes
                        .last()
                        .is_some_and(|(_, request, _)| matches!(request, Request::Close));
                    let mut labels = Vec::with_capacity(writes.len());
                    let commands = writes
                        .into_iter()
                        .map(|(xid, request, op)| {
                            let inflight = ctx.inflight.clone().try_acquire_owned().ok();
                            labels.push((xid, op, inflight));
                            Command::Client { session, request }
                        })
                        .collect();
                    let replies = ctx.submit_all(commands).await;
                    for ((xid, op, inflight), reply) in labels.into_iter().zip(replies) {
                        let write = Pending::Write {
                            xid,
                            reply,
                            _inflight: inflight,
                        };
                        let sent = tx
                            .send(Queued {
                                pending: write,
                                op,
                                at,
                            })
                            .await;
                        if sent.is_err() {
                            return Ok(());
                        }
                    }
                    if let Err(e) = gathered {
                        reader.stop(CloseCode::Protocol);
                        return Err(e.to_string());
                    }
                    if closing {
                        return Ok(());
                    }
                    continue;
                }
                if touches_watches(&request) {
                    Pending::Watch {
                        xid: Some(xid),
                        op: WatchOp::Read(request),
                    }
                } else {
                    Pending::Read { xid, request }
                }
            }
            ClientMessage::ReadLinearizable { xid, request } => {
                if request.is_write() {
                    let error = ZkError::new(
                        ErrorCode::BadArguments,
                        "a linearizable read must be a read",
                    );
                    let (done, reply) = oneshot::channel();
                    let zxid = ctx.view.applied_zxid();
                    let _ = done.send(Submitted {
                        zxid,
                        result: Err(error),
                    });
                    Pending::Write {
                        xid,
                        reply,
                        _inflight: None,
                    }
                } else {
                    Pending::Linear { xid, request }
                }
            }
            ClientMessage::SetWatches(watches) => Pending::Watch {
                xid: None,
                op: WatchOp::Restore(watches),
            },
            ClientMessage::Ping => Pending::Pong,
            ClientMessage::Connect(_) | ClientMessage::Status => {
                return Err("Connect or Status after the handshake".into());
            }
        };
        if tx.send(Queued { pending, op, at }).await.is_err() {
            return Ok(());
        }
    }
}
