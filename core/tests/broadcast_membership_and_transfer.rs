//! Proves membership changes and leader transfer in a small in-memory cluster:
//! a learner receives the log without voting, is promoted, a voter is removed,
//! changes go one at a time, and a transfer hands leadership over without
//! waiting for an election timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_core::broadcast::{ConfChange, ProposeError, Role};
use support::cluster::Cluster;

/// Pumps heartbeats until the leader has committed everything it has.
fn settle(c: &mut Cluster, leader: u64) {
    for _ in 0..10 {
        c.node_mut(leader).tick();
        c.pump();
    }
}

#[test]
fn a_learner_follows_the_log_without_counting_towards_commit() {
    let mut c = Cluster::new(&[1, 2, 3], &[4]);
    c.elect(1);
    c.propose(1, 5);
    settle(&mut c, 1);
    assert_eq!(c.applied[&4].len(), 5, "learner applies the log");
    // With both other voters gone, the learner cannot make a quorum.
    c.isolated.extend([2, 3]);
    let last = c.propose(1, 1);
    settle(&mut c, 1);
    assert!(c.node(1).committed_index() < last || c.node(1).role() != Role::Leader);
}

#[test]
fn a_joining_node_is_added_as_learner_promoted_and_votes() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.add_joining(4);
    c.elect(1);
    c.propose(1, 3);
    c.node_mut(1)
        .propose_conf_change(ConfChange::AddLearner(4))
        .unwrap();
    // One change at a time: the first is not committed yet.
    assert_eq!(
        c.node_mut(1)
            .propose_conf_change(ConfChange::PromoteLearner(4)),
        Err(ProposeError::ConfChangePending)
    );
    c.pump();
    settle(&mut c, 1);
    assert!(
        c.node(4).membership().learners.contains(&4),
        "joiner learned its role from the log"
    );
    c.node_mut(1)
        .propose_conf_change(ConfChange::PromoteLearner(4))
        .unwrap();
    settle(&mut c, 1);
    assert!(c.node(1).membership().voters.contains(&4));
    assert_eq!(c.node(4).committed_index(), c.node(1).committed_index());
    // Now 4 counts: with 2 and 3 gone, 1 and 4 are not a majority of 4 voters.
    c.isolated.extend([2, 3]);
    let last = c.propose(1, 1);
    settle(&mut c, 1);
    assert!(c.node(1).committed_index() < last || c.node(1).role() != Role::Leader);
}

#[test]
fn a_removed_voter_no_longer_counts_and_the_leader_cannot_remove_itself() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.propose(1, 1);
    assert!(matches!(
        c.node_mut(1).propose_conf_change(ConfChange::Remove(1)),
        Err(ProposeError::BadConfChange(_))
    ));
    c.node_mut(1)
        .propose_conf_change(ConfChange::Remove(3))
        .unwrap();
    settle(&mut c, 1);
    assert_eq!(c.node(1).membership().voters.len(), 2);
    // {1, 2} is now the whole cluster: losing 3 changes nothing.
    c.isolated.insert(3);
    let last = c.propose(1, 2);
    settle(&mut c, 1);
    assert_eq!(c.node(1).committed_index(), last);
}

#[test]
fn leader_transfer_hands_over_without_an_election_timeout() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.propose(1, 5);
    let term = c.node(1).term();
    c.node_mut(1).transfer_leadership(3).unwrap();
    assert_eq!(
        c.node_mut(1).propose(vec![bytes::Bytes::new()]),
        Err(ProposeError::Transferring)
    );
    c.pump(); // no ticks at all
    assert_eq!(c.node(3).role(), Role::Leader);
    assert_eq!(c.node(3).term(), term + 1);
    assert_eq!(c.node(1).role(), Role::Follower);
    let last = c.propose(3, 1);
    settle(&mut c, 3);
    assert_eq!(c.node(1).committed_index(), last);
}

#[test]
fn a_transfer_to_a_lagging_follower_catches_it_up_first() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.isolated.insert(3);
    c.propose(1, 20);
    c.isolated.clear();
    c.node_mut(1).transfer_leadership(3).unwrap();
    c.pump();
    settle(&mut c, 1);
    assert_eq!(c.leader(), Some(3));
    assert!(c.applied.get(&3).map_or(0, Vec::len) >= 20 || c.node(3).last_index() >= 21);
}
