//! ZnodeActor: one per watched znode on this node, started when its first
//! watch is set and stopped when its last goes. It holds the event routes of
//! the sessions that watch the znode and fans each firing out to them, so a
//! herd of watchers costs apply one message, not one queue push per watcher.
//!
//! ```text
//!  ReplicaActor ── watch op ──► Watch(session, route) / Forget(session) ─┐
//!       │                                                                ▼
//!       └─ apply: Fired ─► Fire(firing, ticket) ─► [bounded queue] ─► ZnodeActor
//!                                                                        │
//!     session writer ◄── [bounded event queue per stream] ◄── route.send ┘
//! ```
//!
//! The core's watch index decides who hears a change (one-shot consumption,
//! READ checks, one event per session per change); the actor delivers. All of
//! a znode's messages come from the replica in apply order, so its routes are
//! always those of the sessions watching it at that firing's zxid. Ordering
//! across znodes is restored at the session: see [`fanout_mark`] and the
//! session writer.
//!
//! Like PeerActors and SessionActors, a ZnodeActor is a tokio task fronted by
//! a bounded channel (ractor mailboxes are unbounded). The replica never waits
//! on it: a full queue means its watchers fell too far behind, so their
//! streams are closed (their clients resume and replay) and the actor is
//! replaced on the next watch.

pub mod fanout_mark;

use std::collections::HashMap;

use corral_core::tree::{Firing, SessionId};
use tokio::sync::mpsc;

use crate::session::{EventRoute, SessionEvent};
use fanout_mark::FanoutTicket;

/// Messages a ZnodeActor holds at most before its watchers count as lost.
pub const ZNODE_QUEUE_MAX: usize = 4_096;

/// What the replica tells a ZnodeActor.
#[derive(Debug)]
pub enum ZnodeMsg {
    /// `session` watches this znode; its events go to `route`.
    Watch {
        /// The session.
        session: SessionId,
        /// Its stream's event queue.
        route: EventRoute,
    },
    /// `session` no longer watches this znode.
    Forget(SessionId),
    /// Tell the firing's sessions; the ticket is dropped once they are told.
    Fire {
        /// What happened and who hears it (boxed: a queue slot stays small).
        firing: Box<Firing>,
        /// Holds the fan-out mark below this zxid until the events are queued.
        ticket: FanoutTicket,
    },
}

/// The replica's handle on a running ZnodeActor; dropping it stops the actor
/// once it has handled what is queued.
#[derive(Debug)]
pub struct ZnodeRef {
    tx: mpsc::Sender<ZnodeMsg>,
}

/// The actor's queue is full.
#[derive(Debug)]
pub struct ZnodeFull;

impl ZnodeRef {
    /// Starts the ZnodeActor of `path`.
    pub fn spawn(path: &str) -> ZnodeRef {
        let (tx, rx) = mpsc::channel(ZNODE_QUEUE_MAX);
        let path = path.to_owned();
        tokio::spawn(async move {
            let gauge = metrics::gauge!("corral_znode_actors");
            gauge.increment(1.0);
            run(rx).await;
            gauge.decrement(1.0);
            tracing::trace!(path, "znode actor stopped");
        });
        ZnodeRef { tx }
    }

    /// Queues `msg` without waiting.
    pub fn send(&self, msg: ZnodeMsg) -> Result<(), ZnodeFull> {
        // Closed only if the task panicked: its routes are gone with it, and a
        // dropped Fire releases its ticket.
        match self.tx.try_send(msg) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(ZnodeFull),
        }
    }
}

