//! The write path: proposing as leader, forwarding to the leader as a
//! follower, waiting for a leader, and answering writers once their entry is
//! applied (with its result, or ConnectionLoss when the entry was lost).

use super::*;
use crate::exact_encode::encode_exact;

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

    /// Proposes a follower's forwarded command; tells the follower at once
    /// only if it was not proposed (otherwise it learns from the entry).
    pub(super) fn propose_forward(&mut self, from: NodeId, forward_id: u64, command: &Command) {
        let origin = EntryOrigin {
            node: from,
            forward_id,
        };
        let outcome = match self.propose_ref(command, Some(origin)) {
            Ok((index, _)) => {
                self.note_forwarded(from, index);
                return;
            }
            Err(ProposeError::NotLeader { leader }) => ForwardOutcome::NotLeader { leader },
            Err(ProposeError::Backpressure | ProposeError::Transferring) => ForwardOutcome::Busy,
            Err(e) => ForwardOutcome::Refused {
                reason: e.to_string(),
            },
        };
        self.send_peer(
            from,
            PeerMessage::ForwardResult {
                forward_id,
                outcome,
            },
        );
    }

    /// Proposes a command as leader; returns its (index, term).
    pub(super) fn propose(&mut self, command: Command) -> Result<(u64, u64), ProposeError> {
        self.propose_ref(&command, None)
    }

    /// [`Self::propose`] without taking the command (a local write keeps it
    /// for a retry and need not copy its data), naming the follower forward it
    /// carries if any.
    pub(super) fn propose_ref(
        &mut self,
        command: &Command,
        origin: Option<EntryOrigin>,
    ) -> Result<(u64, u64), ProposeError> {
        if self.node.role() != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.node.leader(),
            });
        }
        let entry = LogCommandRef {
            time_ms: now_ms().max(self.last_time_ms),
            command,
        };
        // A tuple encodes as its fields in turn: the origin follows the command.
        let bytes = match origin {
            Some(origin) => encode_exact(&(&entry, origin)),
            None => encode_exact(&entry),
        };
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
            Role::Leader => match self.propose_ref(&d.command, None) {
                Ok((index, term)) => self.wait_for(Waiter {
                    index,
                    term,
                    reply: d.reply,
                    deadline_tick: d.deadline_tick,
                }),
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
            // From a leader that does not name forwards in its entries.
            ForwardOutcome::Proposed { zxid, term } => {
                if zxid <= self.node.applied_index() {
                    self.answer(
                        d.reply,
                        Err(zk_error(
                            ErrorCode::ConnectionLoss,
                            "write outcome unknown (applied before the leader's answer)",
                        )),
                    );
                } else {
                    self.wait_for(Waiter {
                        index: zxid,
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
        let epoch = self.leader_epoch.get();
        match queue.try_send(crate::peer::Outgoing { epoch, msg }) {
            Ok(()) => true,
            Err(_) => {
                metrics::counter!("corral_peer_dropped_messages_total").increment(1);
                false
            }
        }
    }

    /// Queues a writer for the entry at its index, keeping `waiters` in index order.
    pub(super) fn wait_for(&mut self, waiter: Waiter) {
        // Proposals come in index order, so this is nearly always the back.
        let at = self.waiters.partition_point(|w| w.index <= waiter.index);
        self.waiters.insert(at, waiter);
    }

    /// Answers the writers of applied entries, with the entry's result or
    /// ConnectionLoss when another term's entry took their index.
    pub(super) fn answer_waiters(&mut self, results: Vec<Applied>) {
        for Applied {
            index,
            term,
            result,
            forward,
        } in results
        {
            self.answer_skipped_waiters(index.saturating_sub(1));
            let zxid = i64::try_from(index).unwrap_or(i64::MAX);
            // Every reader but the last gets a copy; the last takes the result.
            let mut last: Option<RpcReplyPort<Submitted>> = forward;
            while let Some(w) = self.waiters.front().filter(|w| w.index == index) {
                let same_term = w.term == term;
                let Some(w) = self.waiters.pop_front() else {
                    break;
                };
                if !same_term {
                    let _ = w.reply.send(Submitted {
                        zxid,
                        result: Err(zk_error(
                            ErrorCode::ConnectionLoss,
                            "write lost in a leader change",
                        )),
                    });
                } else if let Some(earlier) = last.replace(w.reply) {
                    let _ = earlier.send(Submitted {
                        zxid,
                        result: result.clone(),
                    });
                }
            }
            if let Some(reply) = last {
                let _ = reply.send(Submitted { zxid, result });
            }
        }
        self.answer_skipped_waiters(self.node.applied_index());
    }

    /// Answers the writers of entries at or below `index` still waiting: a
    /// snapshot skipped their entries, so they cannot learn the result.
    fn answer_skipped_waiters(&mut self, index: u64) {
        while self.waiters.front().is_some_and(|w| w.index <= index) {
            if let Some(w) = self.waiters.pop_front() {
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

    #[test]
    fn an_entry_names_its_forward_after_the_command_and_older_readers_ignore_it() {
        let command = Command::Client {
            session: 9,
            request: Request::Delete {
                path: "/q".into(),
                version: 3,
            },
        };
        let plain = postcard::to_allocvec(&LogCommandRef {
            time_ms: 5,
            command: &command,
        })
        .unwrap();
        let origin = EntryOrigin {
            node: 2,
            forward_id: u64::MAX >> 1,
        };
        let named = postcard::to_extend(&origin, plain.clone()).unwrap();
        assert!(named.starts_with(&plain) && named.len() > plain.len());
        // A node that knows no origins reads the same command.
        let old: LogCommand = postcard::from_bytes(&named).unwrap();
        assert_eq!(old.command, command);
        // A node that does finds it after the command, and none in a plain entry.
        let (_, rest) = postcard::take_from_bytes::<LogCommand>(&named).unwrap();
        assert_eq!(postcard::from_bytes::<EntryOrigin>(rest).ok(), Some(origin));
        let (_, rest) = postcard::take_from_bytes::<LogCommand>(&plain).unwrap();
        assert!(postcard::from_bytes::<EntryOrigin>(rest).is_err());
    }
}
