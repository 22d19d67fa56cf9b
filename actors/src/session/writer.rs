//! The session's writer: answers requests in the order they arrived and
//! interleaves watch events with the replies in zxid order.
//!
//! The rules (DESIGN.md's guarantees):
//! - an event for zxid E goes out before any reply whose zxid is ≥ E;
//! - events go out in zxid order (and, within a zxid, in change order);
//! - a read is evaluated on a view that has applied every event already sent,
//!   so a client that was told "changed" reads the change.
//!
//! Events come from several ZnodeActors, each at its own pace, so they may be
//! queued out of order. Apply takes a fan-out ticket for each firing before it
//! publishes the view or answers the writes of that zxid, and the fan-out mark
//! is the oldest ticket still held, by (zxid, change) (`znode::fanout_mark`).
//! Once the mark is past R, every event up to zxid R is in the queue: before a
//! reply at R the writer of a session that watches something waits for that,
//! drains the queue into a buffer ordered by (zxid, change), sends the events
//! up to R, then the reply. An event with no reply to wait for goes out once
//! the mark reaches its own firing: nothing ordered before it can come then,
//! so a herd's watchers each send theirs as soon as it is queued.

use corral_core::tree::{ErrorCode, Response, SessionId, ZkError};
use corral_transport::FrameWriter;
use corral_transport::wire::ServerMessage;
use tokio::sync::{mpsc, oneshot, watch};

use super::SessionContext;
use super::held_events::HeldEvents;

/// Replies and events buffered before the writer hands them to QUIC even
/// though more answers are ready: a client that does not read then stalls the
/// writer on flow control, and the reader behind it, instead of growing this
/// buffer.
const FLUSH_BYTES: usize = 64 * 1024;
use super::events::{EventInbox, SESSION_EVENTS_MAX, SessionEvent, WatchOp, resync_message};
use crate::replica::Submitted;
use crate::znode::fanout_mark::{ALL_FANNED_OUT, FiringKey, reply_may_pass};

/// One request waiting for its turn to be answered.
pub(super) enum Pending {
    /// A write (or sync, or linearizable read) sent to the log.
    Write {
        xid: i32,
        reply: oneshot::Receiver<Submitted>,
        _inflight: Option<tokio::sync::OwnedSemaphorePermit>,
    },
    /// A read served from the view when its turn comes.
    Read {
        xid: i32,
        request: corral_core::tree::Request,
    },
    /// A watch operation for the replica when its turn comes; `xid` is `None`
    /// for SetWatches, which the client does not wait for.
    Watch { xid: Option<i32>, op: WatchOp },
    /// A linearizable read: evaluated once this node applied the index the
    /// leader confirmed (ReadIndex).
    Linear {
        xid: i32,
        request: corral_core::tree::Request,
    },
    /// A heartbeat.
    Pong,
}

/// A pending request with what its metrics need.
pub(super) struct Queued {
    /// The request.
    pub(super) pending: Pending,
    /// Its `op` label, if it is a request of the client's (not SetWatches).
    pub(super) op: Option<&'static str>,
    /// When it was received.
    pub(super) at: std::time::Instant,
}

/// Why the writer stopped early.
#[derive(Debug)]
pub(super) enum WriterStop {
    /// The client's stream failed.
    Stream(String),
    /// The replica gave up on this stream's events (too many queued) or stopped.
    EventsLost,
}

impl std::fmt::Display for WriterStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriterStop::Stream(e) => write!(f, "stream failed: {e}"),
            WriterStop::EventsLost => f.write_str("watch events overflowed; the client resumes"),
        }
    }
}

/// The session stream's sending half and the events not yet sent.
pub(super) struct Outbox {
    writer: FrameWriter,
    events: EventInbox,
    /// The fan-out mark: the oldest firing whose events are not all queued.
    fanout: watch::Receiver<FiringKey>,
    /// Drained from `events`, waiting for their turn, by (zxid, change, arrival).
    held: HeldEvents,
    /// Events drained so far, which breaks ties in `held`.
    arrivals: u64,
    /// The highest zxid of an event sent.
    sent_event_zxid: i64,
    session: SessionId,
    /// `corral_watch_events_sent_total`, looked up once rather than per event.
    events_sent: metrics::Counter,
}

impl Outbox {
    /// An outbox for `session` over `writer`, fed by `events`, ordered by `fanout`.
    pub(super) fn new(
        writer: FrameWriter,
        events: EventInbox,
        fanout: watch::Receiver<FiringKey>,
        session: SessionId,
    ) -> Outbox {
        Outbox {
            writer,
            events,
            fanout,
            held: HeldEvents::default(),
            arrivals: 0,
            sent_event_zxid: 0,
            session,
            events_sent: metrics::counter!("corral_watch_events_sent_total"),
        }
    }

