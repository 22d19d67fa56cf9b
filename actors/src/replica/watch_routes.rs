//! Watch events from apply to the sessions on this node: one bounded queue per
//! session stream, and the watch operations that sessions ask the replica to
//! evaluate between two applies.
//!
//! The replica never waits on a session: a queue that is full means the
//! stream has fallen too far behind, so the route and the session's watches
//! here are dropped and the stream closes; the client resumes and restores
//! its watches, replaying what it missed from the change history.

use super::*;
use crate::session::{SessionEvent, WatchOp};

/// Where one session's events go.
pub(super) struct Route {
    /// The stream's number.
    pub(super) stream: u64,
    /// Its bounded event queue.
    pub(super) events: mpsc::Sender<SessionEvent>,
}

impl ReplicaState {
    /// Routes `session`'s events to `stream`, replacing an older stream's route.
    pub(super) fn route_events(
        &mut self,
        session: SessionId,
        stream: u64,
        events: mpsc::Sender<SessionEvent>,
    ) {
        if let Some(old) = self.routes.insert(session, Route { stream, events }) {
            // The older stream's watches were its own; the new one restores its set.
            tracing::debug!(
                session,
                old = old.stream,
                stream,
                "session moved to a new stream"
            );
            self.tree.remove_session_watches(session);
        }
        metrics::gauge!("corral_session_routes").set(self.routes.len() as f64);
    }

    /// Drops `stream`'s route and the session's watches, if that stream still holds it.
    pub(super) fn unroute(&mut self, session: SessionId, stream: u64) {
        if self
            .routes
            .get(&session)
            .is_some_and(|r| r.stream == stream)
        {
            self.routes.remove(&session);
            self.tree.remove_session_watches(session);
        }
        metrics::gauge!("corral_session_routes").set(self.routes.len() as f64);
    }

    /// Queues one event for its session; a full queue drops the route.
    pub(super) fn deliver(&mut self, session: SessionId, event: SessionEvent) {
        let Some(route) = self.routes.get(&session) else {
            return;
        };
        if route.events.try_send(event).is_err() {
            tracing::warn!(
                node = self.spec.id,
                session,
                "session's watch events overflowed: closing its stream"
            );
            metrics::counter!("corral_watch_event_overflows_total").increment(1);
            self.routes.remove(&session);
            self.tree.remove_session_watches(session);
        }
    }

    /// Evaluates a session's watch operation on the tree as applied now.
    pub(super) fn watch_op(&mut self, session: SessionId, op: WatchOp) -> Submitted {
        let zxid = self.tree.data().last_zxid();
        let adds = match &op {
            WatchOp::Read(Request::RemoveWatches { .. }) => 0,
            WatchOp::Read(_) => 1,
            WatchOp::Restore(w) => w.paths().count(),
        };
        let held = self.tree.watches().session_len(session);
        if adds > 0 && held + adds > self.spec.watches_per_session_max {
            let subject = format!(
                "session 0x{session:x} would hold {} watches here (limits.watches_per_session_max = {})",
                held + adds,
                self.spec.watches_per_session_max
            );
            return Submitted {
                zxid,
                result: Err(zk_error(ErrorCode::BadArguments, &subject)),
            };
        }
        let result = match op {
            WatchOp::Read(request) => self.tree.read(session, &request),
            WatchOp::Restore(watches) => match self.tree.restore_watches(session, &watches) {
                Ok(restored) => {
                    for n in restored.notifications {
                        self.deliver(n.session, SessionEvent::Event(n.event));
                    }
                    for r in restored.resync {
                        self.deliver(session, SessionEvent::Resync(r));
                    }
                    Ok(Response::Noop)
                }
                Err(e) => Err(e),
            },
        };
        Submitted { zxid, result }
    }
}
