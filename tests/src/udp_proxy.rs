//! A userspace UDP proxy that puts network faults on one link, for tests.
//!
//! `tc netem` is not available on the machines we test on, so each peer link
//! of a test cluster can be routed through one of these: a node is told that
//! its peer lives at the proxy's address, and the proxy relays datagrams to the
//! real peer and back. Faults are set per direction at any time: blackhole,
//! random drops, delay with jitter (which also reorders). All randomness comes
//! from a seed.
//!
//! ```text
//!  dialer ──► proxy (listen) ──[to_upstream faults]──► upstream
//!  dialer ◄── proxy          ◄─[from_upstream faults]── upstream
//! ```
//!
//! Each dialer address gets its own upstream socket, so replies find their
//! way back. Delayed datagrams wait in a bounded queue; past its bound they are
//! dropped, as a congested router would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Largest datagram relayed (QUIC never sends more than 64 KiB).
const DATAGRAM_BYTES_MAX: usize = 65_536;
/// Datagrams waiting in delay at once, per proxy.
const DELAYED_DATAGRAMS_MAX: usize = 10_000;

/// The faults applied to one direction of the link.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Drop everything.
    pub blackhole: bool,
    /// Probability of dropping each datagram, in [0, 1].
    pub drop_probability: f64,
    /// Fixed delay added to every datagram.
    pub delay: Duration,
    /// Extra random delay in [0, jitter); enough of it reorders datagrams.
    pub jitter: Duration,
}

impl Faults {
    /// No faults: datagrams pass at once.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every datagram is dropped.
    pub fn blackhole() -> Self {
        Self {
            blackhole: true,
            ..Self::default()
        }
    }
}

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the dialer to the upstream.
    ToUpstream,
    /// From the upstream back to the dialer.
    FromUpstream,
}

/// Counters of what the proxy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounts {
    /// Datagrams sent on.
    pub relayed: u64,
    /// Datagrams dropped by a fault or a full delay queue.
    pub dropped: u64,
}

#[derive(Debug)]
struct Shared {
    to_upstream: Faults,
    from_upstream: Faults,
    rng: SmallRng,
    counts: ProxyCounts,
}

impl Shared {
    /// Decides the fate of one datagram: `None` to drop, or its delay.
    fn verdict(&mut self, direction: Direction) -> Option<Duration> {
        let faults = match direction {
            Direction::ToUpstream => self.to_upstream,
            Direction::FromUpstream => self.from_upstream,
        };
        if faults.blackhole
            || (faults.drop_probability > 0.0
                && self.rng.random_bool(faults.drop_probability.min(1.0)))
        {
            self.counts.dropped += 1;
            return None;
        }
        let jitter_us = faults.jitter.as_micros() as u64;
        let extra = if jitter_us > 0 {
            self.rng.random_range(0..jitter_us)
        } else {
            0
        };
        self.counts.relayed += 1;
        Some(faults.delay + Duration::from_micros(extra))
    }
}

/// A running proxy; dropping it stops it.
#[derive(Debug)]
pub struct UdpProxy {
    listen: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl UdpProxy {
    /// Starts a proxy on `listen` (use port 0 for any) relaying to `upstream`.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        seed: u64,
    ) -> std::io::Result<Self> {
        let socket = Arc::new(UdpSocket::bind(listen).await?);
        let listen = socket.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            to_upstream: Faults::none(),
            from_upstream: Faults::none(),
            rng: SmallRng::seed_from_u64(seed),
            counts: ProxyCounts::default(),
        }));
        let task = tokio::spawn(run(socket, upstream, shared.clone()));
        Ok(Self {
            listen,
            shared,
            task,
        })
    }

    /// The address dialers should use.
    pub fn address(&self) -> SocketAddr {
        self.listen
    }

    /// Sets the faults of one direction.
    pub fn set(&self, direction: Direction, faults: Faults) {
        let mut shared = lock(&self.shared);
        match direction {
            Direction::ToUpstream => shared.to_upstream = faults,
            Direction::FromUpstream => shared.from_upstream = faults,
        }
    }

    /// Sets the same faults both ways.
    pub fn set_both(&self, faults: Faults) {
        self.set(Direction::ToUpstream, faults);
        self.set(Direction::FromUpstream, faults);
    }

    /// What the proxy has relayed and dropped so far.
    pub fn counts(&self) -> ProxyCounts {
        lock(&self.shared).counts
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves only counters and settings behind,
    // which stay usable.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Relays datagrams from dialers to the upstream, one upstream socket each.
async fn run(listen: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<Mutex<Shared>>) {
    let delayed = Arc::new(Semaphore::new(DELAYED_DATAGRAMS_MAX));
    let mut links: HashMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)> = HashMap::new();
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    loop {
        let Ok((len, dialer)) = listen.recv_from(&mut buf).await else {
            continue;
        };
        let link = match links.get(&dialer) {
            Some((socket, _)) => socket.clone(),
            None => {
                let Ok(socket) = UdpSocket::bind((upstream.ip(), 0)).await else {
                    continue;
                };
                let socket = Arc::new(socket);
                let back = tokio::spawn(relay_back(
                    socket.clone(),
                    listen.clone(),
                    dialer,
                    shared.clone(),
                    delayed.clone(),
                ));
                links.insert(dialer, (socket.clone(), back));
                socket
            }
        };
        let verdict = lock(&shared).verdict(Direction::ToUpstream);
        forward(link, upstream, &buf[..len], verdict, &delayed, &shared).await;
    }
}

