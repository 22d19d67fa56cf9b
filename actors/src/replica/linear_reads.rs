//! Linearizable reads by ReadIndex: the leader confirms, by a heartbeat round
//! acknowledged by a quorum, that the commit index it saw when the read arrived
//! is still the newest; the session then reads once its node has applied that
//! far. No log entry, no fsync.

use super::*;

/// Reads waiting for their index at most; more are refused as Throttled.
const READS_PENDING_MAX: usize = 65_536;

/// A read waiting for its confirmed index.
pub(super) struct PendingRead {
    reply: RpcReplyPort<Result<u64, ZkError>>,
    deadline_tick: u64,
}

impl ReplicaState {
    /// Starts a ReadIndex round for one linearizable read.
    pub(super) fn start_read(&mut self, reply: RpcReplyPort<Result<u64, ZkError>>) {
        if self.reads.len() >= READS_PENDING_MAX {
            let _ = reply.send(Err(zk_error(
                ErrorCode::Throttled,
                "too many reads pending",
            )));
            return;
        }
        let id = self.next_read_id;
        self.next_read_id += 1;
        match self
            .node
            .read_index(Bytes::copy_from_slice(&id.to_be_bytes()))
        {
            Ok(()) => {
                let deadline_tick = self.ticks + u64::from(self.spec.election_timeout_ticks) * 2;
                self.reads.insert(
                    id,
                    PendingRead {
                        reply,
                        deadline_tick,
                    },
                );
            }
            Err(e) => {
                let _ = reply.send(Err(zk_error(
                    ErrorCode::ConnectionLoss,
                    &format!("linearizable read: {e}"),
                )));
            }
        }
    }

    /// Answers the reads whose index the leader confirmed.
    pub(super) fn answer_reads(&mut self, states: Vec<corral_core::broadcast::ReadState>) {
        for state in states {
            let Ok(bytes) = <[u8; 8]>::try_from(state.context.as_ref()) else {
                continue;
            };
            if let Some(read) = self.reads.remove(&u64::from_be_bytes(bytes)) {
                let _ = read.reply.send(Ok(state.index));
            }
        }
    }

    /// Fails the reads whose round was lost (a leader change drops them).
    pub(super) fn expire_reads(&mut self) {
        let now = self.ticks;
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.deadline_tick <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(read) = self.reads.remove(&id) {
                let _ = read.reply.send(Err(zk_error(
                    ErrorCode::ConnectionLoss,
                    "linearizable read not confirmed by a quorum in time",
                )));
            }
        }
    }
}
