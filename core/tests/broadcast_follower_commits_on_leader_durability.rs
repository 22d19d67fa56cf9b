//! Proves that a follower learns a commit from the leader's own durability,
//! one message delay before the leader's commit news: once the leader's write
//! is durable it tells the followers that have not acknowledged it, and a
//! follower whose own write is durable commits at once, where the two make a
//! quorum. A linearizable read on the leader then waits for that entry too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use corral_core::broadcast::{Body, Message, NodeId, Ready};
use support::cluster::Cluster;

fn is_durable_news(m: &Message) -> bool {
    matches!(m.body, Body::Persisted { .. })
}

/// Delivers to `to` the messages of `ready` addressed to it.
fn deliver(c: &mut Cluster, ready: &Ready, to: NodeId) {
    for m in ready.messages.iter().filter(|m| m.to == to) {
        c.node_mut(to).step(m.clone()).unwrap();
    }
}

/// Leader 1 of `voters` proposes one entry; its appends reach node 2, and
/// both write it. Returns (the entry's index, node 2's pending write, the
/// leader's Ready after its own write is durable).
fn propose_and_persist_on_leader(
    voters: &[NodeId],
) -> (Cluster, u64, corral_core::broadcast::Persist, Ready) {
    propose_and_persist_with_learners(voters, &[])
}

/// [`propose_and_persist_on_leader`] in a cluster with `learners` too.
fn propose_and_persist_with_learners(
    voters: &[NodeId],
    learners: &[NodeId],
) -> (Cluster, u64, corral_core::broadcast::Persist, Ready) {
    let mut c = Cluster::new(voters, learners);
    c.elect(1);
    let index = c
        .node_mut(1)
        .propose(vec![Bytes::from_static(b"w")])
        .unwrap();
    let appends = c.node_mut(1).ready();
    deliver(&mut c, &appends, 2);
    let follower_write = c.node_mut(2).ready().persist.expect("the entry to write");
    let leader_write = appends.persist.expect("the leader's own write");
    c.node_mut(1).persisted(leader_write.token);
    let after = c.node_mut(1).ready();
    (c, index, follower_write, after)
}

#[test]
fn a_follower_commits_once_it_and_the_leader_hold_the_entry_durably() {
    let (mut c, index, follower_write, after) = propose_and_persist_on_leader(&[1, 2, 3]);
    let news: Vec<&Message> = after
        .messages
        .iter()
        .filter(|m| is_durable_news(m))
        .collect();
    assert_eq!(news.len(), 2, "one per follower: {:?}", after.messages);
    assert!(news.iter().all(|m| m.body == Body::Persisted { index }));
    assert!(
        c.node(1).committed_index() < index,
        "no ack reached the leader"
    );

    deliver(&mut c, &after, 2);
    assert!(
        c.node(2).committed_index() < index,
        "committed before its own write was durable"
    );
    c.node_mut(2).persisted(follower_write.token);
    assert_eq!(c.node(2).committed_index(), index);
    let ready = c.node_mut(2).ready();
    assert_eq!(
        ready.committed_entries.last().map(|e| e.index),
        Some(index),
        "the entry is handed out to apply"
    );
    assert!(
        c.node(1).committed_index() < index,
        "the leader still waits"
    );
}

#[test]
fn an_entry_durable_only_on_the_leader_stays_uncommitted_on_a_follower() {
    let (mut c, index, _follower_write, after) = propose_and_persist_on_leader(&[1, 2, 3]);
    deliver(&mut c, &after, 2);
    assert!(c.node(2).committed_index() < index);
    assert!(c.node_mut(2).ready().committed_entries.is_empty());
}

#[test]
fn five_voters_get_no_durable_news_since_a_pair_is_no_quorum() {
    let (c, index, _follower_write, after) = propose_and_persist_on_leader(&[1, 2, 3, 4, 5]);
    assert!(
        !after.messages.iter().any(is_durable_news),
        "{:?}",
        after.messages
    );
    assert!(c.node(2).committed_index() < index);
}

#[test]
fn a_learner_gets_no_durable_news_since_it_counts_in_no_quorum() {
    let (_c, index, _follower_write, after) = propose_and_persist_with_learners(&[1, 2, 3], &[4]);
    let told: Vec<NodeId> = after
        .messages
        .iter()
        .filter(|m| is_durable_news(m))
        .map(|m| m.to)
        .collect();
    assert_eq!(told, vec![2, 3], "voters only, about index {index}");
}

#[test]
fn a_linearizable_read_waits_for_what_a_follower_may_have_committed() {
    let (mut c, index, follower_write, after) = propose_and_persist_on_leader(&[1, 2, 3]);
    deliver(&mut c, &after, 2);
    c.node_mut(2).persisted(follower_write.token);
    assert_eq!(
        c.node(2).committed_index(),
        index,
        "node 2 answered its client"
    );
    // The leader has not heard node 2's ack: its commit index is lower, yet a
    // read must see the write node 2 acknowledged.
    let leader_commit = c.node(1).committed_index();
    assert!(leader_commit < index);
    c.node_mut(1).read_index(Bytes::from_static(b"r")).unwrap();
    c.pump();
    let states = &c.read_states[&1];
    let read = states
        .iter()
        .find(|s| s.context == Bytes::from_static(b"r"))
        .expect("the read is confirmed");
    assert!(
        read.index >= index,
        "read index {} below the follower's commit {index}",
        read.index
    );
}
