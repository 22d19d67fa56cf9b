//! PeerActor: one per other replica, owning the outbound QUIC link to it; and
//! the inbound side, reading what other replicas send us.
//!
//! ```text
//!  ReplicaActor ──try_send──► [bounded queue] ──► PeerActor(id) ── dial (mutual TLS,
//!                                                   │               node id checked, backoff)
//!                                control bi stream ◄┤  votes, appends, heartbeats, forwards
//!                                   bulk uni stream ◄┘  snapshot chunks only
//!  inbound link (peer ALPN) ──► one reader per stream ──► gate ──► ReplicaActor
//! ```
//!
//! Each node dials every other node and sends on its own connection, from a
//! socket of its own that hears at once when a peer's process is gone
//! (`Link::remote_gone`), so the link is redialled rather than written into
//! until its idle timeout; the connections it accepts are only read. A full
//! queue drops the message (consensus resends), so the replica never waits
//! on a slow peer. While the link is down, queued messages are discarded:
//! they would be stale anyway.
//! A follower's forwarded client writes are the exception: they are held
//! and sent first once the link is up (`held_forwards`).
//! A peer whose link settled on an older protocol version gets each message
//! in the form that version has (`older_peers`).
//!
//! Inbound, a frame that does not decode, an oversize frame, a consensus
//! message that claims another sender or another recipient than the link
//! proves, closes that link with a log line; nothing a peer sends can stop
//! the node.

use std::sync::Arc;
use std::time::Duration;

use corral_core::broadcast::{Body, NodeId};
use corral_transport::wire::PeerMessage;
use corral_transport::{CloseCode, Endpoint, FrameReader, FrameWriter, Link, TransportError};
use ractor::ActorRef;
use rand::Rng;
use tokio::sync::{Semaphore, mpsc};

use crate::held_forwards::{HeldForwards, Kept, LeaderEpoch};
use crate::link_metrics::{self, LinkSampler};
use crate::older_peers::for_peer_version;
use crate::replica::ReplicaMsg;
use crate::spec::PeerSpec;

/// Shortest wait before redialling a peer.
const BACKOFF_MS_MIN: u64 = 50;
/// Longest wait before redialling a peer.
const BACKOFF_MS_MAX: u64 = 2_000;
/// Messages written per flush at most.
const WRITE_BATCH_MAX: usize = 1_024;
/// Session ids accepted in one heartbeat batch.
const HEARTBEAT_SESSIONS_MAX: usize = 1_000_000;
/// Forwards handed to the replica in one message at most.
const FORWARDS_PER_MESSAGE_MAX: usize = 1024;

/// The replica, once started: where peer tasks report that a peer's
/// process is gone, so that a follower of it campaigns at once.
pub type ReplicaSlot = Arc<std::sync::OnceLock<ActorRef<ReplicaMsg>>>;

/// A message for a peer, with the replica's [`LeaderEpoch`] when it was queued.
#[derive(Debug)]
pub struct Outgoing {
    /// The epoch the replica was in.
    pub epoch: u64,
    /// The message.
    pub msg: PeerMessage,
}

/// Starts the PeerActor for `peer`; returns its bounded queue. Forwards held
/// while its link is down are dropped once `epoch` moves on; a link or dial
/// that finds the peer's process gone is reported to `replica`.
pub fn spawn_peer(
    self_id: NodeId,
    peer: PeerSpec,
    endpoint: Endpoint,
    queue_len_max: usize,
    epoch: LeaderEpoch,
    replica: ReplicaSlot,
) -> mpsc::Sender<Outgoing> {
    let (tx, rx) = mpsc::channel(queue_len_max.max(1));
    tokio::spawn(run_peer(self_id, peer, endpoint, rx, epoch, replica));
    tx
}

/// Tells the replica when a link or dial to `peer` failed because its
/// process is gone (nothing to tell before the replica has started: a
/// campaign needs it anyway).
fn report_if_gone(replica: &ReplicaSlot, peer: NodeId, failure: &TransportError) {
    if let (TransportError::Unreachable { .. }, Some(replica)) = (failure, replica.get()) {
        // Fails only when the replica is stopping.
        let _ = replica.cast(ReplicaMsg::PeerGone(peer));
    }
}