/// The actor's loop: until the replica drops its handle and the queue is empty.
async fn run(mut rx: mpsc::Receiver<ZnodeMsg>) {
    let mut routes: HashMap<SessionId, EventRoute> = HashMap::new();
    let delivered = metrics::counter!("corral_watch_events_fanned_out_total");
    while let Some(msg) = rx.recv().await {
        match msg {
            ZnodeMsg::Watch { session, route } => {
                routes.insert(session, route);
            }
            ZnodeMsg::Forget(session) => {
                routes.remove(&session);
            }
            ZnodeMsg::Fire { firing, ticket } => {
                let mut told = 0u64;
                for session in &firing.tell {
                    if let Some(route) = routes.get(session) {
                        let event = SessionEvent::Event {
                            event: firing.event.clone(),
                            seq: firing.seq,
                        };
                        told += u64::from(route.send(event));
                    }
                }
                for session in &firing.released {
                    routes.remove(session);
                }
                delivered.increment(told);
                drop(ticket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{EventInbox, event_queue};
    use corral_core::tree::{EventType, WatchedEvent};
    use fanout_mark::{ALL_FANNED_OUT, FanoutMark};

    /// Resolves once every sender of `inbox` is gone.
    async fn gone(inbox: &mut EventInbox) {
        while inbox.try_recv().is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    fn firing(zxid: i64, tell: Vec<SessionId>, released: Vec<SessionId>) -> Firing {
        Firing {
            watched: "/a".into(),
            event: WatchedEvent {
                event_type: EventType::NodeDataChanged,
                path: "/a".into(),
                zxid,
            },
            seq: 1,
            tell,
            released,
        }
    }

    #[tokio::test]
    async fn fans_out_to_its_routes_forgets_released_ones_and_stops_when_let_go() {
        let (mark, mut marks) = FanoutMark::new();
        let (route, mut inbox) = event_queue();
        let (other, mut other_inbox) = event_queue();
        let z = ZnodeRef::spawn("/a");
        let watch = |session, route: &EventRoute| ZnodeMsg::Watch {
            session,
            route: route.clone(),
        };
        assert!(z.send(watch(1, &route)).is_ok());
        assert!(z.send(watch(2, &other)).is_ok());
        // Session 3 has no route here: it is skipped, not an error.
        let fire = ZnodeMsg::Fire {
            firing: Box::new(firing(5, vec![1, 2, 3], vec![1])),
            ticket: mark.ticket((5, 1)),
        };
        assert!(z.send(fire).is_ok());
        assert_eq!(*marks.borrow(), (5, 1), "zxid 5 is in flight");
        marks.wait_for(|m| *m == ALL_FANNED_OUT).await.unwrap();
        for inbox in [&mut inbox, &mut other_inbox] {
            let e = inbox.try_recv().unwrap().unwrap();
            assert_eq!((e.zxid(), e.seq()), (5, 1));
        }
        // Session 1's one-shot watch was consumed: it hears no more.
        let fire = ZnodeMsg::Fire {
            firing: Box::new(firing(6, vec![1, 2], vec![])),
            ticket: mark.ticket((6, 1)),
        };
        assert!(z.send(fire).is_ok());
        marks.wait_for(|m| *m == ALL_FANNED_OUT).await.unwrap();
        assert_eq!(other_inbox.try_recv().unwrap().map(|e| e.zxid()), Some(6));
        assert_eq!(inbox.try_recv().unwrap(), None);
        // Forget drops a route while the actor runs on.
        let (third, mut third_inbox) = event_queue();
        assert!(z.send(watch(3, &third)).is_ok());
        assert!(z.send(ZnodeMsg::Forget(3)).is_ok());
        drop(third);
        let wait = std::time::Duration::from_secs(5);
        tokio::time::timeout(wait, gone(&mut third_inbox))
            .await
            .expect("a forgotten route is let go");
        assert_eq!(
            other_inbox.try_recv(),
            Ok(None),
            "session 2 is still routed"
        );
        // Let go: the actor drops the routes it holds and ends.
        drop(z);
        drop(other);
        tokio::time::timeout(wait, gone(&mut other_inbox))
            .await
            .expect("the actor let its routes go");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_is_reported_and_a_dropped_firing_releases_its_ticket() {
        let (mark, marks) = FanoutMark::new();
        let z = ZnodeRef::spawn("/a");
        // The actor cannot run until this test yields: the queue fills.
        for n in 0..ZNODE_QUEUE_MAX {
            assert!(z.send(ZnodeMsg::Forget(n as SessionId)).is_ok());
        }
        let fire = ZnodeMsg::Fire {
            firing: Box::new(firing(9, vec![1], vec![])),
            ticket: mark.ticket((9, 1)),
        };
        assert!(z.send(fire).is_err());
        assert_eq!(
            *marks.borrow(),
            ALL_FANNED_OUT,
            "the refused firing's ticket is gone"
        );
    }
}
