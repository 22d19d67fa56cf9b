//! Pins, one test each, the core bugs the simulator found, reproduced directly
//! so they stay pinned even when the simulator's scenarios drift (the seeds
//! themselves are replayed in `sim_regressions.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use std::collections::BTreeMap;

use corral_core::broadcast::{
    AppendResult, Body, ConfChange, Entry, Membership, Message, Node, PersistedState, Role,
    SnapshotMeta,
};
use support::cluster::{Cluster, append_durably, bootstrapped, test_config};

fn msg(from: u64, to: u64, term: u64, body: Body) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

/// Seeds 31, 44, 117, 193: a node added after the start computed its
/// membership from an empty base and elected itself alone.
#[test]
fn regression_joining_node_learns_the_founding_membership() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.add_joining(4);
    c.elect(1);
    c.node_mut(1)
        .propose_conf_change(ConfChange::AddVoter(4))
        .unwrap();
    c.pump();
    c.tick_all(2);
    let voters = &c.node(4).membership().voters;
    assert_eq!(voters.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
}

/// Seeds 176, 55: a node that cannot campaign restarted its timer forever, so
/// its leader lease never ran out and it refused every pre-vote.
#[test]
fn regression_a_non_voter_lease_runs_out() {
    let mut n = Node::new(test_config(4), PersistedState::default(), 4).unwrap();
    n.step(msg(
        1,
        4,
        2,
        Body::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ))
    .unwrap();
    let _ = n.ready();
    for _ in 0..30 {
        n.tick();
    }
    n.step(msg(
        2,
        4,
        3,
        Body::PreVote {
            last_index: 5,
            last_term: 2,
        },
    ))
    .unwrap();
    let ready = n.ready();
    assert_eq!(
        ready.messages[0].body,
        Body::PreVoteResponse { granted: true }
    );
}

/// Seed 42: a repeated vote request marked durable state changed without
/// changing it; no persist batch followed and every later answer stayed held.
#[test]
fn regression_a_repeated_vote_is_answered() {
    let mut n = Node::new(
        test_config(2),
        PersistedState::bootstrap(Membership::with_voters([1, 2, 3])),
        2,
    )
    .unwrap();
    let vote = msg(
        1,
        2,
        5,
        Body::Vote {
            last_index: 1,
            last_term: 1,
            transfer: false,
        },
    );
    for round in 0..2 {
        n.step(vote.clone()).unwrap();
        let mut answered = false;
        for _ in 0..3 {
            let ready = n.ready();
            answered |= ready
                .messages
                .iter()
                .any(|m| m.body == Body::VoteResponse { granted: true });
            if let Some(p) = ready.persist {
                n.persisted(p.token);
            }
        }
        assert!(answered, "vote request {round} never answered");
    }
}

/// Seeds 308, 135, 4876, 6909: a node refused requests from nodes its own view
/// of the configuration did not name (a leader or candidate added while it was
/// cut off), and never converged.
#[test]
fn regression_requests_from_nodes_added_unseen_are_heard() {
    let mut n = Node::new(
        test_config(1),
        PersistedState::bootstrap(Membership::with_voters([1, 2, 3])),
        1,
    )
    .unwrap();
    n.step(msg(
        7,
        1,
        4,
        Body::PreVote {
            last_index: 50,
            last_term: 3,
        },
    ))
    .unwrap();
    assert_eq!(
        n.ready().messages[0].body,
        Body::PreVoteResponse { granted: true }
    );
    n.step(msg(
        7,
        1,
        4,
        Body::Heartbeat {
            commit: 1,
            read_round: 0,
        },
    ))
    .unwrap();
    assert_eq!(n.leader(), Some(7));
}