async fn run_peer(
    self_id: NodeId,
    peer: PeerSpec,
    endpoint: Endpoint,
    mut rx: mpsc::Receiver<Outgoing>,
    epoch: LeaderEpoch,
    replica: ReplicaSlot,
) {
    let mut backoff_ms = BACKOFF_MS_MIN;
    let mut failures = 0u32;
    let mut held = Holding {
        forwards: HeldForwards::default(),
        epoch,
        peer: peer.id,
    };
    link_metrics::register_peer(peer.id);
    loop {
        let link = tokio::select! {
            link = endpoint.connect_peer(peer.address, peer.id) => link,
            // Hold the forwards that come while dialling, discard the rest;
            // stop when the replica is gone.
            closed = hold_until_closed(&mut rx, &mut held) => { let () = closed; return; }
        };
        match link {
            Ok(link) => {
                let version = link.protocol_version();
                tracing::info!(
                    node = self_id,
                    peer = peer.id,
                    protocol_version = version,
                    "connected to peer"
                );
                link_metrics::set_protocol_version(peer.id, version);
                failures = 0;
                backoff_ms = BACKOFF_MS_MIN;
                link_metrics::count_connect(peer.id);
                link_metrics::set_connected(peer.id, true);
                let sampler = LinkSampler::new(peer.id, true);
                let sent = send_over(&link, &mut rx, &mut held, sampler).await;
                link_metrics::set_connected(peer.id, false);
                match sent {
                    Ok(()) => {
                        link.close(CloseCode::Normal, "node stopping");
                        return;
                    }
                    Err(e) => {
                        tracing::info!(node = self_id, peer = peer.id, error = %e, "link to peer lost");
                        report_if_gone(&replica, peer.id, &e);
                        link.close(CloseCode::Normal, "link error");
                    }
                }
            }
            Err(e) => {
                failures += 1;
                report_if_gone(&replica, peer.id, &e);
                // Log the first failure and then every 20th, not every retry.
                if failures == 1 || failures % 20 == 0 {
                    tracing::warn!(node = self_id, peer = peer.id, address = %peer.address, error = %e, failures, "cannot reach peer");
                }
            }
        }
        let jitter = rand::rng().random_range(0..=backoff_ms / 2);
        let wait = Duration::from_millis(backoff_ms + jitter);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            closed = hold_until_closed(&mut rx, &mut held) => { let () = closed; return; }
        }
        backoff_ms = (backoff_ms * 2).min(BACKOFF_MS_MAX);
        while let Ok(msg) = rx.try_recv() {
            held.hold_or_drop(msg);
        }
    }
}

/// The forwards a peer task holds while its link is down.
struct Holding {
    forwards: HeldForwards,
    epoch: LeaderEpoch,
    peer: NodeId,
}

impl Holding {
    /// Holds a message for the next link if it is a current forward there
    /// is room for.
    fn hold_or_drop(&mut self, out: Outgoing) {
        let now = std::time::Instant::now();
        let (kept, expired) = self
            .forwards
            .keep(out.msg, out.epoch, now, self.epoch.get());
        let dropped = expired + usize::from(kept == Kept::Dropped);
        if dropped > 0 {
            link_metrics::count_forwards_dropped(self.peer, dropped);
        }
        if kept == Kept::Held {
            link_metrics::count_forward_held(self.peer);
        }
    }

    /// The held forwards still worth sending, oldest first.
    fn take(&mut self) -> Vec<PeerMessage> {
        let now = std::time::Instant::now();
        let (forwards, expired) = self.forwards.take(now, self.epoch.get());
        if expired > 0 {
            link_metrics::count_forwards_dropped(self.peer, expired);
        }
        forwards
    }
}

/// Holds the forwards among queued messages and discards the rest, until
/// every sender is gone.
async fn hold_until_closed(rx: &mut mpsc::Receiver<Outgoing>, held: &mut Holding) {
    while let Some(msg) = rx.recv().await {
        held.hold_or_drop(msg);
    }
}

/// Writes the held forwards, then queued messages, on the link until it
/// fails (`Err`) or the queue closes (`Ok`).
async fn send_over(
    link: &Link,
    rx: &mut mpsc::Receiver<Outgoing>,
    held: &mut Holding,
    mut sampler: LinkSampler,
) -> Result<(), TransportError> {
    let (mut control, _control_reader) = link.open_bi().await?;
    let version = link.protocol_version();
    // Ahead of anything queued since: a session's writes keep their order.
    let forwards = held.take();
    if !forwards.is_empty() {
        for msg in forwards {
            if let Some(msg) = for_peer_version(msg, version) {
                control.push(&msg)?;
            }
        }
        control.flush().await?;
    }
    let mut bulk: Option<FrameWriter> = None;
    let mut batch = Vec::with_capacity(WRITE_BATCH_MAX);
    let mut sample = tokio::time::interval(link_metrics::SAMPLE_EVERY);
    let gone = link.remote_gone();
    tokio::pin!(gone);
    loop {
        tokio::select! {
            _ = sample.tick() => {
                sampler.sample(link);
                continue;
            }
            // Its process died: redial now rather than at the idle timeout,
            // so a restarted peer hears from us as soon as it listens.
            () = &mut gone => {
                link.close_gone("the peer's process is gone").await;
                return Err(TransportError::Unreachable { peer: link.remote_address() });
            }
            n = rx.recv_many(&mut batch, WRITE_BATCH_MAX) => {
                if n == 0 {
                    control.finish().await?;
                    return Ok(());
                }
            }
            e = link.closed() => {
                return Err(TransportError::Connection { peer: link.remote_address(), source: e });
            }
        }
        let mut bulk_used = false;
        for Outgoing { msg, .. } in batch.drain(..) {
            // A peer of an older protocol gets what it can read.
            let Some(msg) = for_peer_version(msg, version) else {
                continue;
            };
            let is_chunk = matches!(&msg, PeerMessage::Consensus(m) if matches!(m.body, Body::Snapshot { .. }));
            if is_chunk {
                if bulk.is_none() {
                    bulk = Some(link.open_uni().await?);
                }
                if let Some(w) = bulk.as_mut() {
                    w.push(&msg)?;
                    bulk_used = true;
                }
            } else {
                control.push(&msg)?;
            }
        }
        control.flush().await?;
        if bulk_used {
            if let Some(w) = bulk.as_mut() {
                w.flush().await?;
            }
        }
    }
}

