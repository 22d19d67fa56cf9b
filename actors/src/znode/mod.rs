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
//! A ZnodeActor is a bounded mailbox and its state, with a tokio task that
//! runs only while the mailbox holds work (ractor mailboxes are unbounded,
//! and a task and channel per idle znode would cost ~3 KiB each: 150 MB for
//! 50,000 watched znodes). An idle actor is a few hundred bytes, and a watch
//! or forget that finds it idle is applied at once. The replica never waits
//! on it: a full mailbox means its watchers fell too far behind, so their
//! streams are closed (their clients resume and replay) and the actor is
//! replaced on the next watch.

pub mod fanout_mark;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use corral_core::tree::{Firing, SessionId};
use metrics::Counter;

use crate::session::{EventRoute, SessionEvent, SharedEvent};
use fanout_mark::FanoutTicket;

/// Messages a ZnodeActor's mailbox holds at most before its watchers count as lost.
pub const ZNODE_QUEUE_MAX: usize = 4_096;

/// Watchers told before a firing lets the node's other tasks run: on a
/// one-thread node, a herd of 3,333 told at once kept the first event from
/// leaving for 10-60 ms (the writers and links ran only after the last was
/// queued); told 64 at a time, the first leaves within 2-4 ms.
pub const FANOUT_SLICE: usize = 64;

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

/// The replica's handle on a ZnodeActor; dropping it stops the actor once it
/// has handled what is queued.
#[derive(Debug)]
pub struct ZnodeRef {
    actor: Arc<Znode>,
}

/// The actor's queue is full.
#[derive(Debug)]
pub struct ZnodeFull;

/// A ZnodeActor: its mailbox and its state, shared by the replica's handle
/// and, while there is work, the task that does it.
#[derive(Debug)]
struct Znode {
    inner: Mutex<ZnodeInner>,
}

#[derive(Debug, Default)]
struct ZnodeInner {
    /// Messages not yet handled, in the order sent.
    mailbox: VecDeque<ZnodeMsg>,
    /// Whether a task is handling the mailbox.
    running: bool,
    /// The watchers' event routes (taken by the task while it runs).
    routes: HashMap<SessionId, EventRoute>,
}

impl Drop for Znode {
    fn drop(&mut self) {
        metrics::gauge!("corral_znode_actors").decrement(1.0);
    }
}

impl ZnodeRef {
    /// Starts the ZnodeActor of a znode.
    pub fn start() -> ZnodeRef {
        metrics::gauge!("corral_znode_actors").increment(1.0);
        let actor = Arc::new(Znode {
            inner: Mutex::new(ZnodeInner::default()),
        });
        ZnodeRef { actor }
    }

    /// Queues `msg` without waiting.
    pub fn send(&self, msg: ZnodeMsg) -> Result<(), ZnodeFull> {
        let mut inner = self.actor.lock();
        let idle = !inner.running && inner.mailbox.is_empty();
        match msg {
            // Nothing queued before it: a change of routes needs no task.
            ZnodeMsg::Watch { session, route } if idle => {
                inner.routes.insert(session, route);
            }
            ZnodeMsg::Forget(session) if idle => {
                inner.routes.remove(&session);
            }
            msg => {
                if inner.mailbox.len() >= ZNODE_QUEUE_MAX {
                    return Err(ZnodeFull);
                }
                inner.mailbox.push_back(msg);
                if !inner.running {
                    inner.running = true;
                    tokio::spawn(run(Arc::clone(&self.actor)));
                }
            }
        }
        Ok(())
    }
}

