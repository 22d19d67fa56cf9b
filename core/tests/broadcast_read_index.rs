//! Proves ReadIndex: the leader answers "safe once applied ≥ commit" only after
//! a heartbeat quorum confirms it still leads, a follower's read is forwarded
//! and answered, and a leader cut off from the quorum cannot answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use corral_core::broadcast::Body;
use support::cluster::Cluster;

#[test]
fn the_leader_answers_with_its_commit_index_after_a_heartbeat_quorum() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let last = c.propose(1, 4);
    let heartbeats_before = c.count_sent(|m| matches!(m.body, Body::Heartbeat { .. }));
    c.node_mut(1).read_index(Bytes::from_static(b"r1")).unwrap();
    c.pump();
    // The answer needed a heartbeat round (no ticks happened).
    assert!(c.count_sent(|m| matches!(m.body, Body::Heartbeat { .. })) > heartbeats_before);
    let rs = &c.read_states[&1];
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].context, Bytes::from_static(b"r1"));
    assert_eq!(rs[0].index, last);
}

#[test]
fn a_follower_read_is_forwarded_and_answered() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let last = c.propose(1, 2);
    c.node_mut(2).read_index(Bytes::from_static(b"f")).unwrap();
    c.pump();
    let rs = &c.read_states[&2];
    assert_eq!(rs.len(), 1);
    assert!(rs[0].index >= last);
}

#[test]
fn a_leader_without_a_quorum_cannot_answer_reads() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.propose(1, 1);
    c.isolated.extend([2, 3]);
    c.node_mut(1)
        .read_index(Bytes::from_static(b"stale"))
        .unwrap();
    c.pump();
    c.tick_all(3);
    assert!(c.read_states.get(&1).is_none_or(Vec::is_empty));
}