/// Reads an inbound peer link until it closes; everything goes to the replica
/// through the gate.
pub async fn serve_inbound(
    self_id: NodeId,
    link: Link,
    replica: ActorRef<ReplicaMsg>,
    gate: Arc<Semaphore>,
) {
    let Some(from) = link.node_id() else {
        return;
    };
    tracing::info!(node = self_id, peer = from, "peer connected to us");
    let sampled = link.clone();
    let sampler = tokio::spawn(async move {
        let mut sampler = LinkSampler::new(from, false);
        let mut every = tokio::time::interval(link_metrics::SAMPLE_EVERY);
        loop {
            tokio::select! {
                _ = every.tick() => sampler.sample(&sampled),
                _ = sampled.closed() => {
                    sampler.sample(&sampled);
                    return;
                }
            }
        }
    });
    let _stop_sampler = AbortOnDrop(sampler);
    loop {
        let reader = tokio::select! {
            bi = link.accept_bi() => bi.map(|(_w, r)| r),
            uni = link.accept_uni() => uni,
        };
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(node = self_id, peer = from, error = %e, "inbound peer link closed");
                return;
            }
        };
        let link = link.clone();
        let replica = replica.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            if let Err(why) = read_stream(self_id, from, reader, &replica, &gate).await {
                tracing::warn!(node = self_id, peer = from, error = %why, "peer broke the protocol: disconnected");
                metrics::counter!("corral_peer_protocol_errors_total").increment(1);
                link.close(CloseCode::Protocol, &why);
            }
        });
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads one stream; `Err` names the protocol violation.
async fn read_stream(
    self_id: NodeId,
    from: NodeId,
    mut reader: FrameReader,
    replica: &ActorRef<ReplicaMsg>,
    gate: &Arc<Semaphore>,
) -> Result<(), String> {
    // A message read while gathering forwards, handled next.
    let mut pending = None;
    loop {
        let read = match pending.take() {
            Some(msg) => Ok(Some(msg)),
            None => reader.read::<PeerMessage>().await,
        };
        let msg = match read {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(()),
            Err(
                e @ (TransportError::Decode { .. }
                | TransportError::FrameTooLarge { .. }
                | TransportError::Truncated { .. }),
            ) => return Err(e.to_string()),
            Err(_) => return Ok(()),
        };
        let permit = gate.clone().acquire_owned().await.ok();
        let msg = match msg {
            PeerMessage::Consensus(m) => {
                if m.from != from || m.to != self_id {
                    return Err(format!(
                        "consensus message from {} to {} on the link of node {from}",
                        m.from, m.to
                    ));
                }
                ReplicaMsg::Consensus(m, permit)
            }
            PeerMessage::Forward {
                forward_id,
                command,
            } => {
                // The forwards already buffered behind it go in the same
                // message: one mailbox slot and one permit for the lot.
                let mut forwards = vec![(forward_id, command)];
                let mut next = Ok(None);
                while forwards.len() < FORWARDS_PER_MESSAGE_MAX {
                    match reader.try_read_buffered::<PeerMessage>() {
                        Ok(Some(PeerMessage::Forward {
                            forward_id,
                            command,
                        })) => forwards.push((forward_id, command)),
                        Ok(None) => break,
                        // Another kind of message, or a bad frame: after these.
                        other => {
                            next = other;
                            break;
                        }
                    }
                }
                let batch = ReplicaMsg::Forward {
                    from,
                    forwards,
                    gate: permit,
                };
                match next {
                    Ok(None) => batch,
                    Ok(Some(other)) => {
                        if replica.send_message(batch).is_err() {
                            return Ok(());
                        }
                        pending = Some(other);
                        continue;
                    }
                    Err(e) => {
                        // The forwards before the bad frame still count.
                        let _ = replica.send_message(batch);
                        return Err(e.to_string());
                    }
                }
            }
            PeerMessage::ForwardResult {
                forward_id,
                outcome,
            } => ReplicaMsg::ForwardResult {
                forward_id,
                outcome,
                gate: permit,
            },
            PeerMessage::SessionHeartbeats { sessions } => {
                if sessions.len() > HEARTBEAT_SESSIONS_MAX {
                    return Err(format!(
                        "{} sessions in one heartbeat batch",
                        sessions.len()
                    ));
                }
                ReplicaMsg::SessionHeartbeats {
                    sessions,
                    gate: permit,
                }
            }
        };
        if replica.send_message(msg).is_err() {
            return Ok(());
        }
    }
}