/// Relays datagrams from the upstream back to one dialer.
async fn relay_back(
    socket: Arc<UdpSocket>,
    listen: Arc<UdpSocket>,
    dialer: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    delayed: Arc<Semaphore>,
) {
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    loop {
        let Ok(len) = socket.recv(&mut buf).await else {
            continue;
        };
        let verdict = lock(&shared).verdict(Direction::FromUpstream);
        forward(
            listen.clone(),
            dialer,
            &buf[..len],
            verdict,
            &delayed,
            &shared,
        )
        .await;
    }
}

/// Sends a datagram now, later, or not at all.
async fn forward(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    datagram: &[u8],
    verdict: Option<Duration>,
    delayed: &Arc<Semaphore>,
    shared: &Arc<Mutex<Shared>>,
) {
    let Some(delay) = verdict else { return };
    if delay.is_zero() {
        // A send error loses the datagram, as the network would.
        let _ = socket.send_to(datagram, to).await;
        return;
    }
    let Ok(permit) = delayed.clone().try_acquire_owned() else {
        let mut shared = lock(shared);
        shared.counts.relayed -= 1;
        shared.counts.dropped += 1;
        return;
    };
    let datagram = datagram.to_vec();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = socket.send_to(&datagram, to).await;
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        (addr, task)
    }

    async fn round_trip(client: &UdpSocket, proxy: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
        client.send_to(payload, proxy).await.unwrap();
        let mut buf = [0u8; 2048];
        match tokio::time::timeout(Duration::from_millis(300), client.recv(&mut buf)).await {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn relays_both_ways_and_blackholes_one_way_on_demand() {
        let (upstream, _server) = echo_server().await;
        let proxy = UdpProxy::start("127.0.0.1:0".parse().unwrap(), upstream, 7)
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(
            round_trip(&client, proxy.address(), b"one")
                .await
                .as_deref(),
            Some(&b"one"[..])
        );

        // Replies lost: the request still reaches the upstream.
        proxy.set(Direction::FromUpstream, Faults::blackhole());
        assert_eq!(round_trip(&client, proxy.address(), b"two").await, None);
        let counts = proxy.counts();
        assert_eq!(counts.dropped, 1);
        assert_eq!(counts.relayed, 3);

        proxy.set_both(Faults::none());
        assert_eq!(
            round_trip(&client, proxy.address(), b"three")
                .await
                .as_deref(),
            Some(&b"three"[..])
        );
    }

    #[tokio::test]
    async fn drops_about_the_configured_share() {
        let (upstream, _server) = echo_server().await;
        let proxy = UdpProxy::start("127.0.0.1:0".parse().unwrap(), upstream, 11)
            .await
            .unwrap();
        proxy.set(
            Direction::ToUpstream,
            Faults {
                drop_probability: 0.5,
                ..Faults::none()
            },
        );
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..400u32 {
            client
                .send_to(&i.to_le_bytes(), proxy.address())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let counts = proxy.counts();
        // Each request that passes is echoed (and relayed back once more).
        let dropped = counts.dropped;
        assert!(
            (120..=280).contains(&dropped),
            "dropped {dropped} of 400 at p=0.5"
        );
    }

    #[tokio::test]
    async fn jitter_reorders_datagrams() {
        let (upstream, _server) = echo_server().await;
        let proxy = UdpProxy::start("127.0.0.1:0".parse().unwrap(), upstream, 3)
            .await
            .unwrap();
        proxy.set(
            Direction::ToUpstream,
            Faults {
                jitter: Duration::from_millis(50),
                ..Faults::none()
            },
        );
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..50u32 {
            client
                .send_to(&i.to_le_bytes(), proxy.address())
                .await
                .unwrap();
        }
        let mut order = Vec::new();
        let mut buf = [0u8; 16];
        while order.len() < 50 {
            let n = tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf))
                .await
                .expect("every datagram arrives")
                .unwrap();
            order.push(u32::from_le_bytes(buf[..n].try_into().unwrap()));
        }
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..50).collect::<Vec<_>>(),
            "nothing lost or duplicated"
        );
        assert_ne!(
            order, sorted,
            "50 datagrams with 50 ms of jitter arrived in order"
        );
    }
}
