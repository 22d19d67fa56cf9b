//! Commit news held back. A leader tells a follower its commit index at once
//! only where somebody waits on it there: the follower forwarded one of the
//! writes just committed. Other news waits for the next append to that
//! follower, which carries the commit index anyway, or leaves after
//! [`NEWS_DELAY`]. Under load the appends carry it all; with one writer, the
//! followers are woken once a write instead of twice, and not while the
//! writer's next request is on its way.
//!
//! The same goes for the core's news that the leader's own write is durable
//! (`Body::Persisted`), which lets a follower commit without waiting for
//! commit news: it goes only to followers that forwarded a write not yet
//! committed, whose clients gain a round trip; the others would only spend
//! a message on it.

use std::time::Duration;

use super::*;

/// How long commit news waits for an append to ride on.
pub(super) const NEWS_DELAY: Duration = Duration::from_millis(1);

/// Commit news waiting to leave, one per follower (the newest).
#[derive(Debug, Default)]
pub(super) struct HeldNews {
    by_peer: BTreeMap<NodeId, Message>,
    timer_armed: bool,
    /// Leader: per follower, the last index of a write it forwarded.
    forwarded_upto: BTreeMap<NodeId, u64>,
}

impl ReplicaState {
    /// Sends a consensus message; commit news held for its recipient goes
    /// first, or is dropped if this message carries the commit index too.
    pub(super) fn send_consensus(&mut self, msg: Message) {
        if let Some(news) = self.news.by_peer.remove(&msg.to)
            && !carries_commit(&msg)
        {
            self.send_peer(news.to, PeerMessage::Consensus(news));
        }
        self.send_peer(msg.to, PeerMessage::Consensus(msg));
    }

    /// Holds commit news back, replacing older news for the same follower.
    pub(super) fn hold_news(&mut self, news: Message) {
        self.news.by_peer.insert(news.to, news);
    }

    /// Leader: `from` forwarded the write proposed at `index`.
    pub(super) fn note_forwarded(&mut self, from: NodeId, index: u64) {
        let upto = self.news.forwarded_upto.entry(from).or_default();
        *upto = (*upto).max(index);
    }

    /// Leader: sends news of its durable log to a follower that waits for a
    /// forwarded write to commit; drops it for the others.
    pub(super) fn send_durable_news(&mut self, news: Message) {
        let committed = self.node.committed_index();
        self.news.forwarded_upto.retain(|_, upto| *upto > committed);
        if self.news.forwarded_upto.contains_key(&news.to) {
            self.send_consensus(news);
        }
    }

    /// After a drive: sends the news of followers in `waiting` now, and
    /// arms the timer for the rest.
    pub(super) fn release_news(
        &mut self,
        myself: &ActorRef<ReplicaMsg>,
        waiting: &BTreeSet<NodeId>,
    ) {
        self.drop_stale_news();
        for id in waiting {
            if let Some(news) = self.news.by_peer.remove(id) {
                self.send_peer(news.to, PeerMessage::Consensus(news));
            }
        }
        if !self.news.by_peer.is_empty() && !self.news.timer_armed {
            self.news.timer_armed = true;
            // Detached: the task sends once and ends; a send to a stopped
            // actor has nobody left to tell.
            drop(myself.send_after(NEWS_DELAY, || ReplicaMsg::SendNews));
        }
    }

    /// The timer fired: every piece of news held goes now.
    pub(super) fn send_held_news(&mut self) {
        self.news.timer_armed = false;
        self.drop_stale_news();
        for (to, news) in std::mem::take(&mut self.news.by_peer) {
            self.send_peer(to, PeerMessage::Consensus(news));
        }
    }

    /// Forgets news that is no longer ours to give: all of it once we no
    /// longer lead (the next leader tells its followers), and that of an
    /// earlier term of ours (it would only be refused).
    fn drop_stale_news(&mut self) {
        let term = self.node.term();
        let leading = self.node.role() == Role::Leader;
        self.news
            .by_peer
            .retain(|_, news| leading && news.term == term);
        if !leading {
            self.news.forwarded_upto.clear();
        }
    }
}

/// A message that only tells a follower the commit index.
pub(super) fn is_commit_news(msg: &Message) -> bool {
    match &msg.body {
        Body::Append { entries, .. } => entries.is_empty(),
        Body::Commit { .. } => true,
        _ => false,
    }
}

/// A message that tells a follower how far the leader's log is durable.
pub(super) fn is_durable_news(msg: &Message) -> bool {
    matches!(msg.body, Body::Persisted { .. })
}

/// Whether the message tells the follower the leader's commit index as far
/// as held news would (an append carries the index as of when it was sent).
fn carries_commit(msg: &Message) -> bool {
    matches!(msg.body, Body::Append { .. } | Body::Commit { .. })
}
