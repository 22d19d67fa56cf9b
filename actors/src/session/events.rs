//! What a session receives besides replies: watch events and resync notices,
//! queued by ZnodeActors (and by the replica, for a restore's replay) on one
//! bounded queue per session stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use corral_core::tree::Request;
use corral_core::tree::{ResyncNeeded, WatchedEvent, WatchesToRestore};
use corral_transport::TransportError;
use corral_transport::frame::encode_frame;
use corral_transport::wire::ServerMessage;
use tokio::sync::{Notify, mpsc};

/// Events a session's stream can hold before the replica gives up on it: a
/// stream that falls this far behind is closed, and its client resumes (and
/// replays what it missed) on reconnect.
pub const SESSION_EVENTS_MAX: usize = 8_192;

/// One item for a session's stream, queued by a ZnodeActor (or by the replica,
/// for a restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A watch fired; `seq` orders the events of one zxid (the change's
    /// place in its entry).
    Event {
        /// The event, encoded once for every watcher.
        event: SharedEvent,
        /// The change's place in its entry.
        seq: u32,
    },
    /// A persistent watch missed events this node no longer has.
    Resync(ResyncNeeded),
}

impl SessionEvent {
    /// The zxid that orders this item among replies (a resync goes at once).
    pub fn zxid(&self) -> i64 {
        match self {
            SessionEvent::Event { event, .. } => event.zxid,
            SessionEvent::Resync(_) => i64::MIN,
        }
    }

    /// Where it goes among the events of its zxid.
    pub fn seq(&self) -> u32 {
        match self {
            SessionEvent::Event { seq, .. } => *seq,
            SessionEvent::Resync(_) => 0,
        }
    }
}

/// A watch event encoded once as its stream frame (`ServerMessage::Event`),
/// shared by every session told of it: a herd costs a reference each, not an
/// encoding and a copy each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEvent {
    /// The change's zxid, which orders the event among replies.
    pub zxid: i64,
    /// The whole frame, for [`FrameWriter::push_frame`](corral_transport::FrameWriter::push_frame).
    pub frame: Bytes,
}

impl SharedEvent {
    /// Encodes `event` once.
    pub fn new(event: WatchedEvent) -> Result<Self, TransportError> {
        let zxid = event.zxid;
        let frame = encode_frame(&ServerMessage::Event(event))?;
        Ok(Self { zxid, frame })
    }
}

/// The frame of a resync notice.
pub(super) fn resync_message(r: ResyncNeeded) -> ServerMessage {
    ServerMessage::ResyncNeeded {
        path: r.path,
        last_zxid_seen: r.last_zxid_seen,
        oldest_zxid: r.oldest_zxid,
    }
}

/// A watch operation evaluated by the replica, in step with apply, so no event
/// between the read and the registration is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchOp {
    /// A read that leaves a watch (getData, exists or getChildren with `watch`),
    /// addWatch or removeWatches.
    Read(Request),
    /// SetWatches after a reconnect.
    Restore(WatchesToRestore),
}

/// Whether a request must be evaluated by the replica because it changes this
/// node's watches.
pub fn touches_watches(request: &Request) -> bool {
    match request {
        Request::GetData { watch, .. }
        | Request::Exists { watch, .. }
        | Request::GetChildren { watch, .. } => *watch,
        Request::AddWatch { .. } | Request::RemoveWatches { .. } => true,
        _ => false,
    }
}

/// What the queue's two ends share.
#[derive(Debug, Default)]
struct QueueState {
    /// An event could not be queued: the stream must close and its client resume.
    broken: AtomicBool,
    /// The session set a watch on this stream: its replies wait for fan-out.
    watching: AtomicBool,
    /// Wakes the writer when the queue breaks.
    woken: Notify,
}

/// The sending end of a session stream's event queue, held by the replica
/// and by the ZnodeActors of the znodes the session watches.
#[derive(Debug, Clone)]
pub struct EventRoute {
    tx: mpsc::Sender<SessionEvent>,
    state: Arc<QueueState>,
}

/// The event queue broke (it overflowed) or its senders are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsLost;

/// The receiving end, held by the session's writer.
#[derive(Debug)]
pub struct EventInbox {
    rx: mpsc::Receiver<SessionEvent>,
    state: Arc<QueueState>,
}

/// A bounded event queue for one session stream.
pub fn event_queue() -> (EventRoute, EventInbox) {
    let (tx, rx) = mpsc::channel(SESSION_EVENTS_MAX);
    let state = Arc::new(QueueState::default());
    let route = EventRoute {
        tx,
        state: Arc::clone(&state),
    };
    (route, EventInbox { rx, state })
}

impl EventRoute {
    /// Queues `event` without waiting. A full queue breaks the route: this and
    /// every later event is refused, and the writer closes the stream (the
    /// client resumes and replays what it missed). Returns whether it was queued.
    pub fn send(&self, event: SessionEvent) -> bool {
        if self.state.broken.load(Ordering::Acquire) {
            return false;
        }
        if self.tx.try_send(event).is_ok() {
            return true;
        }
        self.break_off();
        false
    }

    /// Refuses every later event and wakes the writer to close the stream.
    pub fn break_off(&self) {
        if !self.state.broken.swap(true, Ordering::AcqRel) {
            metrics::counter!("corral_watch_event_overflows_total").increment(1);
            self.state.woken.notify_one();
        }
    }

    /// Notes that the session watches something, so its replies wait for fan-out.
    pub fn set_watching(&self) {
        self.state.watching.store(true, Ordering::Release);
    }
}

impl EventInbox {
    /// The next event; `None` once the route broke or every sender is gone.
    pub async fn recv(&mut self) -> Option<SessionEvent> {
        if self.is_broken() {
            return None;
        }
        tokio::select! {
            e = self.rx.recv() => e.filter(|_| !self.is_broken()),
            () = self.state.woken.notified() => None,
        }
    }

    /// An event already queued, without waiting: `Ok(None)` when there is
    /// none, `Err(EventsLost)` once the route broke or every sender is gone.
    pub fn try_recv(&mut self) -> Result<Option<SessionEvent>, EventsLost> {
        if self.is_broken() {
            return Err(EventsLost);
        }
        match self.rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(EventsLost),
        }
    }

    /// Whether the session set a watch on this stream.
    pub fn is_watching(&self) -> bool {
        self.state.watching.load(Ordering::Acquire)
    }

    fn is_broken(&self) -> bool {
        self.state.broken.load(Ordering::Acquire)
    }
}
