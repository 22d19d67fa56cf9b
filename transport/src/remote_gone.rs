//! Noticing at once that a remote's process is gone.
//!
//! A QUIC remote whose process died (kill -9, a crash) sends nothing more,
//! so a link to it would last until silence ends it: QUIC's idle timeout,
//! or a client's read timeout. The remote's host still answers every
//! datagram sent to the dead port with ICMP port unreachable, which is what
//! makes a TCP reset immediate. With `IP_RECVERR` the kernel queues those on
//! the socket's error queue; this module reads them there and reports the
//! address, so a link to it ends at the next datagram sent.
//!
//! ```text
//!  datagram to a dead port ──► ICMP port unreachable ──► socket error queue
//!    ──► watcher task (a clone of the socket, waiting on error readiness)
//!    ──► GoneReports (watch) ──► Link::remote_gone() resolves for that address
//! ```
//!
//! Only port unreachable counts (no process on that port): a host or network
//! unreachable may pass. The kernel also marks the socket's pending error,
//! which the next send would take, losing its datagram (QUIC resends it,
//! but a handshake's first only after a second or so): the watcher clears
//! it as it reads a report, and a dial clears it before sending. A send in
//! between still loses one datagram per report, so only sockets that just
//! dial (a client's) do this, never a node's, where every departed client
//! would cost the others datagrams. Linux only; elsewhere links end by
//! silence as before.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The reports of one socket, read by a task that ends with this.
#[derive(Debug)]
pub(crate) struct GoneReader {
    /// Every watch handed out is this one, renewed.
    watch: GoneWatch,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl GoneReader {
    /// A watch of the reports made from now on.
    pub(crate) fn watch_from_now(&self) -> GoneWatch {
        self.watch.renewed()
    }
}

impl Drop for GoneReader {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// How long a link closed because its remote is gone waits for the kernel's
/// answer to its closing datagram (sent to the same dead port) before the
/// socket's pending error is cleared: a round trip on any network a
/// coordination service spans, and nothing on loopback, where the answer
/// comes with the send.
pub(crate) const ECHO_WAIT: Duration = Duration::from_millis(50);

/// Addresses reported unreachable that are kept at most (the oldest go first).
const REPORTS_MAX: usize = 1024;

/// Addresses the kernel reported gone, each with the number of its latest report.
#[derive(Debug, Default, Clone)]
pub(crate) struct GoneReports {
    /// Reports so far (numbers them).
    count: u64,
    by_addr: HashMap<SocketAddr, u64>,
}

impl GoneReports {
    /// Records a report about `addr`.
    pub(crate) fn report(&mut self, addr: SocketAddr) {
        self.count += 1;
        self.by_addr.insert(canonical(addr), self.count);
        if self.by_addr.len() > REPORTS_MAX
            && let Some(oldest) = self
                .by_addr
                .iter()
                .min_by_key(|(_, n)| **n)
                .map(|(a, _)| *a)
        {
            self.by_addr.remove(&oldest);
        }
    }

    /// Whether `addr` was reported after report number `since`.
    pub(crate) fn gone_since(&self, addr: SocketAddr, since: u64) -> bool {
        self.by_addr
            .get(&canonical(addr))
            .is_some_and(|&n| n > since)
    }
}

/// What a link watches to learn that its remote is gone.
#[derive(Debug, Clone)]
pub(crate) struct GoneWatch {
    reports: watch::Receiver<GoneReports>,
    /// Reports up to this number predate the link.
    since: u64,
    /// A handle of the socket, to clear its pending error.
    socket: Option<Arc<std::net::UdpSocket>>,
}

impl GoneWatch {
    /// The same watch, counting only reports made from now on.
    pub(crate) fn renewed(&self) -> Self {
        Self {
            reports: self.reports.clone(),
            since: self.reports.borrow().count,
            socket: self.socket.clone(),
        }
    }

    /// Takes the socket's pending error, left by a report, so that the next
    /// datagram sent (a dial's first, say) does not take it and get lost: a
    /// lost first datagram of a handshake is resent only after a second.
    pub(crate) fn clear_pending_error(&self) {
        #[cfg(target_os = "linux")]
        if let Some(socket) = &self.socket {
            let _ = nix::sys::socket::getsockopt(&**socket, nix::sys::socket::sockopt::SocketError);
        }
    }

    /// After a datagram was sent to `addr`, known gone: waits (up to
    /// `ECHO_WAIT`) for the kernel's answer to it, then clears the pending
    /// error it left. `self` must be a watch made before the send.
    pub(crate) async fn absorb_echo(&self, addr: SocketAddr) {
        let _ = tokio::time::timeout(ECHO_WAIT, self.gone(addr)).await;
        self.clear_pending_error();
    }