/// Seed 155: the leader restarted a snapshot transfer whenever it compacted
/// again, so under load a lagging follower never caught up.
#[test]
fn regression_a_snapshot_transfer_survives_a_new_compaction() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.isolated.insert(3);
    c.propose(1, 20);
    let first = c.node(1).applied_index();
    c.node_mut(1)
        .compact(first, Bytes::from(vec![1u8; 120]))
        .unwrap();
    c.isolated.clear();
    c.node_mut(1).tick();
    // Let a few chunks through, then compact again mid-transfer.
    let mut chunks = 0;
    while chunks < 3 && c.step_once() {
        chunks = c.count_sent(Cluster::is_snapshot_chunk);
    }
    c.propose(1, 5);
    let second = c.node(1).applied_index();
    c.node_mut(1)
        .compact(second, Bytes::from(vec![2u8; 120]))
        .unwrap();
    c.pump();
    c.tick_all(3);
    // The first transfer ran to its last byte although a newer snapshot existed.
    let completed_first = c.sent.iter().any(|m| {
        matches!(&m.body, Body::Snapshot { meta, offset, data, total_bytes }
            if meta.index == first && offset + data.len() as u64 == *total_bytes)
    });
    assert!(
        completed_first,
        "the transfer of snapshot {first} was abandoned"
    );
    assert_eq!(c.node(3).applied_index(), c.node(1).applied_index());
    assert_eq!(c.node(1).role(), Role::Leader);
}

/// Seed 1203 (50,000 seeds x 3,000 steps): a follower restarted in the middle
/// of a snapshot transfer and lost its partial copy; the leader ignored its
/// lower byte count as a late duplicate and resent the same far chunk forever.
#[test]
fn regression_a_snapshot_transfer_resumes_after_the_follower_restarts() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.isolated.insert(3);
    c.propose(1, 20);
    let applied = c.node(1).applied_index();
    c.node_mut(1)
        .compact(applied, Bytes::from(vec![1u8; 120]))
        .unwrap();
    c.isolated.clear();
    c.node_mut(1).tick();
    // Deliver one message at a time (ticking the leader when all is quiet, so
    // it notices the lost appends) until six chunks went out.
    let mut chunks = 0;
    for _ in 0..10_000 {
        if chunks >= 6 {
            break;
        }
        if !c.step_once() {
            c.node_mut(1).tick();
        }
        chunks = c.count_sent(Cluster::is_snapshot_chunk);
    }
    assert!(chunks >= 6);
    // Node 3 restarts having persisted nothing since it was founded.
    let fresh = Node::new(
        test_config(3),
        PersistedState::bootstrap(Membership::with_voters([1, 2, 3])),
        3,
    )
    .unwrap();
    c.nodes.insert(3, fresh);
    // Delayed copies of the first two chunks reach the restarted node first, so
    // it holds fewer bytes than the leader was told before the restart.
    let early: Vec<Message> = c
        .sent
        .iter()
        .filter(|m| m.to == 3 && matches!(m.body, Body::Snapshot { offset, .. } if offset < 16))
        .take(2)
        .cloned()
        .collect();
    for m in early {
        let _ = c.node_mut(3).step(m);
    }
    c.pump();
    c.tick_all(20);
    assert_eq!(c.node(3).snapshot_meta().index, applied);
    assert_eq!(c.node(3).applied_index(), c.node(1).applied_index());
}

/// CI, torn WAL tail: a follower restarted with a log shorter than it had
/// acknowledged (its last record cut by a crash). The leader took its rejects
/// as stale, since they were at or below the old match, and probed the same
/// index forever; the follower never caught up.
#[test]
fn regression_a_follower_that_lost_its_log_tail_catches_up() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    for _ in 0..5 {
        c.propose(1, 1);
    }
    let last = c.node(1).last_index();
    assert_eq!(c.node(3).last_index(), last);
    // Every entry node 3 received, as its storage held them; the last two are
    // lost when it restarts.
    let mut persisted = PersistedState::bootstrap(Membership::with_voters([1, 2, 3]));
    let mut received: BTreeMap<u64, Entry> = BTreeMap::new();
    for m in c.sent.iter().filter(|m| m.to == 3) {
        if let Body::Append { entries, .. } = &m.body {
            for e in entries {
                received.insert(e.index, e.clone());
            }
        }
    }
    persisted.entries.extend(
        received
            .into_values()
            .filter(|e| e.index > 1 && e.index < last - 1),
    );
    persisted.hard_state.term = c.node(1).term();
    persisted.hard_state.vote = Some(1);
    persisted.hard_state.commit = last;
    let restarted = Node::new(test_config(3), persisted, 3).unwrap();
    assert_eq!(restarted.last_index(), last - 2);
    c.nodes.insert(3, restarted);

    c.tick_all(5);
    c.propose(1, 1);
    c.tick_all(5);
    assert_eq!(c.node(3).last_index(), c.node(1).last_index());
    assert_eq!(c.node(3).applied_index(), c.node(1).applied_index());
}

