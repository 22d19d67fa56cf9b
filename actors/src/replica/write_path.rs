//! The write path: proposing as leader, forwarding to the leader as a
//! follower, waiting for a leader, and answering writers once their entry is
//! applied (with its result, or ConnectionLoss when the entry was lost).

use super::*;

/// [`LogCommand`] borrowing its command: the same bytes on the wire.
#[derive(Serialize)]
struct LogCommandRef<'a> {
    time_ms: i64,
    command: &'a Command,
}

impl ReplicaState {
    pub(super) fn request_timeout_ticks(&self) -> u64 {
        // Long enough for a few elections; a client retries after it.
        let ticks = 10_000 / self.spec.tick_ms.max(1);
        ticks.max(u64::from(self.spec.election_timeout_ticks) * 4)
    }

    /// Proposes a command as leader; returns its (index, term).
    pub(super) fn propose(&mut self, command: Command) -> Result<(u64, u64), ProposeError> {
        self.propose_ref(&command)
    }

    /// [`Self::propose`] without taking the command: a local write keeps it
    /// for a retry and need not copy its data.
    pub(super) fn propose_ref(&mut self, command: &Command) -> Result<(u64, u64), ProposeError> {
        if self.node.role() != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.node.leader(),
            });
        }
        let entry = LogCommandRef {
            time_ms: now_ms().max(self.last_time_ms),
            command,
        };
        let bytes = postcard::to_allocvec(&entry).unwrap_or_default();
        let index = self.node.propose(vec![Bytes::from(bytes)])?;
        super::replica_metrics::hot_metrics().proposals.increment(1);
        Ok((index, self.node.term()))
    }

    /// A local session's command: propose it, forward it, or keep it until a leader is known.
    pub(super) fn submit(&mut self, d: Deferred) {
        if self.shutdown.is_some() && self.node.role() == Role::Leader {
            // Transferring: the next leader takes it.
            self.defer(d);
            return;
        }
        match self.node.role() {
            Role::Leader => match self.propose_ref(&d.command) {
                Ok((index, term)) => {
                    self.waiters.entry(index).or_default().push(Waiter {
                        term,
                        reply: d.reply,
                        deadline_tick: d.deadline_tick,
                    });
                }
                Err(ProposeError::Transferring | ProposeError::NotLeader { .. }) => self.defer(d),
                Err(ProposeError::Backpressure) => self.answer(
                    d.reply,
                    Err(zk_error(ErrorCode::Throttled, "the leader is busy")),
                ),
                Err(e) => self.answer(
                    d.reply,
                    Err(zk_error(ErrorCode::BadArguments, &e.to_string())),
                ),
            },
            _ => match self.node.leader() {
                Some(leader) if leader != self.spec.id && self.peers.contains_key(&leader) => {
                    let forward_id = self.next_forward_id;
                    self.next_forward_id += 1;
                    let msg = PeerMessage::Forward {
                        forward_id,
                        command: d.command.clone(),
                    };
                    if self.send_peer(leader, msg) {
                        self.forwards.insert(forward_id, d);
                    } else {
                        self.defer(d);
                    }
                }
                _ => self.defer(d),
            },
        }
    }

    pub(super) fn defer(&mut self, d: Deferred) {
        if self.deferred.len() >= DEFERRED_MAX {
            self.answer(
                d.reply,
                Err(zk_error(
                    ErrorCode::Throttled,
                    "too many requests wait for a leader",
                )),
            );
        } else {
            self.deferred.push_back(d);
        }
    }

    pub(super) fn answer(&self, reply: RpcReplyPort<Submitted>, result: Result<Response, ZkError>) {
        let zxid = self.tree.data().last_zxid();
        // The session may have gone: nobody to answer.
        let _ = reply.send(Submitted { zxid, result });
    }

    pub(super) fn on_forward_result(&mut self, forward_id: u64, outcome: ForwardOutcome) {
        let Some(d) = self.forwards.remove(&forward_id) else {
            return;
        };
        match outcome {
            ForwardOutcome::Proposed { zxid, term } => {
                if zxid <= self.node.applied_index() {
                    // Applied in index order, so `recent` is sorted by index.
                    let at = self.recent.partition_point(|(i, _, _)| *i < zxid);
                    let found = self
                        .recent
                        .get(at)
                        .filter(|(i, _, _)| *i == zxid)
                        .map(|(_, t, r)| (*t, r.clone()));
                    let result = match found {
                        Some((t, r)) if t == term => r,
                        _ => Err(zk_error(
                            ErrorCode::ConnectionLoss,
                            "write lost in a leader change",
                        )),
                    };
                    let _ = d.reply.send(Submitted {
                        zxid: i64::try_from(zxid).unwrap_or(i64::MAX),
                        result,
                    });
                } else {
                    self.waiters.entry(zxid).or_default().push(Waiter {
                        term,
                        reply: d.reply,
                        deadline_tick: d.deadline_tick,
                    });
                }
            }
            ForwardOutcome::NotLeader { .. } | ForwardOutcome::Busy => self.defer(d),
            ForwardOutcome::Refused { reason } => {
                self.answer(d.reply, Err(zk_error(ErrorCode::BadArguments, &reason)));
            }
        }
    }

    /// Queues `msg` for peer `to`; false if there is no such peer or its queue is full.
    pub(super) fn send_peer(&self, to: NodeId, msg: PeerMessage) -> bool {
        let Some(queue) = self.peers.get(&to) else {
            return false;
        };
        match queue.try_send(msg) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("corral_peer_dropped_messages_total").increment(1);
                false
            }
        }
    }

    pub(super) fn answer_waiters(&mut self, results: Vec<(u64, u64, Result<Response, ZkError>)>) {
        for (index, term, result) in results {
            if let Some(waiters) = self.waiters.remove(&index) {
                for w in waiters {
                    let result = if w.term == term {
                        result.clone()
                    } else {
                        Err(zk_error(
                            ErrorCode::ConnectionLoss,
                            "write lost in a leader change",
                        ))
                    };
                    let _ = w.reply.send(Submitted {
                        zxid: i64::try_from(index).unwrap_or(i64::MAX),
                        result,
                    });
                }
            }
            if self.recent.len() >= RECENT_RESULTS_MAX {
                self.recent.pop_front();
            }
            self.recent.push_back((index, term, result));
        }
        // Entries skipped by a snapshot: their writers cannot learn the result.
        let applied = self.node.applied_index();
        while let Some(entry) = self.waiters.first_entry() {
            if *entry.key() > applied {
                break;
            }
            for w in entry.remove() {
                self.answer(
                    w.reply,
                    Err(zk_error(
                        ErrorCode::ConnectionLoss,
                        "write outcome unknown (snapshot installed)",
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use corral_core::tree::Request;

    use super::*;

    #[test]
    fn a_borrowed_log_command_encodes_as_the_owned_one() {
        let command = Command::Client {
            session: 7,
            request: Request::SetData {
                path: "/a/b".into(),
                data: vec![1, 2, 3],
                version: -1,
            },
        };
        let by_ref = postcard::to_allocvec(&LogCommandRef {
            time_ms: 42,
            command: &command,
        })
        .unwrap();
        let owned = postcard::to_allocvec(&LogCommand {
            time_ms: 42,
            command,
        })
        .unwrap();
        assert_eq!(by_ref, owned);
        let decoded: LogCommand = postcard::from_bytes(&by_ref).unwrap();
        assert_eq!(decoded.time_ms, 42);
    }
}