    /// Resolves once `addr` is reported gone; never if the watcher stopped.
    pub(crate) async fn gone(&self, addr: SocketAddr) {
        let mut reports = self.reports.clone();
        let since = self.since;
        if reports
            .wait_for(|r| r.gone_since(addr, since))
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }
}

/// A v4-mapped IPv6 address as the IPv4 address it is (a dual-stack socket
/// reports IPv4 remotes that way).
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(target_os = "linux")]
pub(crate) use linux::watch_socket;

/// Elsewhere: no reports, ever.
#[cfg(not(target_os = "linux"))]
pub(crate) fn watch_socket(_socket: std::net::UdpSocket) -> std::io::Result<GoneReader> {
    let (tx, reports) = watch::channel(GoneReports::default());
    // Dropping the sender ends every wait in `pending` (see `GoneWatch::gone`).
    drop(tx);
    let watch = GoneWatch {
        reports,
        since: 0,
        socket: None,
    };
    Ok(GoneReader { watch, task: None })
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, IoSliceMut};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;

    use nix::errno::Errno;
    use nix::sys::socket::{
        ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
    };
    use tokio::io::Interest;
    use tokio::sync::watch;

    use super::{GoneReader, GoneReports, GoneWatch};

    /// Error-queue entries read per wake-up at most; the rest wait for the next.
    const DRAIN_MAX: usize = 256;
    /// Room for one entry's ancillary data.
    const CONTROL_BYTES: usize = 512;

    /// Turns on error reports for the socket `handle` is a second
    /// descriptor of, and starts the task that reads them; the task ends
    /// when aborted (or the socket fails).
    ///
    /// Must be called inside a tokio runtime.
    pub(crate) fn watch_socket(handle: UdpSocket) -> io::Result<GoneReader> {
        if handle.local_addr()?.is_ipv6() {
            setsockopt(&handle, sockopt::Ipv6RecvErr, &true)?;
            // IPv4 remotes of a dual-stack socket report through the IPv4
            // layer; a v6-only socket has none, so a refusal changes nothing.
            let _ = setsockopt(&handle, sockopt::Ipv4RecvErr, &true);
        } else {
            setsockopt(&handle, sockopt::Ipv4RecvErr, &true)?;
        }
        // Waited on for errors only: quinn's registration of the socket's
        // first descriptor stays as it is. The other clears the pending error.
        let errors = tokio::net::UdpSocket::from_std(handle.try_clone()?)?;
        let (tx, reports) = watch::channel(GoneReports::default());
        let task = tokio::spawn(read_reports(errors, tx));
        let watch = GoneWatch {
            reports,
            since: 0,
            socket: Some(std::sync::Arc::new(handle)),
        };
        Ok(GoneReader {
            watch,
            task: Some(task),
        })
    }