    /// Moves every queued event into `held`; fails once the queue broke.
    fn drain(&mut self) -> Result<(), WriterStop> {
        while let Some(e) = self.events.try_recv().map_err(|_| WriterStop::EventsLost)? {
            self.hold(e)?;
        }
        Ok(())
    }

    /// Keeps an event until its turn; a session that holds more than its
    /// queue's bound is as far behind as a full queue, and stops the same way.
    fn hold(&mut self, e: SessionEvent) -> Result<(), WriterStop> {
        if self.held.len() >= SESSION_EVENTS_MAX {
            return Err(WriterStop::EventsLost);
        }
        self.arrivals += 1;
        self.held.insert((e.zxid(), e.seq(), self.arrivals), e);
        Ok(())
    }

    /// Waits until every event of this session up to `zxid` is queued.
    async fn settle(&mut self, zxid: i64) -> Result<(), WriterStop> {
        // A session that never watched here gets only a restore's replay,
        // which the replica queues at once.
        if !self.events.is_watching() || reply_may_pass(*self.fanout.borrow(), zxid) {
            return Ok(());
        }
        match self.fanout.wait_for(|m| reply_may_pass(*m, zxid)).await {
            Ok(_) => Ok(()),
            Err(_) => Err(WriterStop::EventsLost),
        }
    }

    /// The held events up to this key may go out: nothing ordered before them
    /// can still come.
    fn ready_upto(&self) -> FiringKey {
        if self.events.is_watching() {
            *self.fanout.borrow()
        } else {
            ALL_FANNED_OUT
        }
    }

    /// Buffers the held events with a zxid up to `zxid`, in order.
    fn push_events_upto(&mut self, zxid: i64) -> Result<(), WriterStop> {
        self.push_events_through((zxid, u32::MAX))
    }

    /// Buffers the held events up to `key` (zxid, change), in order.
    fn push_events_through(&mut self, key: FiringKey) -> Result<(), WriterStop> {
        while let Some(e) = self.held.pop_through(key) {
            self.push_event(e)?;
        }
        Ok(())
    }

    fn push_event(&mut self, e: SessionEvent) -> Result<(), WriterStop> {
        self.sent_event_zxid = self.sent_event_zxid.max(e.zxid());
        self.events_sent.increment(1);
        match e {
            SessionEvent::Event { event, .. } => self
                .writer
                .push_frame(&event.frame)
                .map_err(|e| WriterStop::Stream(e.to_string())),
            SessionEvent::Resync(r) => self.push(&resync_message(r)),
        }
    }

    fn push(&mut self, msg: &ServerMessage) -> Result<(), WriterStop> {
        self.writer
            .push(msg)
            .map_err(|e| WriterStop::Stream(e.to_string()))
    }

    async fn flush(&mut self) -> Result<(), WriterStop> {
        self.writer
            .flush()
            .await
            .map_err(|e| WriterStop::Stream(e.to_string()))
    }

    /// Sends every event that is complete (nothing waits to be answered).
    async fn send_ready_events(&mut self) -> Result<(), WriterStop> {
        // The mark first: the events it covers are queued by then.
        let upto = self.ready_upto();
        self.drain()?;
        self.push_events_through(upto)?;
        self.flush().await
    }

    /// Sends every held event once it is complete (the stream is ending).
    async fn send_all_events(&mut self) -> Result<(), WriterStop> {
        self.drain()?;
        if let Some(last) = self.held.last_zxid() {
            self.settle(last).await?;
            self.drain()?;
        }
        self.push_events_upto(i64::MAX)?;
        self.flush().await
    }

