//! Proves that a report that the leader's process is gone (`Node::peer_gone`,
//! from ICMP port unreachable) elects a new leader within a few ticks, far
//! inside the election timeout: a told follower drops its lease and
//! campaigns at a random one of the next ticks, so two told together seldom
//! split the vote, and a split vote is retried within a few ticks, not an
//! election timeout; one told first is refused by the other, then votes for
//! it; nothing committed is lost. Once a leader is known, elections wait the
//! whole timeout again. A report about anyone else, or to a node that is not
//! following the gone node, changes nothing; a false report about a live
//! leader spends no term.
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

/// The new leader among nodes 2 and 3, and the other one, which follows it.
fn new_leader(c: &Cluster) -> (u64, u64) {
    let new = c.leader().filter(|&id| id != 1).expect("a new leader");
    let other = if new == 2 { 3 } else { 2 };
    assert_eq!(c.node(other).leader(), Some(new));
    (new, other)
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
    let (new, other) = new_leader(&c);
    assert_eq!(c.node(new).term(), old_term + 1, "one round: no split vote");
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

/// The election timeout of the test config, in ticks.
const ELECTION_TIMEOUT_TICKS: usize = 10;

/// Ticks `id` alone, without delivering anything, until it campaigns.
fn tick_until_campaigning(c: &mut Cluster, id: u64) {
    for _ in 0..SPREAD_TICKS {
        c.node_mut(id).tick();
        if c.node(id).role() != Role::Follower {
            return;
        }
    }
    panic!("node {id} did not campaign within {SPREAD_TICKS} ticks of the report");
}

#[test]
fn a_split_vote_after_the_report_is_retried_within_a_few_ticks() {
    let (mut c, _) = led_by_1();
    let old_term = c.node(1).term();
    c.isolated.insert(1);
    assert!(c.node_mut(2).peer_gone(1));
    assert!(c.node_mut(3).peer_gone(1));
    // Both campaign before either hears the other: they grant each other's
    // pre-vote, then each refuses the other's vote.
    tick_until_campaigning(&mut c, 2);
    tick_until_campaigning(&mut c, 3);
    c.pump();
    let split_term = old_term + 1;
    for id in [2, 3] {
        assert_eq!(c.node(id).role(), Role::Candidate, "node {id}");
        assert_eq!(c.node(id).term(), split_term, "node {id}");
    }
    assert_eq!(c.leader().filter(|&id| id != 1), None, "the vote is split");

    // The next campaign comes within a few ticks, well before the election
    // timeout would start one.
    let mut ticks = 0;
    while c.node(2).term() == split_term && c.node(3).term() == split_term {
        assert!(
            ticks < ELECTION_TIMEOUT_TICKS - 1,
            "no new campaign within {ticks} ticks of the split"
        );
        tick(&mut c, &[2, 3], 1);
        ticks += 1;
    }
    // Retries stay random, so a leader follows within a few more rounds.
    for _ in 0..4 * ELECTION_TIMEOUT_TICKS {
        if c.leader().is_some_and(|id| id != 1) {
            break;
        }
        tick(&mut c, &[2, 3], 1);
    }
    let (new, other) = new_leader(&c);
    let index = c.propose(new, 1);
    assert_eq!(c.node(other).committed_index(), index, "writes go on");
}

#[test]
fn once_a_leader_is_known_elections_wait_the_whole_timeout_again() {
    let (mut c, _) = led_by_1();
    c.isolated.insert(1);
    assert!(c.node_mut(2).peer_gone(1));
    assert!(c.node_mut(3).peer_gone(1));
    tick(&mut c, &[2, 3], SPREAD_TICKS);
    let (new, other) = new_leader(&c);
    let term = c.node(other).term();
    // The new leader falls silent with no report: its follower waits out
    // the election timeout, as for any leader.
    c.isolated.insert(new);
    tick(&mut c, &[other], ELECTION_TIMEOUT_TICKS - 1);
    assert_eq!(c.node(other).role(), Role::Follower);
    assert_eq!(c.node(other).leader(), Some(new));
    assert_eq!(c.node(other).term(), term);
}
