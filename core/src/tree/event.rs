//! Watch events and watch kinds: what a session asked to be told about, and what it is told.

use serde::{Deserialize, Serialize};

use super::session::SessionId;

/// ZooKeeper's `Watcher.Event.EventType` values that a data change can trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A znode was created (1).
    NodeCreated,
    /// A znode was deleted (2).
    NodeDeleted,
    /// A znode's data changed (3).
    NodeDataChanged,
    /// A child was created or deleted under a znode (4).
    NodeChildrenChanged,
}

impl EventType {
    /// ZooKeeper's numeric value of this event type.
    pub fn code(self) -> i32 {
        match self {
            EventType::NodeCreated => 1,
            EventType::NodeDeleted => 2,
            EventType::NodeDataChanged => 3,
            EventType::NodeChildrenChanged => 4,
        }
    }
}

/// One event as a watcher sees it: what happened, to which path, at which zxid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WatchedEvent {
    /// What happened.
    pub event_type: EventType,
    /// The znode it happened to.
    pub path: String,
    /// The zxid of the entry that caused it.
    pub zxid: i64,
}

/// An event addressed to one session: apply returns these, in delivery order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Notification {
    /// The session to notify.
    pub session: SessionId,
    /// The event to deliver.
    pub event: WatchedEvent,
}

/// The kind of a registered watch (ZooKeeper's `WatcherMode` plus the data/child split).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WatchKind {
    /// One-shot data watch, set by getData, or by exists on an existing node.
    Data,
    /// One-shot exist watch, set by exists on a missing node; fires on NodeCreated.
    Exist,
    /// One-shot child watch, set by getChildren.
    Child,
    /// Persistent watch (addWatch PERSISTENT): data and child events on one path, never removed by firing.
    Persistent,
    /// Persistent recursive watch (addWatch PERSISTENT_RECURSIVE): data events on a path and all its descendants; never NodeChildrenChanged.
    PersistentRecursive,
}

/// The mode of `addWatch` (ZooKeeper's `AddWatchMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddWatchMode {
    /// PERSISTENT (0).
    Persistent,
    /// PERSISTENT_RECURSIVE (1).
    PersistentRecursive,
}

/// Which watches `removeWatches` removes (ZooKeeper's `Watcher.WatcherType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WatcherType {
    /// One-shot child watches (1).
    Children,
    /// One-shot data and exist watches (2).
    Data,
    /// Every watch of the session on the path, of any kind (3).
    Any,
    /// Persistent watches (4).
    Persistent,
    /// Persistent recursive watches (5).
    PersistentRecursive,
}

/// One change told to the watchers of one watched znode: what a ZnodeActor fans out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firing {
    /// The watched znode whose watchers hear it: the changed node, its parent
    /// (child events) or an ancestor with a recursive watch.
    pub watched: String,
    /// The event each of them gets.
    pub event: WatchedEvent,
    /// The change's place in its entry, which orders the events of one zxid.
    pub seq: u32,
    /// The sessions to tell, by id: each session hears a change once, and only
    /// with READ on the changed node.
    pub tell: Vec<SessionId>,
    /// The sessions whose last watch on `watched` this change consumed.
    pub released: Vec<SessionId>,
}

/// What one entry did to this node's watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fired {
    /// The changes' events, grouped by the watched znode, in change order.
    pub firings: Vec<Firing>,
    /// The watched paths of each session the entry closed: gone without an event.
    pub closed: Vec<(SessionId, Vec<String>)>,
}

impl Fired {
    /// The events one by one, in change order and, within a change, by session id.
    pub fn notifications(&self) -> Vec<Notification> {
        let mut out: Vec<(u32, Notification)> = self
            .firings
            .iter()
            .flat_map(|f| {
                f.tell.iter().map(|s| {
                    let n = Notification {
                        session: *s,
                        event: f.event.clone(),
                    };
                    (f.seq, n)
                })
            })
            .collect();
        out.sort_by_key(|(seq, n)| (*seq, n.session));
        out.into_iter().map(|(_, n)| n).collect()
    }
}
