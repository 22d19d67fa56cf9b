//! Snapshots: compaction when the state machine hands one in, and chunked
//! InstallSnapshot to followers whose next entry is compacted away.
//!
//! The leader streams one chunk at a time and moves on when the follower
//! acknowledges the bytes it holds; a lost chunk or acknowledgement is resent on
//! the next heartbeat answer. The follower assembles chunks in order, bounded by
//! `max_snapshot_bytes`, and installs the snapshot when the last one arrives.

use bytes::{Bytes, BytesMut};

use super::message::{AppendResult, Body, Snapshot, SnapshotMeta};
use super::progress::ReplicationState;
use super::rejects::Rejected;
use super::{Node, NodeId};

/// Why a snapshot could not be used for compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// Not above the current snapshot, or not yet applied.
    #[error("snapshot index {index} outside (snapshot {snapshot_index}, applied {applied}]")]
    OutOfRange {
        /// Requested index.
        index: u64,
        /// Current snapshot index.
        snapshot_index: u64,
        /// Applied index.
        applied: u64,
    },
}

/// A snapshot being received from the leader.
#[derive(Debug)]
pub(crate) struct IncomingSnapshot {
    meta: SnapshotMeta,
    total_bytes: u64,
    buf: BytesMut,
}

impl Node {
    /// The state machine took a snapshot of everything up to `index` (≤ the
    /// applied index) and made it durable: compact the log below it. The caller
    /// may drop its stored entries up to `index` afterwards.
    pub fn compact(&mut self, index: u64, data: Bytes) -> Result<(), CompactError> {
        let (snapshot_index, applied) = (self.log.snap_index(), self.log.applied);
        if index <= snapshot_index || index > applied {
            return Err(CompactError::OutOfRange {
                index,
                snapshot_index,
                applied,
            });
        }
        let membership = self
            .conf_entries
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or_else(|| self.snapshot.meta.membership.clone(), |(_, m)| m.clone());
        self.log.compact(index);
        self.conf_entries.retain(|(i, _)| *i > index);
        let term = self.log.term_at(index).unwrap_or(0);
        self.snapshot = Snapshot {
            meta: SnapshotMeta {
                index,
                term,
                membership,
            },
            data,
        };
        self.debug_check();
        Ok(())
    }

    /// Leader: switches `id` to streaming the current snapshot, from the start.
    pub(crate) fn start_snapshot_transfer(&mut self, id: NodeId) {
        let snapshot = self.snapshot.clone();
        if let Some(pr) = self.progress.get_mut(&id) {
            pr.become_snapshot(snapshot);
        }
        self.send_snapshot_chunk(id, 0);
    }

    /// Leader: resends from what `id` acknowledged (after a loss).
    pub(crate) fn resend_snapshot_chunk(&mut self, id: NodeId) {
        let Some(pr) = self.progress.get(&id) else {
            return;
        };
        if let ReplicationState::Snapshot { acked_bytes, .. } = pr.state {
            self.send_snapshot_chunk(id, acked_bytes);
        }
    }

    /// Leader: sends the chunk at `offset` of the snapshot pinned for `id`.
    fn send_snapshot_chunk(&mut self, id: NodeId, offset: u64) {
        let Some(snapshot) = self.progress.get(&id).and_then(|p| p.snapshot.as_ref()) else {
            return;
        };
        let total_bytes = snapshot.data.len() as u64;
        let lo = usize::try_from(offset.min(total_bytes)).unwrap_or(usize::MAX);
        let len = usize::try_from(self.cfg.snapshot_chunk_bytes).unwrap_or(usize::MAX);
        let hi = lo.saturating_add(len).min(snapshot.data.len());
        let body = Body::Snapshot {
            meta: snapshot.meta.clone(),
            offset,
            total_bytes,
            data: snapshot.data.slice(lo..hi),
        };
        let msg = self.msg(id, body);
        self.send(msg);
    }

