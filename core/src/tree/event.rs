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