    async fn read_reports(errors: tokio::net::UdpSocket, tx: watch::Sender<GoneReports>) {
        loop {
            if let Err(e) = errors.ready(Interest::ERROR).await {
                tracing::warn!(error = %e, "socket error queue: no longer watched");
                return;
            }
            let mut gone = Vec::new();
            // A WouldBlock from the closure (the queue is empty) clears the
            // error readiness, unless something new came since it was seen.
            let emptied = errors
                .try_io(Interest::ERROR, || {
                    if drain(&errors, &mut gone) {
                        Err(io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(())
                    }
                })
                .is_err();
            // The report also left the socket's pending error set, which
            // the next send would take (and lose its datagram): take it here.
            let _ = nix::sys::socket::getsockopt(&errors, sockopt::SocketError);
            if !gone.is_empty() {
                for addr in &gone {
                    tracing::debug!(remote = %addr, "ICMP port unreachable: the remote's process is gone");
                }
                tx.send_modify(|reports| gone.into_iter().for_each(|a| reports.report(a)));
            }
            if !emptied {
                // More queued than one batch: let others run before the next.
                tokio::task::yield_now().await;
            }
        }
    }

    /// Reads the error queue, adding the destination of each port
    /// unreachable to `gone`; true once the queue is empty (or unreadable),
    /// false after `DRAIN_MAX` entries.
    fn drain(socket: &impl AsRawFd, gone: &mut Vec<SocketAddr>) -> bool {
        for _ in 0..DRAIN_MAX {
            match read_one(socket) {
                Ok(Some(addr)) => gone.push(addr),
                Ok(None) | Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return true,
                Err(e) => {
                    tracing::debug!(error = %e, "socket error queue unreadable");
                    return true;
                }
            }
        }
        false
    }

    /// One error-queue entry: `Some(destination)` if it is an ICMP port
    /// unreachable, `None` for any other (a local MTU report, say).
    fn read_one(socket: &impl AsRawFd) -> Result<Option<SocketAddr>, Errno> {
        // The start of the datagram that failed, unused.
        let mut data = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut data)];
        // The error with its offender, and the socket's other ancillary data
        // (quinn asks for the packet info and the ECN bits of every datagram).
        let mut control = vec![0u8; CONTROL_BYTES];
        let msg = recvmsg::<SockaddrStorage>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
        )?;
        let refused = msg.cmsgs()?.any(|cmsg| match cmsg {
            ControlMessageOwned::Ipv4RecvErr(err, _) => {
                err.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP
                    && err.ee_errno == Errno::ECONNREFUSED as u32
            }
            ControlMessageOwned::Ipv6RecvErr(err, _) => {
                (err.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP6
                    || err.ee_origin == nix::libc::SO_EE_ORIGIN_ICMP)
                    && err.ee_errno == Errno::ECONNREFUSED as u32
            }
            _ => false,
        });
        // The address is where the failed datagram went (not who answered).
        Ok(refused
            .then_some(msg.address)
            .flatten()
            .and_then(|a| socket_addr(&a)))
    }

    fn socket_addr(storage: &SockaddrStorage) -> Option<SocketAddr> {
        if let Some(v4) = storage.as_sockaddr_in() {
            return Some(SocketAddr::new(v4.ip().into(), v4.port()));
        }
        let v6 = storage.as_sockaddr_in6()?;
        Some(SocketAddr::new(v6.ip().into(), v6.port()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_report_is_seen_only_by_watches_made_before_it() {
        let mut reports = GoneReports::default();
        let (a, b) = (local(7001), local(7002));
        reports.report(a);
        let since = reports.count;
        assert!(!reports.gone_since(a, since), "an older report is not news");
        reports.report(b);
        assert!(reports.gone_since(b, since));
        assert!(!reports.gone_since(a, since));
        reports.report(a);
        assert!(
            reports.gone_since(a, since),
            "a new report of the same address is"
        );
    }

    #[test]
    fn a_v4_mapped_address_is_the_ipv4_one() {
        let mut reports = GoneReports::default();
        let mapped = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped().into(), 7001);
        reports.report(mapped);
        assert!(reports.gone_since(local(7001), 0));
    }

    #[test]
    fn reports_are_bounded_and_the_oldest_go_first() {
        let mut reports = GoneReports::default();
        let extra = 10;
        for i in 0..(REPORTS_MAX + extra) {
            reports.report(local(10_000 + i as u16));
        }
        assert_eq!(reports.by_addr.len(), REPORTS_MAX);
        assert!(!reports.gone_since(local(10_000), 0), "the oldest went");
        let newest = local(10_000 + (REPORTS_MAX + extra - 1) as u16);
        assert!(reports.gone_since(newest, 0));
    }

    /// The kernel's answer to a datagram sent to a closed port reaches the watcher.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_datagram_to_a_closed_port_reports_that_port_gone() -> std::io::Result<()> {
        closed_port_is_reported("127.0.0.1:0", "127.0.0.1:0").await
    }

    /// The same over IPv6 (ICMPv6).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_datagram_to_a_closed_ipv6_port_reports_that_port_gone() -> std::io::Result<()> {
        closed_port_is_reported("[::1]:0", "[::1]:0").await
    }

    /// A dual-stack IPv6 socket (a node listening on `[::]`) sending to an
    /// IPv4 address hears of it as that IPv4 address.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_dual_stack_socket_reports_an_ipv4_port_gone() -> std::io::Result<()> {
        closed_port_is_reported("127.0.0.1:0", "[::]:0").await
    }

    /// Binds a port at `remote` and closes it, then sends it a datagram from
    /// a watched socket bound at `local`: the watcher reports it.
    #[cfg(target_os = "linux")]
    async fn closed_port_is_reported(remote: &str, local: &str) -> std::io::Result<()> {
        let closed = std::net::UdpSocket::bind(remote)?;
        let dead = closed.local_addr()?;
        drop(closed);
        let socket = std::net::UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        let reader = watch_socket(socket.try_clone()?)?;
        let watch = reader.watch_from_now();
        socket.send_to(b"anyone?", dead)?;
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), watch.gone(dead)).await;
        assert!(seen.is_ok(), "no report for {dead}");
        Ok(())
    }
}
