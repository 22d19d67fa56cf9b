//! Proves that bad input is refused and counted, never a panic: messages from
//! unknown nodes or to other nodes, stale terms, absurd indexes, oversized or
//! malformed content, undecodable bytes, and a flood of random messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use corral_core::broadcast::{
    AppendResult, Body, DecodeError, Entry, EntryKind, Membership, Message, Node, PersistedState,
    Rejected, SnapshotMeta,
};
use support::cluster::{Cluster, test_config};
use support::sim::SimRng;

fn follower() -> Node {
    Node::new(
        test_config(2),
        PersistedState::bootstrap(Membership::with_voters([1, 2, 3])),
        2,
    )
    .unwrap()
}

fn msg(from: u64, to: u64, term: u64, body: Body) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

fn append(entries: Vec<Entry>, prev_index: u64, prev_term: u64) -> Body {
    Body::Append {
        prev_index,
        prev_term,
        entries,
        commit: 0,
    }
}

fn normal(index: u64, term: u64, len: usize) -> Entry {
    Entry {
        index,
        term,
        kind: EntryKind::Normal(Bytes::from(vec![1u8; len])),
    }
}

#[test]
fn each_kind_of_bad_message_is_refused_and_counted() {
    let mut n = follower();
    let heartbeat = Body::Heartbeat {
        commit: 0,
        read_round: 0,
    };
    let cases = [
        (msg(1, 5, 1, heartbeat.clone()), Rejected::WrongRecipient),
        (
            msg(1, 2, u64::MAX, heartbeat.clone()),
            Rejected::AbsurdIndex,
        ),
        (msg(2, 2, 1, heartbeat.clone()), Rejected::WrongRecipient),
        (msg(1, 2, 0, heartbeat), Rejected::StaleTerm),
        (
            msg(
                1,
                2,
                3,
                append(vec![normal(2, 3, 10), normal(4, 3, 10)], 1, 1),
            ),
            Rejected::Malformed,
        ),
        (
            msg(1, 2, 3, append(vec![normal(2, 4, 10)], 1, 1)),
            Rejected::Malformed,
        ),
        (
            msg(1, 2, 3, append(vec![normal(2, 3, 2 << 20)], 1, 1)),
            Rejected::Oversize,
        ),
        (
            msg(1, 2, 3, append(vec![normal(0, 3, 1)], u64::MAX, 1)),
            Rejected::AbsurdIndex,
        ),
        (
            msg(
                1,
                2,
                3,
                Body::Snapshot {
                    meta: SnapshotMeta::default(),
                    offset: 0,
                    total_bytes: 100,
                    data: Bytes::from(vec![0u8; 100]),
                },
            ),
            Rejected::Oversize,
        ),
        (
            msg(
                1,
                2,
                3,
                Body::Snapshot {
                    meta: SnapshotMeta {
                        index: 5,
                        term: 3,
                        membership: Membership::default(),
                    },
                    offset: 90,
                    total_bytes: 50,
                    data: Bytes::from_static(b"x"),
                },
            ),
            Rejected::AbsurdIndex,
        ),
    ];
    for (i, (m, why)) in cases.into_iter().enumerate() {
        assert_eq!(n.step(m), Err(why), "case {i}");
        n.check_invariants();
    }
    assert_eq!(n.rejects().get(Rejected::WrongRecipient), 2);
    assert_eq!(n.rejects().get(Rejected::Malformed), 2);
    assert_eq!(n.rejects().total(), 10);
}

#[test]
fn answers_to_questions_never_asked_are_refused_as_unknown() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let term = c.node(1).term();
    // Node 9 is no member: the leader keeps no progress for it.
    let stray = msg(9, 1, term, Body::HeartbeatResponse { read_round: 0 });
    assert_eq!(c.node_mut(1).step(stray), Err(Rejected::UnknownSender));
    assert_eq!(c.node(1).rejects().get(Rejected::UnknownSender), 1);
}

#[test]
fn a_stale_term_is_refused_after_a_newer_one() {
    let mut n = follower();
    n.step(msg(
        1,
        2,
        5,
        Body::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    ))
    .unwrap();
    let stale = msg(
        3,
        2,
        4,
        Body::Heartbeat {
            commit: 0,
            read_round: 0,
        },
    );
    assert_eq!(n.step(stale), Err(Rejected::StaleTerm));
    assert_eq!(n.rejects().get(Rejected::StaleTerm), 1);
}

