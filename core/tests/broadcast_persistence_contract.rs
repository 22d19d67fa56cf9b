//! Proves the durability contract of the broadcast core: a vote, an append
//! acknowledgement and the leader's own match index all wait until the caller
//! hands back the persist token of the write that made them durable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use corral_core::broadcast::{
    AppendResult, Body, Entry, EntryKind, Membership, Message, Node, PersistedState, Role,
};
use support::cluster::{append_after_bootstrap, bootstrapped, test_config};

fn follower(id: u64) -> Node {
    bootstrapped(id)
}

#[test]
fn a_vote_is_granted_only_after_it_is_persisted() {
    let mut n = follower(2);
    n.step(Message {
        from: 1,
        to: 2,
        term: 5,
        body: Body::Vote {
            last_index: 1,
            last_term: 1,
            transfer: false,
        },
    })
    .unwrap();
    let ready = n.ready();
    let persist = ready.persist.expect("the vote must be persisted");
    assert_eq!(persist.hard_state.unwrap().vote, Some(1));
    assert!(
        ready.messages.is_empty(),
        "vote answered before it was durable: {:?}",
        ready.messages
    );
    // Until the token comes back, nothing is released, however often we ask.
    assert!(n.ready().messages.is_empty());
    n.persisted(persist.token);
    let ready = n.ready();
    assert_eq!(ready.messages.len(), 1);
    assert_eq!(ready.messages[0].body, Body::VoteResponse { granted: true });
}

#[test]
fn an_append_is_acknowledged_only_after_it_is_persisted() {
    let mut n = follower(2);
    let entries = vec![Entry {
        index: 2,
        term: 3,
        kind: EntryKind::Normal(Bytes::from_static(b"x")),
    }];
    n.step(append_after_bootstrap(entries)).unwrap();
    let ready = n.ready();
    let persist = ready.persist.expect("entries to persist");
    assert_eq!(persist.entries.len(), 1);
    assert!(ready.messages.is_empty(), "acknowledged before durable");
    n.persisted(persist.token);
    let ready = n.ready();
    assert_eq!(
        ready.messages[0].body,
        Body::AppendResponse(AppendResult::Success { match_index: 2 })
    );
}

#[test]
fn a_single_node_leader_commits_only_what_it_persisted() {
    let mut n = Node::new(
        test_config(1),
        PersistedState::bootstrap(Membership::with_voters([1])),
        1,
    )
    .unwrap();
    // Elect: pre-vote and vote are instant for a single voter, but the vote
    // itself must be durable before it counts.
    let mut token = None;
    for _ in 0..100 {
        n.tick();
        let ready = n.ready();
        if let Some(p) = ready.persist {
            token = Some(p.token);
        }
        if let Some(t) = token.take() {
            n.persisted(t);
        }
        if n.role() == Role::Leader {
            break;
        }
    }
    assert_eq!(n.role(), Role::Leader);
    let _ = n.ready().persist.map(|p| n.persisted(p.token));
    let index = n.propose(vec![Bytes::from_static(b"a")]).unwrap();
    let ready = n.ready();
    let persist = ready.persist.expect("the new entry");
    assert!(n.committed_index() < index, "committed before durable");
    n.persisted(persist.token);
    assert_eq!(n.committed_index(), index);
}

/// A follower that only learns a new commit index writes nothing for it (one
/// sync per write, not two); the commit rides with the next batch of entries.
#[test]
fn a_new_commit_index_alone_costs_no_write() {
    let mut n = follower(2);
    let append = |prev_index: u64, prev_term: u64, entries: Vec<Entry>, commit: u64| Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        },
    };
    let entry = |index: u64| Entry {
        index,
        term: 3,
        kind: EntryKind::Normal(Bytes::from_static(b"x")),
    };
    n.step(append(1, 1, vec![entry(2)], 1)).unwrap();
    let persist = n.ready().persist.expect("entries to persist");
    n.persisted(persist.token);
    let _ = n.ready();
    n.step(append(2, 3, Vec::new(), 2)).unwrap();
    let ready = n.ready();
    assert!(
        ready.persist.is_none(),
        "a commit-only batch: {:?}",
        ready.persist
    );
    assert_eq!(n.committed_index(), 2);
    assert_eq!(ready.committed_entries.last().map(|e| e.index), Some(2));
    n.step(append(2, 3, vec![entry(3)], 2)).unwrap();
    let persist = n.ready().persist.expect("the next entry");
    assert_eq!(persist.hard_state.map(|hs| hs.commit), Some(2));
}

/// Appends that arrive while a write is out are made durable by the next one;
/// their acknowledgements then fold into a single message with the highest
/// match, not one message per append.
#[test]
fn appends_made_durable_by_one_write_are_acknowledged_once() {
    let mut n = follower(2);
    let entry = |index: u64| Entry {
        index,
        term: 3,
        kind: EntryKind::Normal(Bytes::from_static(b"x")),
    };
    let append = |prev_index: u64, prev_term: u64, index: u64| Message {
        from: 1,
        to: 2,
        term: 3,
        body: Body::Append {
            prev_index,
            prev_term,
            entries: vec![entry(index)],
            commit: 1,
        },
    };
    n.step(append(1, 1, 2)).unwrap();
    let first = n.ready().persist.expect("entry 2 to persist");
    // Three more appends while the first write is out: they go in the next.
    for index in 3..=5 {
        n.step(append(index - 1, 3, index)).unwrap();
        assert!(n.ready().persist.is_none(), "one write out at a time");
    }
    n.persisted(first.token);
    let ready = n.ready();
    assert_eq!(
        ready.messages.iter().map(|m| &m.body).collect::<Vec<_>>(),
        vec![&Body::AppendResponse(AppendResult::Success {
            match_index: 2
        })],
        "only the first append is durable"
    );
    let second = ready.persist.expect("entries 3..=5 in one write");
    assert_eq!(second.entries.len(), 3);
    n.persisted(second.token);
    let acks: Vec<Body> = n.ready().messages.into_iter().map(|m| m.body).collect();
    assert_eq!(
        acks,
        vec![Body::AppendResponse(AppendResult::Success {
            match_index: 5
        })],
        "three appends, one write, one acknowledgement"
    );
}
