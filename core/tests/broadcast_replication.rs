//! Proves replication behaviours of the broadcast core in a small in-memory
//! cluster: commit through a quorum, snapshots streamed in chunks to a follower
//! behind the compacted log, flow control capping appends in flight, and fast
//! backtracking over a diverged follower.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_core::broadcast::{Body, Role};
use support::cluster::Cluster;

#[test]
fn entries_commit_on_a_quorum_and_apply_everywhere() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let last = c.propose(1, 10);
    for id in [1, 2, 3] {
        c.tick_all(1);
        assert_eq!(c.node(id).committed_index(), last, "node {id}");
        assert_eq!(c.applied[&id].len(), 10, "node {id}");
    }
}

#[test]
fn a_minority_cannot_commit() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let before = c.node(1).committed_index();
    c.isolated.extend([2, 3]);
    let last = c.propose(1, 3);
    assert!(c.node(1).committed_index() < last);
    assert_eq!(c.node(1).committed_index(), before);
}

#[test]
fn a_follower_behind_the_snapshot_gets_it_in_chunks_and_catches_up() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.isolated.insert(3);
    c.propose(1, 20);
    let applied = c.node(1).applied_index();
    // 40 bytes of state with 8-byte chunks: five chunks at least.
    c.node_mut(1)
        .compact(applied, bytes::Bytes::from(vec![7u8; 40]))
        .unwrap();
    c.node_mut(2)
        .compact(applied, bytes::Bytes::from(vec![7u8; 40]))
        .unwrap();
    c.isolated.clear();
    c.tick_all(3);
    c.propose(1, 1);
    c.tick_all(2);
    assert!(
        c.count_sent(Cluster::is_snapshot_chunk) >= 5,
        "snapshot not chunked"
    );
    assert_eq!(c.node(3).snapshot_meta().index, applied);
    assert_eq!(c.node(3).applied_index(), c.node(1).applied_index());
}

#[test]
fn appends_in_flight_to_a_silent_follower_are_capped() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.isolated.insert(3);
    let carries_entries = |m: &corral_core::broadcast::Message| {
        m.to == 3 && matches!(&m.body, Body::Append { entries, .. } if !entries.is_empty())
    };
    let sent_before = c.count_sent(carries_entries);
    // Node 3 answered the election's appends earlier, so it is in replicate
    // state; with nothing coming back only `max_inflight_msgs` go out.
    for _ in 0..200 {
        c.propose(1, 1);
    }
    let sent = c.count_sent(carries_entries) - sent_before;
    let cap = corral_core::broadcast::Config::new(1).max_inflight_msgs;
    assert!(sent <= cap + 1, "{sent} appends in flight, cap {cap}");
}

#[test]
fn a_diverged_follower_is_repaired_in_few_round_trips() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.propose(1, 5);
    // Node 1 leads alone for a while and writes a long tail nobody else has.
    c.isolated.extend([1]);
    for _ in 0..10 {
        c.node_mut(1)
            .propose(vec![bytes::Bytes::from_static(b"lost")])
            .unwrap();
        c.pump();
    }
    // Meanwhile 2 and 3 elect 2 and commit a different tail.
    c.isolated.clear();
    c.isolated.insert(1);
    let mut new_leader = None;
    for _ in 0..100 {
        c.tick_all(1);
        new_leader = c.leader().filter(|&id| id != 1);
        if new_leader.is_some() {
            break;
        }
    }
    let new_leader = new_leader.expect("2 or 3 wins");
    c.propose(new_leader, 3);
    assert_eq!(c.node(new_leader).role(), Role::Leader);
    let rejects_before = c.count_sent(|m| {
        m.from == 1
            && matches!(
                m.body,
                Body::AppendResponse(corral_core::broadcast::AppendResult::Reject { .. })
            )
    });
    c.isolated.clear();
    c.tick_all(3);
    let rejects = c.count_sent(|m| {
        m.from == 1
            && matches!(
                m.body,
                Body::AppendResponse(corral_core::broadcast::AppendResult::Reject { .. })
            )
    }) - rejects_before;
    assert!(
        rejects <= 3,
        "{rejects} rejections to skip one diverged term"
    );
    let (a, b) = (c.node(1), c.node(new_leader));
    assert_eq!(a.last_index(), b.last_index());
    assert_eq!(a.term_at(a.last_index()), b.term_at(b.last_index()));
}

#[test]
fn proposals_between_two_readies_travel_in_one_append() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let before = c.count_sent(|m| m.to == 2 && matches!(m.body, Body::Append { .. }));
    for _ in 0..5 {
        c.node_mut(1)
            .propose(vec![bytes::Bytes::from_static(b"p")])
            .unwrap();
    }
    c.pump();
    let appends: Vec<usize> = c.sent[..]
        .iter()
        .filter(|m| m.to == 2)
        .filter_map(|m| match &m.body {
            Body::Append { entries, .. } if !entries.is_empty() => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert!(c.count_sent(|m| m.to == 2 && matches!(m.body, Body::Append { .. })) > before);
    assert_eq!(
        appends.last(),
        Some(&5),
        "five proposals, one append: {appends:?}"
    );
}
