//! Watch events from apply to the sessions on this node: one event route per
//! session stream, one ZnodeActor per watched znode, and the watch operations
//! that sessions ask the replica to evaluate between two applies.
//!
//! The core's watch index stays the truth of who watches what; the replica
//! keeps each ZnodeActor's routes in step with it, in apply order:
//! - a watch set on a znode gives its actor the session's route (`Watch`);
//! - a watch removed (removeWatches, a session moving, closing or falling
//!   behind) takes it back (`Forget`), and a znode no longer watched stops its
//!   actor;
//! - apply hands each firing to the watched znode's actor with a fan-out
//!   ticket, before the view of that zxid is published.
//!
//! The replica never waits on a session or an actor: a full queue means its
//! stream (or every stream watching that znode) fell too far behind, so those
//! routes break, their watches here are dropped and the streams close; the
//! clients resume and restore their watches, replaying what they missed from
//! the change history.

use super::*;
use crate::session::{EventRoute, SessionEvent, SharedEvent, WatchOp};
use crate::znode::{ZnodeMsg, ZnodeRef};
use corral_core::tree::Fired;

/// Where one session's events go.
pub(super) struct Route {
    /// The stream's number.
    pub(super) stream: u64,
    /// Its bounded event queue.
    pub(super) events: EventRoute,
}

impl ReplicaState {
    /// Routes `session`'s events to `stream`, replacing an older stream's route.
    pub(super) fn route_events(&mut self, session: SessionId, stream: u64, events: EventRoute) {
        if let Some(old) = self.routes.insert(session, Route { stream, events }) {
            // The older stream's watches were its own; the new one restores its set.
            tracing::debug!(
                session,
                old = old.stream,
                stream,
                "session moved to a new stream"
            );
            self.forget_session(session);
            self.reap_znodes();
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
            self.forget_session(session);
            self.reap_znodes();
        }
        metrics::gauge!("corral_session_routes").set(self.routes.len() as f64);
    }

    /// Closes every session stream's events and stops every ZnodeActor (the
    /// tree was replaced, and with it the watches): once the actors let their
    /// routes go, the writers find their queues closed and the clients resume.
    pub(super) fn drop_all_routes(&mut self) {
        self.routes.clear();
        self.znodes.clear();
        self.maybe_unwatched.clear();
        metrics::gauge!("corral_session_routes").set(0.0);
    }

    /// Drops every watch of `session` here and takes its route from their actors.
    fn forget_session(&mut self, session: SessionId) {
        for path in self.tree.remove_session_watches(session) {
            self.forget(path, session);
        }
    }

    /// Takes `session`'s route from `path`'s actor once the session no longer
    /// watches `path`; the actor stops at the next reap if no one does.
    fn forget(&mut self, path: String, session: SessionId) {
        if self.znodes.contains_key(&path) && !self.tree.watches().is_watching(session, &path) {
            self.tell_znode(&path, ZnodeMsg::Forget(session));
        }
        self.maybe_unwatched.push(path);
    }

    /// Stops the actors of the znodes no longer watched. Called once an
    /// operation is complete: an entry may consume a znode's last watch in one
    /// change and still owe its actor the firing of another.
    fn reap_znodes(&mut self) {
        for path in std::mem::take(&mut self.maybe_unwatched) {
            if !self.tree.watches().is_watched(&path) {
                self.znodes.remove(&path);
            }
        }
    }

    /// Gives `path`'s actor (started if need be) `session`'s route, if the
    /// session watches `path` and has a route here.
    fn watch(&mut self, path: &str, session: SessionId) {
        if !self.tree.watches().is_watching(session, path) {
            return;
        }
        let Some(route) = self.routes.get(&session) else {
            return;
        };
        let route = route.events.clone();
        route.set_watching();
        if !self.znodes.contains_key(path) {
            self.znodes.insert(path.to_owned(), ZnodeRef::start());
        }
        self.tell_znode(path, ZnodeMsg::Watch { session, route });
    }

    /// Queues `msg` for `path`'s actor; a full queue gives up on its watchers.
    fn tell_znode(&mut self, path: &str, msg: ZnodeMsg) {
        let full = match self.znodes.get(path) {
            Some(z) => z.send(msg).is_err(),
            None => false,
        };
        if full {
            self.znode_overflowed(path);
        }
    }

    /// `path`'s actor fell too far behind: every stream watching `path` is
    /// closed and its watches dropped, and the actor is let go.
    fn znode_overflowed(&mut self, path: &str) {
        tracing::warn!(
            node = self.spec.id,
            path,
            "a znode's watchers fell behind: closing their streams"
        );
        metrics::counter!("corral_znode_actor_overflows_total").increment(1);
        self.znodes.remove(path);
        let watchers = self.tree.watches().watchers(path);
        for session in watchers {
            if let Some(route) = self.routes.remove(&session) {
                route.events.break_off();
            }
            self.forget_session(session);
        }
        metrics::gauge!("corral_session_routes").set(self.routes.len() as f64);
    }

    /// Hands what one applied entry fired to the watched znodes' actors.
    pub(super) fn fan_out(&mut self, fired: Fired) {
        for firing in fired.firings {
            let path = firing.watched.clone();
            if self.znodes.contains_key(&path) {
                let ticket = self.fanout.ticket((firing.event.zxid, firing.seq));
                let firing = Box::new(firing);
                self.tell_znode(&path, ZnodeMsg::Fire { firing, ticket });
            }
            self.maybe_unwatched.push(path);
        }
        for (session, paths) in fired.closed {
            for path in paths {
                self.forget(path, session);
            }
        }
        self.reap_znodes();
    }

    /// Queues one event for its session directly (a restore's replay).
    fn deliver(&mut self, session: SessionId, event: SessionEvent) {
        if let Some(route) = self.routes.get(&session) {
            route.events.send(event);
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
            WatchOp::Read(request) => {
                let result = self.tree.read(session, &request);
                if let Some(path) = watched_path(&request) {
                    match request {
                        Request::RemoveWatches { .. } => self.forget(path.to_owned(), session),
                        _ => self.watch(path, session),
                    }
                }
                result
            }
            WatchOp::Restore(watches) => match self.tree.restore_watches(session, &watches) {
                Ok(restored) => {
                    for path in watches.paths() {
                        self.watch(path, session);
                    }
                    for r in restored.resync {
                        self.deliver(session, SessionEvent::Resync(r));
                    }
                    for n in restored.notifications {
                        match SharedEvent::new(n.event) {
                            Ok(event) => {
                                self.deliver(n.session, SessionEvent::Event { event, seq: 0 })
                            }
                            // Only a bug in an encoder gets here: the session
                            // resumes rather than miss the event silently.
                            Err(e) => {
                                tracing::error!(error = %e, "a replayed watch event does not encode: the stream closes");
                                if let Some(route) = self.routes.get(&n.session) {
                                    route.events.break_off();
                                }
                            }
                        }
                    }
                    Ok(Response::Noop)
                }
                Err(e) => Err(e),
            },
        };
        self.reap_znodes();
        Submitted { zxid, result }
    }
}

/// The znode whose watches a watch operation may change.
fn watched_path(request: &Request) -> Option<&str> {
    match request {
        Request::GetData { path, .. }
        | Request::Exists { path, .. }
        | Request::GetChildren { path, .. }
        | Request::AddWatch { path, .. }
        | Request::RemoveWatches { path, .. } => Some(path),
        _ => None,
    }
}
