//! Restoring a session's watches on a node after a reconnect (ZooKeeper's
//! SetWatches), and the bounded history of recent changes that lets persistent
//! watches replay the events they missed, which ZooKeeper drops.
//!
//! ```text
//!   apply(entry) ──► changes ──► ChangeHistory (last N changes, by zxid)
//!                                      │
//!   restore(session, relative_zxid, watches)
//!     one-shot:   fire now if the znode changed after relative_zxid, else register
//!     persistent: replay history after relative_zxid through a one-session index,
//!                 or ResyncNeeded when the history no longer reaches back; register
//! ```

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::acl::{Perms, check_acl};
use super::data_tree::{DataTree, err};
use super::error::{ErrorCode, ZkError};
use super::event::{EventType, Notification, WatchKind, WatchedEvent};
use super::session::SessionId;
use super::watch::WatchIndex;
use super::write_ops::Change;

/// Changes kept for replay when no limit is set.
pub const HISTORY_CHANGES_DEFAULT: usize = 65_536;

/// The watches a reconnecting session holds (ZooKeeper's SetWatches2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchesToRestore {
    /// The zxid the client's view is at; events after it are delivered.
    pub relative_zxid: i64,
    /// Paths with one-shot data watches.
    pub data: Vec<String>,
    /// Paths with one-shot exist watches.
    pub exist: Vec<String>,
    /// Paths with one-shot child watches.
    pub child: Vec<String>,
    /// Paths with persistent watches.
    pub persistent: Vec<String>,
    /// Paths with persistent recursive watches.
    pub persistent_recursive: Vec<String>,
}

impl WatchesToRestore {
    /// Every path listed, of every kind.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.data
            .iter()
            .chain(&self.exist)
            .chain(&self.child)
            .chain(&self.persistent)
            .chain(&self.persistent_recursive)
    }
}

/// A persistent watch whose missed events are no longer kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncNeeded {
    /// The watched path.
    pub path: String,
    /// The zxid the client had seen.
    pub last_zxid_seen: i64,
    /// The oldest zxid whose changes this node still keeps.
    pub oldest_zxid: i64,
}

/// What restoring a session's watches produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Events to deliver now, in zxid order: replayed events, then fired one-shot watches.
    pub notifications: Vec<Notification>,
    /// Persistent watches that missed events this node no longer has.
    pub resync: Vec<ResyncNeeded>,
}

/// The changes of the most recent entries, bounded by a number of changes.
///
/// One flat ring of (zxid, change): dropping the oldest walks it in order
/// (memory the prefetcher brings in) instead of freeing one cold allocation
/// per entry, which cost a few percent of every node's CPU under load.
#[derive(Clone, Debug)]
pub(crate) struct ChangeHistory {
    /// (zxid, one node change of that entry), oldest first, an entry's changes
    /// in order; entries without node changes leave nothing here.
    changes: VecDeque<(i64, Change)>,
    /// At most this many changes are held.
    changes_max: usize,
    /// Every change after this zxid is held.
    floor: i64,
}

impl ChangeHistory {
    /// An empty history complete after `floor`.
    pub(crate) fn new(floor: i64) -> ChangeHistory {
        ChangeHistory {
            changes: VecDeque::new(),
            changes_max: HISTORY_CHANGES_DEFAULT,
            floor,
        }
    }

    /// Keeps at most `changes_max` changes, dropping the oldest entries.
    pub(crate) fn set_limit(&mut self, changes_max: usize) {
        self.changes_max = changes_max;
        self.trim();
    }

    /// Records the node changes of the entry at `zxid`.
    pub(crate) fn record(&mut self, zxid: i64, changes: Vec<Change>) {
        let kept = changes
            .into_iter()
            .filter(|c| matches!(c, Change::Node { .. }))
            .map(|c| (zxid, c));
        self.changes.extend(kept);
        self.trim();
    }

