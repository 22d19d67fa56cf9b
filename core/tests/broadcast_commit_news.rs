//! Proves how the leader spreads its commit index: a follower that was sent
//! every entry hears it as bare commit news, which it applies without an
//! answer; one whose log does not hold what the news names answers with a
//! reject, and the leader repairs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_core::broadcast::{AppendResult, Body, Message, Node};
use support::cluster::{Cluster, append_durably, bootstrapped};

fn is_answer_to(leader: u64) -> impl Fn(&Message) -> bool {
    move |m| m.to == leader && matches!(m.body, Body::AppendResponse(_))
}

fn is_commit_news(m: &Message) -> bool {
    matches!(m.body, Body::Commit { .. })
}

#[test]
fn followers_learn_the_commit_without_answering_it() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    for round in 0..5 {
        let answers_before = c.count_sent(is_answer_to(1));
        let news_before = c.count_sent(is_commit_news);
        let last = c.propose(1, 1);
        for id in [2, 3] {
            assert_eq!(
                c.node(id).committed_index(),
                last,
                "node {id}, round {round}"
            );
            assert_eq!(c.node(id).applied_index(), last, "node {id}, round {round}");
        }
        assert_eq!(
            c.count_sent(is_commit_news) - news_before,
            2,
            "one commit news per follower, round {round}"
        );
        // Each follower acknowledges the entry, and nothing else.
        assert_eq!(
            c.count_sent(is_answer_to(1)) - answers_before,
            2,
            "round {round}"
        );
    }
}

fn follower(id: u64) -> Node {
    bootstrapped(id)
}

/// Appends entries 2..=`last` of term 3 from leader 1, made durable and
/// acknowledged, leaving nothing ready.
fn append(n: &mut Node, last: u64) {
    let acks = append_durably(n, last);
    assert!(
        matches!(
            acks[..],
            [Message {
                body: Body::AppendResponse(AppendResult::Success { .. }),
                ..
            }]
        ),
        "{acks:?}"
    );
}

fn commit_news(prev_index: u64, prev_term: u64, commit: u64) -> Message {
    Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::Commit {
            prev_index,
            prev_term,
            commit,
        },
    }
}

#[test]
fn news_naming_entries_the_follower_lacks_draws_a_reject() {
    let mut n = follower(2);
    // The follower holds only the bootstrap entry (index 1, term 1).
    let before = n.committed_index();
    n.step(commit_news(5, 3, 5)).unwrap();
    let mut ready = n.ready();
    if let Some(p) = ready.persist.take() {
        // Adopting term 3 is durable state; the reject waits for it.
        n.persisted(p.token);
        ready = n.ready();
    }
    assert_eq!(n.committed_index(), before, "committed past its own log");
    assert_eq!(ready.messages.len(), 1, "{:?}", ready.messages);
    match ready.messages[0].body {
        Body::AppendResponse(AppendResult::Reject {
            rejected_index,
            conflict_index,
            ..
        }) => {
            assert_eq!(rejected_index, 5);
            assert_eq!(conflict_index, 2, "hint: where its log ends");
        }
        ref other => panic!("expected a reject, got {other:?}"),
    }
}

#[test]
fn news_naming_another_term_at_that_index_draws_a_reject() {
    let mut n = follower(2);
    append(&mut n, 3);
    let before = n.committed_index();
    // Index 3 holds term 3; the news claims term 2 there.
    n.step(commit_news(3, 2, 3)).unwrap();
    let ready = n.ready();
    assert_eq!(n.committed_index(), before);
    assert!(
        ready.messages.iter().any(|m| matches!(
            m.body,
            Body::AppendResponse(AppendResult::Reject {
                rejected_index: 3,
                ..
            })
        )),
        "{:?}",
        ready.messages
    );
}

#[test]
fn matching_news_commits_no_further_than_it_names() {
    let mut n = follower(2);
    append(&mut n, 4);
    // The log holds entries up to 4 of term 3; the leader's commit is
    // further on, but the news vouches only for the log up to index 3.
    n.step(commit_news(3, 3, 9)).unwrap();
    let ready = n.ready();
    assert_eq!(n.committed_index(), 3);
    assert!(
        ready
            .messages
            .iter()
            .all(|m| !matches!(m.body, Body::AppendResponse(_))),
        "matching news was answered: {:?}",
        ready.messages
    );
}

#[test]
fn a_follower_that_lost_the_news_entries_is_repaired() {
    let mut c = Cluster::new(&[1, 2, 3], &[]);
    c.elect(1);
    c.propose(1, 3);
    // Node 3 misses the next append but not what follows: the leader's news
    // names an entry it lacks, its reject sends the leader probing, and the
    // repair brings it level.
    c.isolated.insert(3);
    let last = c.propose(1, 2);
    c.isolated.clear();
    let committed = c.node(1).committed_index();
    let news = Message {
        from: 1,
        to: 3,
        term: c.node(1).term(),
        body: Body::Commit {
            prev_index: last,
            prev_term: c.node(1).term(),
            commit: committed,
        },
    };
    c.node_mut(3).step(news).unwrap();
    c.pump();
    assert_eq!(c.node(3).last_index(), last);
    assert_eq!(c.node(3).committed_index(), committed);
}
