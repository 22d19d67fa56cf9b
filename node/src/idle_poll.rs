//! Idle polling: before a runtime thread sleeps, it polls the node's sockets
//! for a short window, and goes back to work as soon as a datagram lands.
//!
//! A lone request crosses four processes and a disk write on its way, and at
//! every step a process that sleeps must be woken. On a virtual machine the
//! wake-up of a halted vCPU costs tens of microseconds (a round trip to the
//! host), more than the work of most steps. A node that has just worked is
//! likely to get the next message soon (the ack of the append it sent, the
//! client's next request), so it polls for the window instead of sleeping,
//! and reads the message as it lands. Between polls the thread yields its
//! core, so another runnable process there goes first. Seastar's
//! `--idle-poll-time-us` makes the same trade.
//!
//! The cost is CPU: up to one window after the node's work runs out. Under
//! load the node rarely runs out, so the window is rarely spent. A thread
//! polls only while it is busy, that is when its last sleep was short (less
//! than [`BUSY_SLEEPS`] windows): a node that is idle but for its timers
//! (ticks, heartbeats, pings, every few milliseconds) sleeps as it did
//! before. One thread of a runtime polls at a time. What the poll does not
//! watch (a timer, the metrics listener) waits at most one window.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// A thread whose last sleep was shorter than this many windows is busy,
/// and polls before it sleeps again.
pub(crate) const BUSY_SLEEPS: u32 = 10;

thread_local! {
    /// When this thread went to sleep, while it sleeps.
    static ASLEEP_SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether this thread's last sleep was short.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Polls a runtime's sockets before its threads sleep.
#[derive(Clone)]
pub(crate) struct IdlePoll {
    inner: Arc<Inner>,
}

struct Inner {
    window: Duration,
    /// The sockets to poll: set once the node has bound them.
    sockets: Mutex<Vec<OwnedFd>>,
    /// Whether a thread is polling now.
    polling: AtomicBool,
}

impl IdlePoll {
    /// Polling for up to `window` before each sleep; `None` when it is zero.
    pub(crate) fn new(window: Duration) -> Option<Self> {
        (!window.is_zero()).then(|| Self {
            inner: Arc::new(Inner {
                window,
                sockets: Mutex::new(Vec::new()),
                polling: AtomicBool::new(false),
            }),
        })
    }

    /// Makes `builder`'s threads poll before they sleep.
    pub(crate) fn hook(&self, builder: &mut tokio::runtime::Builder) {
        let inner = Arc::clone(&self.inner);
        builder.on_thread_park(move || {
            inner.poll_before_sleep();
            ASLEEP_SINCE.set(Some(Instant::now()));
        });
        let busy_sleep = self.inner.window * BUSY_SLEEPS;
        builder.on_thread_unpark(move || {
            let slept = ASLEEP_SINCE.take().map(|since| since.elapsed());
            BUSY.set(slept.is_some_and(|slept| slept < busy_sleep));
        });
    }

    /// Polls `sockets` from now on (none: polling stops, and their ports
    /// are no longer held open).
    pub(crate) fn watch(&self, sockets: Vec<OwnedFd>) {
        *self
            .inner
            .sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = sockets;
    }
}

impl Inner {
    fn poll_before_sleep(&self) {
        if !BUSY.get() || self.polling.swap(true, Ordering::Acquire) {
            return;
        }
        self.poll_until_ready();
        self.polling.store(false, Ordering::Release);
    }

    /// Returns when a socket has a datagram (or an error) waiting, a task was
    /// woken from another thread, or the window is over.
    fn poll_until_ready(&self) {
        let sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        if sockets.is_empty() {
            return;
        }
        let mut fds: Vec<PollFd<'_>> = sockets
            .iter()
            .map(|socket| PollFd::new(socket.as_fd(), PollFlags::POLLIN))
            .collect();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let start = Instant::now();
        while start.elapsed() < self.window {
            // An error also ends the window: the runtime's own poll reports it.
            if poll(&mut fds, PollTimeout::ZERO).map_or(true, |ready| ready > 0) {
                return;
            }
            if runtime
                .as_ref()
                .is_some_and(|r| r.metrics().global_queue_depth() > 0)
            {
                return;
            }
            std::thread::yield_now();
        }
    }
}