    /// Waits for `pending`'s answer: the message to send (if any) and its zxid.
    async fn resolve(
        &mut self,
        pending: Pending,
        ctx: &SessionContext,
    ) -> Result<(Option<ServerMessage>, i64), WriterStop> {
        let mut view = ctx.view.clone();
        match pending {
            Pending::Write { xid, mut reply, .. } => {
                let ready = match reply.try_recv() {
                    Ok(s) => Ok(s),
                    Err(oneshot::error::TryRecvError::Closed) => Err(()),
                    Err(oneshot::error::TryRecvError::Empty) => {
                        // Send what is answered before waiting for this write.
                        if self.writer.buffered_bytes() > 0 {
                            self.flush().await?;
                        }
                        reply.await.map_err(|_| ())
                    }
                };
                Ok(match ready {
                    Ok(s) => (Some(reply_message(xid, s.zxid, s.result)), s.zxid),
                    Err(()) => {
                        let zxid = view.applied_zxid();
                        let error = ZkError::new(ErrorCode::ConnectionLoss, "the node is stopping");
                        (Some(reply_message(xid, zxid, Err(error))), zxid)
                    }
                })
            }
            Pending::Read { xid, request } => {
                let v = self.view_after_events(&mut view).await?;
                let outcome = v.tree.read(self.session, &request);
                let zxid = v.tree.last_zxid();
                Ok((Some(reply_message(xid, zxid, outcome.result)), zxid))
            }
            Pending::Linear { xid, request } => {
                if self.writer.buffered_bytes() > 0 {
                    self.flush().await?;
                }
                let index = match ctx.read_index().await {
                    Ok(index) => index,
                    Err(e) => {
                        let zxid = view.applied_zxid();
                        return Ok((Some(reply_message(xid, zxid, Err(e))), zxid));
                    }
                };
                if view.at_least(index).await.is_none() {
                    return Err(WriterStop::EventsLost);
                }
                if super::touches_watches(&request) {
                    let watch = Pending::Watch {
                        xid: Some(xid),
                        op: WatchOp::Read(request),
                    };
                    return Box::pin(self.resolve(watch, ctx)).await;
                }
                let v = self.view_after_events(&mut view).await?;
                let outcome = v.tree.read(self.session, &request);
                let zxid = v.tree.last_zxid();
                Ok((Some(reply_message(xid, zxid, outcome.result)), zxid))
            }
            Pending::Pong => {
                // A pong reads nothing: what is applied, and no less than the events sent.
                let zxid = view.applied_zxid().max(self.sent_event_zxid);
                Ok((Some(ServerMessage::Pong { zxid }), zxid))
            }
            Pending::Watch { xid, op } => {
                if self.writer.buffered_bytes() > 0 {
                    self.flush().await?;
                }
                let answer = ctx.watch(self.session, op).await.await;
                let (zxid, result) = match answer {
                    Ok(s) => (s.zxid, s.result),
                    Err(_) => (
                        view.applied_zxid(),
                        Err(ZkError::new(
                            ErrorCode::ConnectionLoss,
                            "the node is stopping",
                        )),
                    ),
                };
                match xid {
                    Some(xid) => Ok((Some(reply_message(xid, zxid, result)), zxid)),
                    None => {
                        if let Err(e) = result {
                            tracing::debug!(session = self.session, error = %e, "watches not restored");
                        }
                        Ok((None, zxid))
                    }
                }
            }
        }
    }

    /// A view of everything applied so far, which includes every event already sent.
    async fn view_after_events(
        &self,
        view: &mut crate::view::Views,
    ) -> Result<crate::view::View, WriterStop> {
        let needed = u64::try_from(self.sent_event_zxid)
            .unwrap_or(0)
            .max(view.applied());
        match view.at_least(needed).await {
            Some(v) => Ok(v),
            None => Err(WriterStop::EventsLost),
        }
    }
}

fn reply_message(xid: i32, zxid: i64, result: Result<Response, ZkError>) -> ServerMessage {
    ServerMessage::Reply { xid, zxid, result }
}

/// Answers every pending request in order, with the session's events
/// interleaved by zxid, until the reader closes the queue.
pub(super) async fn write_replies(
    mut out: Outbox,
    mut fifo: mpsc::Receiver<Queued>,
    ctx: SessionContext,
) -> Result<(), WriterStop> {
    loop {
        let waiting = !out.held.is_empty();
        let next = tokio::select! {
            biased;
            p = fifo.recv() => p,
            e = out.events.recv() => {
                match e {
                    Some(e) => out.hold(e)?,
                    None => return Err(WriterStop::EventsLost),
                }
                if fifo.is_empty() {
                    out.send_ready_events().await?;
                }
                continue;
            }
            // Held events wait for the mark to pass them.
            moved = out.fanout.changed(), if waiting => {
                if moved.is_err() {
                    return Err(WriterStop::EventsLost);
                }
                if fifo.is_empty() {
                    out.send_ready_events().await?;
                }
                continue;
            }
        };
        let Some(queued) = next else {
            break;
        };
        let (msg, zxid) = out.resolve(queued.pending, &ctx).await?;
        match (&msg, queued.op) {
            (Some(ServerMessage::Reply { result, .. }), Some(op)) => {
                crate::request_metrics::record(op, result, queued.at)
            }
            (Some(ServerMessage::Pong { .. }), _) => crate::request_metrics::record_outcome(
                crate::request_metrics::OP_PING,
                "ok",
                queued.at,
            ),
            _ => {}
        }
        out.settle(zxid).await?;
        out.drain()?;
        out.push_events_upto(zxid)?;
        if let Some(msg) = msg {
            out.push(&msg)?;
        }
        if fifo.is_empty() {
            out.send_ready_events().await?;
        } else if out.writer.buffered_bytes() >= FLUSH_BYTES {
            out.flush().await?;
        }
    }
    out.send_all_events().await?;
    let _ = out.writer.finish().await;
    Ok(())
}
