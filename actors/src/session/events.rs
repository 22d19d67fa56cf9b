//! What a session receives besides replies: watch events and resync notices,
//! routed from the replica through one bounded queue per session stream.

use corral_core::tree::Request;
use corral_core::tree::{ResyncNeeded, WatchedEvent, WatchesToRestore};
use corral_transport::wire::ServerMessage;

/// Events a session's stream can hold before the replica gives up on it: a
/// stream that falls this far behind is closed, and its client resumes (and
/// replays what it missed) on reconnect.
pub const SESSION_EVENTS_MAX: usize = 8_192;

/// One item for a session's stream, queued by the replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A watch fired.
    Event(WatchedEvent),
    /// A persistent watch missed events this node no longer has.
    Resync(ResyncNeeded),
}

impl SessionEvent {
    /// The zxid that orders this item among replies (a resync goes at once).
    pub fn zxid(&self) -> i64 {
        match self {
            SessionEvent::Event(e) => e.zxid,
            SessionEvent::Resync(_) => i64::MIN,
        }
    }

    /// The frame that carries it to the client.
    pub fn into_message(self) -> ServerMessage {
        match self {
            SessionEvent::Event(e) => ServerMessage::Event(e),
            SessionEvent::Resync(r) => ServerMessage::ResyncNeeded {
                path: r.path,
                last_zxid_seen: r.last_zxid_seen,
                oldest_zxid: r.oldest_zxid,
            },
        }
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