    /// Drops the oldest changes beyond the limit. An entry whose changes are
    /// only partly dropped is no longer whole, so the floor rises to its zxid
    /// and its remaining changes are never replayed.
    fn trim(&mut self) {
        while self.changes.len() > self.changes_max {
            let Some((zxid, _)) = self.changes.pop_front() else {
                break;
            };
            self.floor = zxid;
        }
    }

    /// Whether every change after `zxid` is held.
    pub(crate) fn reaches(&self, zxid: i64) -> bool {
        zxid >= self.floor
    }

    /// The oldest zxid whose changes are held (the first one after the floor).
    pub(crate) fn oldest(&self) -> i64 {
        self.floor.saturating_add(1)
    }

    /// The changes of the entries after `zxid`, oldest first.
    pub(crate) fn after(&self, zxid: i64) -> impl Iterator<Item = &(i64, Change)> {
        let start = self.changes.partition_point(|(z, _)| *z <= zxid);
        self.changes.range(start..)
    }

    /// Number of changes held.
    pub(crate) fn len(&self) -> usize {
        self.changes.len()
    }
}

/// Restores `watches` for `session` in `index`, as of the tree `data`.
pub(crate) fn restore(
    index: &mut WatchIndex,
    history: &ChangeHistory,
    data: &DataTree,
    session: SessionId,
    watches: &WatchesToRestore,
) -> Result<Restored, ZkError> {
    let Some(s) = data.session(session) else {
        return Err(err(
            ErrorCode::SessionExpired,
            &format!("session 0x{session:x}"),
        ));
    };
    for path in watches.paths() {
        data.check_path(path)?;
    }
    let ids = s.identities.clone();
    let since = watches.relative_zxid;
    let now = data.last_zxid();
    let mut out = Restored::default();
    let mut fired = Vec::new();
    let mut fire = |event_type: EventType, path: &str| {
        // A session that may not read the znode is not told, as at apply.
        let readable = data
            .acl(path)
            .is_none_or(|acl| check_acl(acl, Perms::READ, &ids));
        if readable {
            fired.push(Notification {
                session,
                event: WatchedEvent {
                    event_type,
                    path: path.to_owned(),
                    zxid: now,
                },
            });
        }
    };
    for path in &watches.data {
        match data.stat(path) {
            None => fire(EventType::NodeDeleted, path),
            Some(stat) if stat.mzxid > since => fire(EventType::NodeDataChanged, path),
            Some(_) => index.add(session, path, WatchKind::Data),
        }
    }
    for path in &watches.exist {
        match data.stat(path) {
            Some(_) => fire(EventType::NodeCreated, path),
            None => index.add(session, path, WatchKind::Exist),
        }
    }
    for path in &watches.child {
        match data.stat(path) {
            None => fire(EventType::NodeDeleted, path),
            Some(stat) if stat.pzxid > since => fire(EventType::NodeChildrenChanged, path),
            Some(_) => index.add(session, path, WatchKind::Child),
        }
    }
    let persistent = watches
        .persistent
        .iter()
        .map(|p| (p, WatchKind::Persistent))
        .chain(
            watches
                .persistent_recursive
                .iter()
                .map(|p| (p, WatchKind::PersistentRecursive)),
        );
    let mut replay = WatchIndex::new();
    for (path, kind) in persistent {
        index.add(session, path, kind);
        if since >= now {
            continue;
        }
        if history.reaches(since) {
            replay.add(session, path, kind);
        } else {
            out.resync.push(ResyncNeeded {
                path: path.clone(),
                last_zxid_seen: since,
                oldest_zxid: history.oldest(),
            });
        }
    }
    if !replay.is_empty() {
        for (zxid, change) in history.after(since) {
            let fired = replay.fire(std::slice::from_ref(change), *zxid, data);
            out.notifications.extend(fired.notifications());
        }
    }
    // One-shot events carry the current zxid, so they come after every replayed one.
    out.notifications.extend(fired);
    Ok(out)
}
