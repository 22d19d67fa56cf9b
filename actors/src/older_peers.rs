//! What a node sends a peer whose link speaks an older peer protocol, so that
//! a cluster can be upgraded one node at a time.
//!
//! Version 2 lacks two consensus messages of version 3, both from a leader to
//! its followers:
//! - `Commit` (bare commit news) goes as what it replaced: an append with no
//!   entries, which the follower answers as it answers any append;
//! - `Persisted` (the leader's durable news) is left out: it only lets a
//!   follower commit a message delay before the commit news, which follows
//!   anyway.

use corral_core::broadcast::Body;
use corral_transport::wire::PeerMessage;

/// The first peer protocol version with `Body::Commit` and `Body::Persisted`.
const COMMIT_AND_DURABLE_NEWS_SINCE: u32 = 3;

/// `msg` as a peer speaking `version` can read it; `None` when it has no
/// such form and is safe to leave out.
pub(crate) fn for_peer_version(msg: PeerMessage, version: u32) -> Option<PeerMessage> {
    if version >= COMMIT_AND_DURABLE_NEWS_SINCE {
        return Some(msg);
    }
    let PeerMessage::Consensus(mut message) = msg else {
        return Some(msg);
    };
    match message.body {
        Body::Commit {
            prev_index,
            prev_term,
            commit,
        } => {
            message.body = Body::Append {
                prev_index,
                prev_term,
                entries: Vec::new(),
                commit,
            };
        }
        Body::Persisted { .. } => return None,
        _ => {}
    }
    Some(PeerMessage::Consensus(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::broadcast::Message;

    fn consensus(body: Body) -> PeerMessage {
        PeerMessage::Consensus(Message {
            term: 4,
            from: 1,
            to: 2,
            body,
        })
    }

    fn commit() -> Body {
        Body::Commit {
            prev_index: 10,
            prev_term: 4,
            commit: 9,
        }
    }

    #[test]
    fn commit_news_goes_to_a_version_2_peer_as_an_empty_append() {
        let sent = for_peer_version(consensus(commit()), 2);
        let expected = consensus(Body::Append {
            prev_index: 10,
            prev_term: 4,
            entries: Vec::new(),
            commit: 9,
        });
        assert_eq!(sent, Some(expected));
    }

    #[test]
    fn durable_news_is_left_out_for_a_version_2_peer() {
        assert_eq!(
            for_peer_version(consensus(Body::Persisted { index: 10 }), 2),
            None
        );
    }

    #[test]
    fn a_current_peer_gets_every_message_as_it_is() {
        for body in [commit(), Body::Persisted { index: 10 }] {
            let msg = consensus(body);
            assert_eq!(for_peer_version(msg.clone(), 3), Some(msg));
        }
        // Messages version 2 has are unchanged for it too.
        let append = consensus(Body::Append {
            prev_index: 1,
            prev_term: 1,
            entries: Vec::new(),
            commit: 1,
        });
        assert_eq!(for_peer_version(append.clone(), 2), Some(append));
    }
}
