//! The session's state as the application sees it, and the stream of its
//! changes.
//!
//! ```text
//!  Connecting ─► Connected ◄──► Disconnected ─► Expired
//!                    │               │
//!                    └───────────────┴─────────► Closed (by Client::close)
//! ```
//!
//! Each [`StateChanges`] subscriber has its own bounded buffer
//! ([`STATE_CHANGES_BUFFER`] transitions). A subscriber that falls further
//! behind than that misses intermediate transitions, never the final one:
//! when the session ends, the stream yields `Expired` or `Closed` last and
//! then ends.

use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::{mpsc, watch};

/// Transitions buffered per [`StateChanges`] subscriber.
pub const STATE_CHANGES_BUFFER: usize = 64;

/// Where a client's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Not connected yet.
    Connecting,
    /// Connected to a server; calls are served.
    Connected,
    /// The connection was lost; the client is resuming the session on another
    /// node. Calls made now wait for the session to be resumed (or to expire);
    /// calls that were in flight failed with connection loss.
    Disconnected,
    /// The session expired (or no node could be reached within its timeout):
    /// its ephemerals and watches are gone. Final.
    Expired,
    /// The client closed the session. Final.
    Closed,
}

impl SessionState {
    /// Whether the session is over for good (expired or closed).
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionState::Expired | SessionState::Closed)
    }
}

/// The session's state, shared by the client, its connections and its supervisor.
#[derive(Debug)]
pub(crate) struct StateCell {
    now: watch::Sender<SessionState>,
    subscribers: Mutex<Vec<mpsc::Sender<SessionState>>>,
}

impl StateCell {
    pub(crate) fn new() -> Self {
        Self {
            now: watch::channel(SessionState::Connecting).0,
            subscribers: Mutex::new(Vec::new()),
        }
    }

    fn subscribers(&self) -> MutexGuard<'_, Vec<mpsc::Sender<SessionState>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self) -> SessionState {
        *self.now.borrow()
    }

    /// A receiver woken on every change.
    pub(crate) fn watch(&self) -> watch::Receiver<SessionState> {
        self.now.subscribe()
    }

    /// Moves to `to`; a final state never changes again. Returns whether it moved.
    pub(crate) fn set(&self, to: SessionState) -> bool {
        self.set_if(|_| true, to)
    }

    /// Moves to `to` if the current state passes `from`.
    pub(crate) fn set_if(&self, from: impl Fn(SessionState) -> bool, to: SessionState) -> bool {
        let mut subscribers = self.subscribers();
        let current = self.get();
        if current == to || current.is_terminal() || !from(current) {
            return false;
        }
        self.now.send_replace(to);
        // A full buffer drops this transition for that subscriber only; the
        // final state is delivered by StateChanges from `now` regardless.
        subscribers
            .retain(|s| !matches!(s.try_send(to), Err(mpsc::error::TrySendError::Closed(_))));
        if to.is_terminal() {
            subscribers.clear();
        }
        true
    }

    pub(crate) fn subscribe(&self) -> StateChanges {
        let (tx, rx) = mpsc::channel(STATE_CHANGES_BUFFER);
        let mut subscribers = self.subscribers();
        let current = self.get();
        let _ = tx.try_send(current);
        if !current.is_terminal() {
            subscribers.push(tx);
        }
        StateChanges {
            rx,
            now: self.watch(),
            last: None,
            done: false,
        }
    }
}

/// A `Stream` of the session's states: the current one first, then every
/// transition, ending after `Expired` or `Closed`.
///
/// From [`Client::state_changes`](crate::Client::state_changes). See the
/// module docs for its bound.
#[derive(Debug)]
pub struct StateChanges {
    rx: mpsc::Receiver<SessionState>,
    now: watch::Receiver<SessionState>,
    last: Option<SessionState>,
    done: bool,
}

impl StateChanges {
    /// The next state, or `None` once the session ended and its final state
    /// was yielded.
    ///
    /// Cancel safety: cancel-safe; no state is lost when the future is dropped.
    pub async fn next(&mut self) -> Option<SessionState> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for StateChanges {
    type Item = SessionState;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionState>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(state)) => {
                this.last = Some(state);
                Poll::Ready(Some(state))
            }
            Poll::Ready(None) => {
                this.done = true;
                let now = *this.now.borrow();
                if now.is_terminal() && this.last != Some(now) {
                    this.last = Some(now);
                    return Poll::Ready(Some(now));
                }
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
