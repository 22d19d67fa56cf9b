//! What the application holds for a watch: a one-shot [`OneShotWatch`]
//! future, or a persistent [`PersistentWatch`] stream.
//!
//! Memory bound of a persistent watch: its stream buffers at most
//! [`ClientConfig::watch_buffer_max`](crate::ClientConfig::watch_buffer_max)
//! items. When an event arrives and the buffer is full, the client does not
//! grow it and does not block the session (which would stall every other
//! watcher and reply): it drops the stream's sender, so the consumer reads the
//! items already buffered, then [`Error::WatchOverflow`], then the end of the
//! stream. The consumer re-reads what it watches and watches again.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use corral_core::tree::WatchedEvent;
use futures_core::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// One item of a [`PersistentWatch`] stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    /// A watched znode changed.
    Event(WatchedEvent),
    /// The client was disconnected and the node it resumed on no longer has
    /// every event since then: events for this watch were missed. Re-read
    /// what the watch covers; the watch stays registered and later events
    /// follow.
    ResyncNeeded {
        /// The watched path.
        path: String,
        /// The zxid the client's view was at.
        last_zxid_seen: i64,
        /// The oldest zxid whose events the node still had.
        oldest_zxid: i64,
    },
}

/// A one-shot watch: a future resolving to the event that fired it.
///
/// It resolves to an error if the session expires or is closed before the
/// watch fires ([`Error::SessionExpired`], [`Error::Closed`]), or if the watch
/// is removed ([`Error::WatchRemoved`]). A watch survives connection loss: the
/// client re-registers it when it resumes the session. Dropping it is fine;
/// the server may still send the event, which is then discarded.
#[derive(Debug)]
#[must_use = "a watch does nothing unless awaited"]
pub struct OneShotWatch {
    rx: oneshot::Receiver<Result<WatchedEvent>>,
}

/// The client's end of a one-shot watch.
pub(crate) type OneShotSender = oneshot::Sender<Result<WatchedEvent>>;

impl OneShotWatch {
    pub(crate) fn new() -> (OneShotSender, Self) {
        let (tx, rx) = oneshot::channel();
        (tx, Self { rx })
    }

    /// The outcome if the watch has already fired or ended, without waiting.
    pub fn try_take(&mut self) -> Option<Result<WatchedEvent>> {
        match self.rx.try_recv() {
            Ok(result) => Some(result),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(Err(Error::Closed)),
        }
    }
}

impl Future for OneShotWatch {
    type Output = Result<WatchedEvent>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

/// Why a persistent watch stream ended.
#[derive(Debug, Clone)]
pub(crate) enum StreamEnd {
    Overflow { path: String, buffer_max: usize },
    Expired(String),
    Closed,
    Removed { path: String },
}

impl StreamEnd {
    fn into_error(self) -> Error {
        match self {
            StreamEnd::Overflow { path, buffer_max } => Error::WatchOverflow { path, buffer_max },
            StreamEnd::Expired(reason) => Error::SessionExpired { reason },
            StreamEnd::Closed => Error::Closed,
            StreamEnd::Removed { path } => Error::WatchRemoved { path },
        }
    }
}

/// The client's end of a persistent watch stream.
#[derive(Debug)]
pub(crate) struct PersistentSink {
    pub(crate) tx: mpsc::Sender<WatchItem>,
    end: Arc<Mutex<Option<StreamEnd>>>,
    buffer_max: usize,
}

/// What delivering to a sink did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    Yes,
    /// The consumer dropped the stream: forget the sink.
    Gone,
    /// The buffer was full: the stream ends with an overflow; forget the sink.
    Overflowed,
}

impl PersistentSink {
    pub(crate) fn deliver(&self, path: &str, item: WatchItem) -> Delivered {
        match self.tx.try_send(item) {
            Ok(()) => Delivered::Yes,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivered::Gone,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.end_with(StreamEnd::Overflow {
                    path: path.to_owned(),
                    buffer_max: self.buffer_max,
                });
                Delivered::Overflowed
            }
        }
    }

    /// Records why the stream ends; the consumer sees it once the sink is dropped.
    pub(crate) fn end_with(&self, end: StreamEnd) {
        let mut slot = self.end.lock().unwrap_or_else(PoisonError::into_inner);
        slot.get_or_insert(end);
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A persistent watch: a `Stream` of [`WatchItem`]s, in zxid order.
///
/// From [`Client::watch`](crate::Client::watch). It survives connection loss
/// (events missed meanwhile are replayed, or a [`WatchItem::ResyncNeeded`]
/// says they cannot be). It ends with one `Err` item when the session expires
/// or is closed, when the watch is removed, or when the consumer fell behind
/// by more than its buffer ([`Error::WatchOverflow`]; see the module docs).
#[derive(Debug)]
pub struct PersistentWatch {
    path: String,
    rx: mpsc::Receiver<WatchItem>,
    end: Arc<Mutex<Option<StreamEnd>>>,
    done: bool,
}

impl PersistentWatch {
    pub(crate) fn new(path: &str, buffer_max: usize) -> (PersistentSink, Self) {
        let (tx, rx) = mpsc::channel(buffer_max.max(1));
        let end = Arc::new(Mutex::new(None));
        let sink = PersistentSink {
            tx,
            end: end.clone(),
            buffer_max,
        };
        let stream = Self {
            path: path.to_owned(),
            rx,
            end,
            done: false,
        };
        (sink, stream)
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next item; `None` after the stream ended.
    ///
    /// Cancel safety: cancel-safe; no item is lost when the future is dropped.
    pub async fn next(&mut self) -> Option<Result<WatchItem>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for PersistentWatch {
    type Item = Result<WatchItem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) => {
                this.done = true;
                let end = this
                    .end
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                // No recorded reason: the client itself was dropped.
                Poll::Ready(Some(Err(end.map_or(Error::Closed, StreamEnd::into_error))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
