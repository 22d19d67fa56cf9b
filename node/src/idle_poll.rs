//! Idle polling: before a busy runtime thread sleeps, it polls the node's
//! sockets for a short window, and goes back to work as soon as a datagram
//! lands.
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
//!
//! `corral_runtime_idle_poll_seconds` counts the windows and the wall time
//! spent in them (on a loaded machine, other processes' turns on the core
//! too); `corral_runtime_idle_polls_ready_total` the windows a message ended
//! before they ran out.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
pub(crate) struct IdlePoll {
    inner: Arc<Inner>,
}

struct Inner {
    window: Duration,
    /// What to poll: set once the node has bound its sockets.
    watched: Mutex<Option<Watched>>,
    /// Whether a thread is polling now.
    polling: AtomicBool,
}

/// The sockets polled, and the metrics of the windows.
struct Watched {
    sockets: Vec<OwnedFd>,
    windows: metrics::Histogram,
    ready: metrics::Counter,
}

impl IdlePoll {
    /// Polling for up to `window` before each sleep; `None` when it is zero.
    pub(crate) fn new(window: Duration) -> Option<Self> {
        (!window.is_zero()).then(|| Self {
            inner: Arc::new(Inner {
                window,
                watched: Mutex::new(None),
                polling: AtomicBool::new(false),
            }),
        })
    }

    /// Makes `builder`'s threads poll before they sleep while they are busy.
    pub(crate) fn hook(&self, builder: &mut tokio::runtime::Builder) {
        let inner = Arc::clone(&self.inner);
        builder.on_thread_park(move || {
            if BUSY.get() {
                inner.poll_once_at_a_time();
            }
            ASLEEP_SINCE.set(Some(Instant::now()));
        });
        let busy_sleep = self.inner.window * BUSY_SLEEPS;
        builder.on_thread_unpark(move || {
            let slept = ASLEEP_SINCE.take().map(|since| since.elapsed());
            BUSY.set(slept.is_some_and(|slept| slept < busy_sleep));
        });
    }

    /// Polls `sockets` from now on; call it once the metrics recorder is
    /// installed.
    pub(crate) fn watch(&self, sockets: Vec<OwnedFd>) {
        *self.inner.lock() = Some(Watched {
            sockets,
            windows: metrics::histogram!("corral_runtime_idle_poll_seconds"),
            ready: metrics::counter!("corral_runtime_idle_polls_ready_total"),
        });
    }