impl Znode {
    fn lock(&self) -> std::sync::MutexGuard<'_, ZnodeInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handles the mailbox until it is empty, then lets the task go.
async fn run(actor: Arc<Znode>) {
    let delivered = metrics::counter!("corral_watch_events_fanned_out_total");
    loop {
        let (batch, mut routes) = {
            let mut inner = actor.lock();
            if inner.mailbox.is_empty() {
                inner.running = false;
                return;
            }
            (
                std::mem::take(&mut inner.mailbox),
                std::mem::take(&mut inner.routes),
            )
        };
        for msg in batch {
            handle(msg, &mut routes, &delivered).await;
        }
        actor.lock().routes = routes;
    }
}

/// Handles one message; a firing to more than [`FANOUT_SLICE`] watchers
/// yields between slices.
async fn handle(msg: ZnodeMsg, routes: &mut HashMap<SessionId, EventRoute>, delivered: &Counter) {
    match msg {
        ZnodeMsg::Watch { session, route } => {
            routes.insert(session, route);
        }
        ZnodeMsg::Forget(session) => {
            routes.remove(&session);
        }
        ZnodeMsg::Fire { firing, ticket } => {
            let Firing {
                event,
                seq,
                tell,
                released,
                ..
            } = *firing;
            let told = match SharedEvent::new(event) {
                Ok(event) => tell_all(&event, seq, &tell, routes).await,
                Err(e) => {
                    // Only a bug in an encoder gets here: the watchers resume
                    // rather than miss the event silently.
                    tracing::error!(error = %e, "a watch event does not encode: its watchers' streams close");
                    for route in tell.iter().filter_map(|s| routes.get(s)) {
                        route.break_off();
                    }
                    0
                }
            };
            for session in &released {
                routes.remove(session);
            }
            delivered.increment(told);
            drop(ticket);
        }
    }
}

/// Queues `event` for each of `tell` that has a route here, [`FANOUT_SLICE`]
/// at a time; returns how many were queued.
async fn tell_all(
    event: &SharedEvent,
    seq: u32,
    tell: &[SessionId],
    routes: &HashMap<SessionId, EventRoute>,
) -> u64 {
    let mut told = 0u64;
    for (i, session) in tell.iter().enumerate() {
        if i > 0 && i % FANOUT_SLICE == 0 {
            // Lets the writers just woken, their links and the rest of the
            // node run; the firing's ticket holds the mark meanwhile.
            tokio::task::yield_now().await;
        }
        if let Some(route) = routes.get(session) {
            let event = SessionEvent::Event {
                event: event.clone(),
                seq,
            };
            told += u64::from(route.send(event));
        }
    }
    told
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{EventInbox, EventsLost, event_queue};
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
        let z = ZnodeRef::start();
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
    async fn a_large_herd_is_told_a_slice_at_a_time_and_every_watcher_hears_once() {
        let (mark, mut marks) = FanoutMark::new();
        let z = ZnodeRef::start();
        let herd = 3 * FANOUT_SLICE + 5;
        let mut inboxes = Vec::with_capacity(herd);
        for session in 0..herd as SessionId {
            let (route, inbox) = event_queue();
            assert!(z.send(ZnodeMsg::Watch { session, route }).is_ok());
            inboxes.push(inbox);
        }
        let fire = ZnodeMsg::Fire {
            firing: Box::new(firing(9, (0..herd as SessionId).collect(), vec![])),
            ticket: mark.ticket((9, 1)),
        };
        assert!(z.send(fire).is_ok());
        // One yield of this task lets the actor tell one slice, then it yields.
        tokio::task::yield_now().await;
        let told = |inboxes: &mut Vec<EventInbox>| {
            inboxes
                .iter_mut()
                .map(|i| match i.try_recv() {
                    Ok(Some(e)) => {
                        assert_eq!((e.zxid(), e.seq()), (9, 1));
                        1
                    }
                    _ => 0,
                })
                .sum::<usize>()
        };
        let first = told(&mut inboxes);
        assert_eq!(first, FANOUT_SLICE, "one slice before the actor yields");
        assert_eq!(*marks.borrow(), (9, 1), "the firing is still in flight");
        marks.wait_for(|m| *m == ALL_FANNED_OUT).await.unwrap();
        assert_eq!(
            first + told(&mut inboxes),
            herd,
            "every watcher hears the change once"
        );
        assert_eq!(told(&mut inboxes), 0, "and only once");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_is_reported_and_a_dropped_firing_releases_its_ticket() {
        let (mark, marks) = FanoutMark::new();
        let z = ZnodeRef::start();
        // The actor's task cannot run until this test yields: the mailbox fills.
        let (route, mut inbox) = event_queue();
        assert!(z.send(ZnodeMsg::Watch { session: 1, route }).is_ok());
        for n in 0..ZNODE_QUEUE_MAX {
            let fire = ZnodeMsg::Fire {
                firing: Box::new(firing(n as i64 + 1, vec![1], vec![])),
                ticket: mark.ticket((n as i64 + 1, 1)),
            };
            assert!(z.send(fire).is_ok());
        }
        let fire = ZnodeMsg::Fire {
            firing: Box::new(firing(1 << 20, vec![1], vec![])),
            ticket: mark.ticket((1 << 20, 1)),
        };
        assert!(z.send(fire).is_err());
        assert_eq!(*marks.borrow(), (1, 1), "the queued firings are in flight");
        // Let the task run: it hands on every queued firing, then idles.
        marks
            .clone()
            .wait_for(|m| *m == ALL_FANNED_OUT)
            .await
            .unwrap();
        let mut got = 0;
        while let Ok(Some(_)) = inbox.try_recv() {
            got += 1;
        }
        assert_eq!(got, ZNODE_QUEUE_MAX, "the refused firing was not queued");
        // Idle again: a change of routes applies at once, and work restarts it.
        assert!(z.send(ZnodeMsg::Forget(1)).is_ok());
        let fire = ZnodeMsg::Fire {
            firing: Box::new(firing(1 << 21, vec![1], vec![])),
            ticket: mark.ticket((1 << 21, 1)),
        };
        assert!(z.send(fire).is_ok());
        marks
            .clone()
            .wait_for(|m| *m == ALL_FANNED_OUT)
            .await
            .unwrap();
        // Forgotten: no event came, and the actor let the route go.
        assert_eq!(inbox.try_recv(), Err(EventsLost));
    }
}