    /// Leader: the follower holds `received_bytes` of snapshot `index`.
    pub(crate) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        index: u64,
        received_bytes: u64,
    ) -> Result<(), Rejected> {
        let Some(pr) = self.progress.get_mut(&from) else {
            return Err(Rejected::UnknownSender);
        };
        let (ReplicationState::Snapshot { index: sending, .. }, Some(snapshot)) =
            (pr.state, pr.snapshot.as_ref())
        else {
            return Err(Rejected::Unexpected);
        };
        let total_bytes = snapshot.data.len() as u64;
        if index != sending {
            return Err(Rejected::Unexpected);
        }
        if received_bytes > total_bytes {
            return Err(Rejected::AbsurdIndex);
        }
        // The follower's count wins even when lower: a follower that restarted
        // lost its partial snapshot. A late duplicate only costs one resend.
        pr.state = ReplicationState::Snapshot {
            index,
            acked_bytes: received_bytes,
        };
        if received_bytes < total_bytes || received_bytes == 0 {
            self.send_snapshot_chunk(from, received_bytes);
        }
        Ok(())
    }

    /// Follower: one chunk of a snapshot from the leader.
    pub(crate) fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        offset: u64,
        total_bytes: u64,
        data: Bytes,
    ) -> Result<(), Rejected> {
        let holds_its_last_entry = self.log.term_at(meta.index) == Some(meta.term);
        if meta.index <= self.log.committed || holds_its_last_entry {
            // Already have all of it: a snapshot holds only committed
            // entries, and by log matching our log equals the leader's up to
            // its last one. Keep the entries after it (acknowledged ones may
            // count in a commit; Raft's InstallSnapshot rule 6); tell the
            // leader where we are for sure, and it probes on from there.
            self.incoming_snapshot.take_if(|s| s.meta == meta);
            self.log.commit_to(meta.index);
            let result = AppendResult::Success {
                match_index: self.log.committed,
            };
            let reply = self.msg(from, Body::AppendResponse(result));
            self.send(reply);
            return Ok(());
        }
        let fresh = self
            .incoming_snapshot
            .as_ref()
            .is_none_or(|s| s.meta != meta || s.total_bytes != total_bytes);
        if fresh {
            if offset != 0 {
                self.ack_snapshot(from, meta.index, 0);
                return Ok(());
            }
            self.incoming_snapshot = Some(IncomingSnapshot {
                meta,
                total_bytes,
                buf: BytesMut::new(),
            });
        }
        let Some(incoming) = self.incoming_snapshot.as_mut() else {
            return Ok(());
        };
        let index = incoming.meta.index;
        if offset == incoming.buf.len() as u64 {
            incoming.buf.extend_from_slice(&data);
        }
        let received = incoming.buf.len() as u64;
        if received < incoming.total_bytes {
            self.ack_snapshot(from, index, received);
            return Ok(());
        }
        if let Some(done) = self.incoming_snapshot.take() {
            self.install_snapshot(from, done);
        }
        Ok(())
    }

    fn ack_snapshot(&mut self, to: NodeId, index: u64, received_bytes: u64) {
        let reply = self.msg(
            to,
            Body::SnapshotResponse {
                index,
                received_bytes,
            },
        );
        self.send(reply);
    }

    /// Follower: replaces the log and state machine with a complete snapshot.
    fn install_snapshot(&mut self, from: NodeId, incoming: IncomingSnapshot) {
        let meta = incoming.meta;
        let snapshot = Snapshot {
            data: incoming.buf.freeze(),
            meta,
        };
        self.log
            .reset_to_snapshot(snapshot.meta.index, snapshot.meta.term);
        self.conf_entries.clear();
        self.snapshot = snapshot.clone();
        self.rebuild_membership_from(snapshot.meta.index + 1);
        self.durable_snapshot(snapshot.clone());
        self.apply_snapshot = Some(snapshot);
        self.mark_durable_change();
        let result = AppendResult::Success {
            match_index: self.log.last_index(),
        };
        let reply = self.msg(from, Body::AppendResponse(result));
        self.send(reply);
    }
}