    /// Stops polling and closes the descriptors, so the ports can be freed.
    pub(crate) fn unwatch(&self) {
        *self.inner.lock() = None;
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Option<Watched>> {
        self.watched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn poll_once_at_a_time(&self) {
        if self.polling.swap(true, Ordering::Acquire) {
            return;
        }
        self.poll_until_ready();
        self.polling.store(false, Ordering::Release);
    }

    /// Returns when a socket has a datagram (or an error) waiting, a task was
    /// woken from another thread, or the window is over; whether it ended
    /// before the window was over.
    fn poll_until_ready(&self) -> bool {
        let watched = self.lock();
        let Some(watched) = watched.as_ref().filter(|w| !w.sockets.is_empty()) else {
            return false;
        };
        let mut fds: Vec<PollFd<'_>> = watched
            .sockets
            .iter()
            .map(|socket| PollFd::new(socket.as_fd(), PollFlags::POLLIN))
            .collect();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let start = Instant::now();
        let ready = loop {
            // An error also ends the window: the runtime's own poll reports it.
            let datagram = poll(&mut fds, PollTimeout::ZERO).map_or(true, |ready| ready > 0);
            let woken = runtime
                .as_ref()
                .is_some_and(|r| r.metrics().global_queue_depth() > 0);
            if datagram || woken {
                break true;
            }
            if start.elapsed() >= self.window {
                break false;
            }
            std::thread::yield_now();
        };
        watched.windows.record(start.elapsed());
        if ready {
            watched.ready.increment(1);
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    /// A window far longer than the test's own steps (microseconds): one
    /// that runs out, instead of ending on a message, fails the test.
    const LONG: Duration = Duration::from_secs(2);

    fn loopback_pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        (a, b)
    }

    fn watching(window: Duration, socket: &UdpSocket) -> IdlePoll {
        let poll = IdlePoll::new(window).unwrap();
        poll.watch(vec![OwnedFd::from(socket.try_clone().unwrap())]);
        poll
    }

    #[test]
    fn a_zero_window_turns_polling_off() {
        assert!(IdlePoll::new(Duration::ZERO).is_none());
    }

    #[test]
    fn a_datagram_waiting_ends_the_window_at_once() {
        let (sender, receiver) = loopback_pair();
        let poll = watching(LONG, &receiver);
        sender.send(b"ack").unwrap();
        let start = Instant::now();
        assert!(poll.inner.poll_until_ready());
        assert!(start.elapsed() < LONG / 2, "{:?}", start.elapsed());
        // Polling reads nothing: the datagram is still there for the runtime.
        let mut buf = [0u8; 8];
        assert_eq!(receiver.recv(&mut buf).unwrap(), 3);
    }

    #[test]
    fn with_nothing_waiting_the_window_runs_out() {
        let (_sender, receiver) = loopback_pair();
        let window = Duration::from_millis(20);
        let poll = watching(window, &receiver);
        let start = Instant::now();
        assert!(!poll.inner.poll_until_ready());
        assert!(start.elapsed() >= window);
    }

    #[test]
    fn nothing_is_polled_before_watch_or_after_unwatch() {
        let (_sender, receiver) = loopback_pair();
        let poll = IdlePoll::new(LONG).unwrap();
        let start = Instant::now();
        assert!(!poll.inner.poll_until_ready());
        poll.watch(vec![OwnedFd::from(receiver.try_clone().unwrap())]);
        poll.unwatch();
        assert!(!poll.inner.poll_until_ready());
        assert!(start.elapsed() < LONG / 2, "{:?}", start.elapsed());
    }

    #[test]
    fn a_task_woken_from_another_thread_ends_the_window() {
        let (_sender, receiver) = loopback_pair();
        let poll = watching(LONG, &receiver);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(rx);
        let ended_early = runtime.block_on(async {
            // Let the task run and wait on its channel.
            tokio::task::yield_now().await;
            let waker = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send(()).unwrap();
            });
            let start = Instant::now();
            let ready = poll.inner.poll_until_ready();
            waker.join().unwrap();
            ready && start.elapsed() < LONG / 2
        });
        assert!(ended_early);
        assert!(runtime.block_on(task).unwrap().is_ok());
    }

    /// The value of the unlabelled series `name` in `text`; 0 when absent.
    fn series(text: &str, name: &str) -> u64 {
        text.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .find_map(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Runs a runtime polling for `window` that reads `datagrams` sent one
    /// every `every`; checks each is read within half of `LONG` of its
    /// send, and returns the runtime's metrics.
    fn read_datagrams(window: Duration, datagrams: u32, every: Duration) -> String {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let metrics = recorder.handle();
        let (sender, receiver) = loopback_pair();
        receiver.set_nonblocking(true).unwrap();
        let poll = metrics::with_local_recorder(&recorder, || watching(window, &receiver));
        let mut builder = tokio::runtime::Builder::new_current_thread();
        poll.hook(&mut builder);
        let runtime = builder.enable_all().build().unwrap();
        let read = runtime.block_on(async move {
            let socket = tokio::net::UdpSocket::from_std(receiver).unwrap();
            let (sent_tx, sent_rx) = std::sync::mpsc::channel();
            let sending = std::thread::spawn(move || {
                for i in 0..datagrams {
                    std::thread::sleep(every);
                    sender.send(&i.to_be_bytes()).unwrap();
                    sent_tx.send(Instant::now()).unwrap();
                }
            });
            let mut read = Vec::new();
            let mut buf = [0u8; 4];
            while read.len() < datagrams as usize {
                let n = socket.recv(&mut buf).await.unwrap();
                let sent = sent_rx.recv().unwrap();
                let late = sent.elapsed();
                assert!(
                    late < LONG / 2,
                    "datagram {} read after {late:?}",
                    read.len()
                );
                assert_eq!(n, 4);
                read.push(u32::from_be_bytes(buf));
            }
            sending.join().unwrap();
            read
        });
        assert_eq!(read, (0..datagrams).collect::<Vec<_>>());
        metrics.render()
    }

    /// A busy thread reads each datagram as it lands, found by its poll
    /// rather than a wake-up: were one missed, its read would wait out the
    /// window.
    #[test]
    fn a_busy_runtime_reads_datagrams_while_it_polls() {
        let text = read_datagrams(LONG, 20, Duration::from_millis(1));
        // Every datagram but the first came while the one before kept the
        // thread busy.
        let ready = series(&text, "corral_runtime_idle_polls_ready_total");
        assert!(ready >= 10, "{ready} ready windows:\n{text}");
    }

    /// A thread that sleeps long between messages (an idle node's timers)
    /// is not busy, and sleeps without polling.
    #[test]
    fn an_idle_runtime_sleeps_without_polling() {
        let window = Duration::from_millis(1);
        let every = window * BUSY_SLEEPS * 3;
        let text = read_datagrams(window, 10, every);
        // The runtime's start may wake it at once, and one window follows;
        // after that every sleep is long.
        let windows = series(&text, "corral_runtime_idle_poll_seconds_count");
        assert!(windows < 5, "{windows} windows:\n{text}");
    }
}
