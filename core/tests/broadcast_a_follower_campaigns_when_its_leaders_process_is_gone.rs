//! Proves that a report that the leader's process is gone (`Node::peer_gone`,
//! from ICMP port unreachable) elects a new leader within a few ticks, far
//! inside the election timeout: a told follower drops its lease and
//! campaigns at a random one of the next ticks, so two told together do not
//! split the vote; one told first is refused by the other, then votes for
//! it; nothing committed is lost. A report about anyone else, or to a node
//! that is not following the gone node, changes nothing; a false report
//! about a live leader spends no term.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_core::broadcast::{Body, Role};
use support::cluster::Cluster;

/// A 3-voter cluster led by node 1, with five entries committed everywhere.
fn led_by_1() -> (Cluster, u64) {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    let index = c.propose(1, 5);
    for id in [1, 2, 3] {
        assert_eq!(c.node(id).committed_index(), index, "node {id}");
    }
    (c, index)
}

/// Ticks within which a told follower campaigns: a third of the election
/// timeout (10 ticks in the test config), far below the timeout itself.
const SPREAD_TICKS: usize = 3;

/// Ticks `ids` once each, `n` times; messages settle after each node's tick,
/// as nodes' ticks fall at different moments.
fn tick(c: &mut Cluster, ids: &[u64], n: usize) {
    for _ in 0..n {
        for &id in ids {
            c.node_mut(id).tick();
            c.pump();
        }
    }
}

#[test]
fn the_followers_elect_a_new_leader_within_a_few_ticks() {
    let (mut c, committed) = led_by_1();
    let old_term = c.node(1).term();
    // Node 1's process dies: nothing reaches it or leaves it any more.
    c.isolated.insert(1);

    assert!(
        c.node_mut(2).peer_gone(1),
        "node 2 follows 1: a campaign is due"
    );
    assert!(c.node_mut(3).peer_gone(1));
    assert_eq!(c.node(2).leader(), None, "its lease on node 1 is over");
    tick(&mut c, &[2, 3], SPREAD_TICKS);
    let new = c.leader().filter(|&id| id != 1).expect("a new leader");
    assert_eq!(c.node(new).term(), old_term + 1, "one round: no split vote");
    let other = if new == 2 { 3 } else { 2 };
    assert_eq!(c.node(other).leader(), Some(new));
    assert!(
        c.node(new).committed_index() > committed,
        "the new leader's own entry committed on top of the old ones"
    );
    let index = c.propose(new, 1);
    assert_eq!(c.node(other).committed_index(), index, "writes go on");
}

#[test]
fn without_the_report_the_same_ticks_elect_no_one() {
    let (mut c, _) = led_by_1();
    c.isolated.insert(1);
    tick(&mut c, &[2, 3], SPREAD_TICKS);
    assert_eq!(c.node(2).leader(), Some(1));
    assert_eq!(c.node(3).leader(), Some(1));
    assert_eq!(c.node(2).role(), Role::Follower);
    assert_eq!(c.node(3).role(), Role::Follower);
}

#[test]
fn a_follower_told_first_is_refused_then_votes_for_the_second() {
    let (mut c, _) = led_by_1();
    let old_term = c.node(1).term();
    c.isolated.insert(1);
    assert!(c.node_mut(2).peer_gone(1));
    tick(&mut c, &[2, 3], SPREAD_TICKS);
    // Node 3 has not heard yet: it is still in node 1's lease and refused.
    assert_eq!(c.node(3).leader(), Some(1));
    assert_ne!(c.node(2).role(), Role::Leader);
    assert_eq!(c.node(2).term(), old_term, "a pre-vote spends no term");

    assert!(c.node_mut(3).peer_gone(1));
    tick(&mut c, &[2, 3], SPREAD_TICKS);
    assert_eq!(c.leader(), Some(3), "node 2 granted node 3's votes");
    assert_eq!(c.node(3).term(), old_term + 1);
    assert_eq!(c.node(2).leader(), Some(3));
}

#[test]
fn a_report_about_someone_else_or_to_a_non_follower_changes_nothing() {
    let (mut c, _) = led_by_1();
    let term = c.node(1).term();
    assert!(!c.node_mut(2).peer_gone(3), "node 3 is not node 2's leader");
    assert!(!c.node_mut(1).peer_gone(2), "a leader keeps leading");
    assert!(!c.node_mut(1).peer_gone(1));
    c.pump();
    assert_eq!(c.leader(), Some(1));
    for id in [1, 2, 3] {
        assert_eq!(c.node(id).term(), term, "node {id}");
    }
    assert_eq!(c.node(2).role(), Role::Follower);
    assert_eq!(c.node(2).leader(), Some(1));
}

#[test]
fn a_learner_does_not_campaign() {
    let mut c = Cluster::new(&[1, 2, 3], &[4]);
    c.elect(1);
    c.propose(1, 1);
    assert_eq!(c.node(4).leader(), Some(1));
    assert!(!c.node_mut(4).peer_gone(1));
    assert_eq!(c.node(4).role(), Role::Follower);
    assert_eq!(
        c.count_sent(|m| m.from == 4 && matches!(m.body, Body::PreVote { .. })),
        0
    );
}

#[test]
fn a_false_report_about_a_live_leader_spends_no_term() {
    let (mut c, _) = led_by_1();
    let term = c.node(1).term();
    assert!(c.node_mut(2).peer_gone(1));
    assert_eq!(c.node(2).leader(), None);
    // The leader's heartbeats go on: node 2 follows it again, and whatever
    // it campaigned for was refused by nodes in the leader's lease.
    c.tick_all(2 * SPREAD_TICKS);
    assert_eq!(c.leader(), Some(1));
    assert_eq!(c.node(2).leader(), Some(1));
    for id in [1, 2, 3] {
        assert_eq!(c.node(id).term(), term, "node {id}: no term was spent");
    }
    let index = c.propose(1, 1);
    assert_eq!(c.node(2).committed_index(), index);
}