/// Seed 1190016 (200,000 seeds x 4,000 steps): a follower whose log already
/// held a snapshot's last entry, and acknowledged entries after it, installed
/// the snapshot and dropped those entries. They had counted in a commit, so a
/// leader elected without them lost committed entries. Now it keeps its log
/// (Raft's InstallSnapshot rule 6), commits up to the snapshot and answers
/// with that index.
#[test]
fn regression_a_snapshot_the_log_already_holds_keeps_the_entries_after_it() {
    let mut n = bootstrapped(2);
    let acks = append_durably(&mut n, 6);
    assert!(
        acks.iter()
            .any(|m| m.body == Body::AppendResponse(AppendResult::Success { match_index: 6 })),
        "entries 2..=6 acknowledged: {acks:?}"
    );
    // A late snapshot at 4 (of term 3, as the log holds it), whole in one chunk.
    let chunk = Body::Snapshot {
        meta: SnapshotMeta {
            index: 4,
            term: 3,
            membership: Membership::with_voters([1, 2, 3]),
        },
        offset: 0,
        total_bytes: 4,
        data: Bytes::from_static(b"snap"),
    };
    n.step(msg(1, 2, 3, chunk)).unwrap();
    assert_eq!(n.last_index(), 6, "the acknowledged entries stay");
    assert_eq!(n.term_at(6), Some(3));
    assert_eq!(n.committed_index(), 4, "a snapshot holds committed entries");
    let ready = n.ready();
    assert!(ready.apply_snapshot.is_none(), "nothing to restore");
    assert!(
        ready.messages.iter().any(|m| m.to == 1
            && m.body == Body::AppendResponse(AppendResult::Success { match_index: 4 })),
        "the leader learns the index it is sure of: {:?}",
        ready.messages
    );
}

/// Seed 1163353 (200,000 seeds x 4,000 steps): with six voters, four other
/// votes elected a candidate before its own term and vote were durable. It
/// sent entries of that term, crashed, restarted in the term before, won the
/// same term again and wrote other entries at the same indexes. Now a
/// candidate leads only once its own vote is in, which waits for the write.
#[test]
fn regression_a_candidate_leads_only_once_its_term_is_durable() {
    let mut n = Node::new(
        test_config(1),
        PersistedState::bootstrap(Membership::with_voters([1, 2, 3, 4, 5])),
        1,
    )
    .unwrap();
    // Tick (making everything durable) until the pre-vote goes out.
    let mut pre_vote_term = None;
    for _ in 0..100 {
        n.tick();
        let ready = n.ready();
        if let Some(p) = ready.persist {
            n.persisted(p.token);
        }
        if let Some(m) = ready
            .messages
            .iter()
            .find(|m| matches!(m.body, Body::PreVote { .. }))
        {
            pre_vote_term = Some(m.term);
            break;
        }
    }
    let term = pre_vote_term.expect("a pre-vote within 100 ticks");
    for from in [2, 3, 4] {
        let _ = n.step(msg(from, 1, term, Body::PreVoteResponse { granted: true }));
    }
    assert_eq!((n.role(), n.term()), (Role::Candidate, term));
    let ready = n.ready();
    let write = ready.persist.expect("the new term and vote to persist");
    // Three other votes are a majority of five, but our own is not durable.
    for from in [2, 3, 4] {
        let _ = n.step(msg(from, 1, term, Body::VoteResponse { granted: true }));
    }
    let _ = n.ready();
    assert_eq!(
        n.role(),
        Role::Candidate,
        "no leader before its term is durable"
    );
    n.persisted(write.token);
    let _ = n.ready();
    assert_eq!((n.role(), n.term()), (Role::Leader, term));
}
