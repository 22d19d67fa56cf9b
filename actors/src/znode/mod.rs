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
        /// What happened and who hears it.
        firing: Firing,
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