#[test]
fn a_leader_refuses_acknowledgements_beyond_its_log() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let term = c.node(1).term();
    let bogus = msg(
        2,
        1,
        term,
        Body::AppendResponse(AppendResult::Success {
            match_index: 1_000_000,
        }),
    );
    assert_eq!(c.node_mut(1).step(bogus), Err(Rejected::AbsurdIndex));
    assert_eq!(c.node(1).rejects().get(Rejected::AbsurdIndex), 1);
}

#[test]
fn a_leader_rewriting_committed_entries_changes_nothing() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.propose(1, 3);
    c.tick_all(1);
    let committed = c.node(2).committed_index();
    let term = c.node(2).term();
    // A "leader" of the same term sends a different entry at a committed index.
    let rewrite = append(
        vec![normal(committed, term, 5)],
        committed - 1,
        c.node(2).term_at(committed - 1).unwrap(),
    );
    let before = c.node(2).entry(committed).cloned();
    // Below the commit index the append is answered with the commit index and
    // its entries are ignored: committed entries never change.
    c.node_mut(2).step(msg(1, 2, term, rewrite)).unwrap();
    assert_eq!(c.node(2).entry(committed).cloned(), before);
    assert_eq!(c.node(2).committed_index(), committed);
}

#[test]
fn undecodable_and_oversized_bytes_are_errors() {
    assert!(matches!(
        Message::decode(&[0xFF; 16], 1024),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        Message::decode(&[0u8; 2048], 1024),
        Err(DecodeError::TooLarge { .. })
    ));
    let m = msg(1, 2, 3, append(vec![normal(2, 3, 10)], 1, 1));
    assert_eq!(Message::decode(&m.encode(), 1024).unwrap(), m);
    // Truncations of a valid message never panic.
    let bytes = m.encode();
    for len in 0..bytes.len() {
        let _ = Message::decode(&bytes[..len], 1024);
    }
}

fn random_body(rng: &mut SimRng) -> Body {
    let mut num = || match rng.next_u64() % 4 {
        0 => 0,
        1 => u64::MAX,
        2 => rng.next_u64() % 8,
        _ => rng.next_u64(),
    };
    let (a, b, c) = (num(), num(), num());
    match a % 15 {
        0 => Body::PreVote {
            last_index: b,
            last_term: c,
        },
        1 => Body::PreVoteResponse {
            granted: b % 2 == 0,
        },
        2 => Body::Vote {
            last_index: b,
            last_term: c,
            transfer: b % 2 == 0,
        },
        3 => Body::VoteResponse {
            granted: c % 2 == 0,
        },
        4 => Body::Append {
            prev_index: b,
            prev_term: c,
            entries: (0..b % 3)
                .map(|k| normal(b.wrapping_add(k + 1), c % 4, 4))
                .collect(),
            commit: c,
        },
        5 => Body::AppendResponse(AppendResult::Success { match_index: b }),
        6 => Body::AppendResponse(AppendResult::Reject {
            rejected_index: b,
            conflict_index: c,
            conflict_term: Some(a),
        }),
        7 => Body::Heartbeat {
            commit: b,
            read_round: c,
        },
        8 => Body::HeartbeatResponse { read_round: b },
        9 => Body::Snapshot {
            meta: SnapshotMeta {
                index: b,
                term: c % 4,
                membership: Membership::with_voters([1, 2, 3]),
            },
            offset: c % 16,
            total_bytes: b % 32,
            data: Bytes::from(vec![0u8; (c % 8) as usize]),
        },
        10 => Body::SnapshotResponse {
            index: b,
            received_bytes: c,
        },
        11 => Body::TimeoutNow,
        12 => Body::Commit {
            prev_index: b,
            prev_term: c % 4,
            commit: a,
        },
        13 => Body::Persisted { index: b },
        _ => Body::ReadIndexResponse {
            index: b,
            context: Bytes::from_static(b"ctx"),
        },
    }
}

#[test]
fn a_flood_of_random_messages_never_panics_any_role() {
    let mut rng = SimRng::new(7);
    for round in 0..200 {
        let mut c = Cluster::new(&[1, 2, 3], &[]);
        if round % 2 == 0 {
            c.elect(1);
            c.propose(1, 3);
        }
        for _ in 0..100 {
            let to = rng.between(1, 3);
            let from = rng.between(0, 4);
            let term = if rng.chance(2) {
                u64::MAX - rng.between(0, 1)
            } else {
                rng.between(0, 6)
            };
            let m = msg(from, to, term, random_body(&mut rng));
            let _ = c.node_mut(to).step(m);
            c.node(to).check_invariants();
            if rng.chance(20) {
                c.pump();
            }
        }
    }
}
