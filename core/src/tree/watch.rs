//! The watch index: which session watches which path, and how changes fire watches.
//!
//! Watches are local to a node, as in ZooKeeper (a client re-registers them when it
//! moves), so the index is not part of [`DataTree`](super::DataTree) or its snapshots.
//! Firing follows ZooKeeper 3.6+'s `WatchManager`: two tables, data and child.
//! - NodeCreated / NodeDataChanged fire the data table at the path: one-shot data and
//!   exist watches (then removed), persistent and persistent-recursive watches; and
//!   persistent-recursive watches on every ancestor.
//! - NodeDeleted fires the data table as above, then the child table at the path, each
//!   session at most once.
//! - NodeChildrenChanged fires the child table at the parent: one-shot child watches and
//!   persistent watches. Recursive watches are not in the child table, so never see it.
//!
//! A session without READ on the changed node is not told (ZooKeeper 3.9's check at
//! delivery); its one-shot watch is still consumed, as there.

use std::collections::{BTreeMap, BTreeSet};

use super::acl::{Perms, check_acl};
use super::data_tree::DataTree;
use super::error::{ErrorCode, ZkError};
use super::event::{EventType, Fired, Firing, WatchKind, WatchedEvent, WatcherType};
use super::path::parent_of;
use super::session::SessionId;
use super::write_ops::Change;

/// One-shot data (and exist) watch, in the data table.
const DATA: u8 = 1;
/// One-shot child watch, in the child table.
const CHILD: u8 = 2;
/// Persistent watch, in both tables.
const PERSISTENT: u8 = 4;
/// Persistent recursive watch, in the data table only.
const RECURSIVE: u8 = 8;
/// Bits that live in the data table.
const DATA_TABLE: u8 = DATA | PERSISTENT | RECURSIVE;
/// Bits that live in the child table.
const CHILD_TABLE: u8 = CHILD | PERSISTENT;

/// Every watch of every session on this node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchIndex {
    /// path -> session -> watch bits.
    by_path: BTreeMap<String, BTreeMap<SessionId, u8>>,
    /// session -> paths it watches.
    by_session: BTreeMap<SessionId, BTreeSet<String>>,
    /// Number of (session, path) pairs with a recursive watch; 0 skips the ancestor walk.
    recursive_count: usize,
    /// Number of (session, path) pairs with any watch, so `len` is O(1).
    pair_count: usize,
}

/// The firings of one change being gathered.
struct Hearing<'a> {
    /// The entry's firings so far.
    firings: &'a mut Vec<Firing>,
    /// Where this change's firings start in `firings`.
    first: usize,
    /// (session, index of the firing that heard it).
    told: Vec<(SessionId, usize)>,
    /// What happened.
    event_type: EventType,
    /// The changed node.
    path: &'a str,
    /// The entry's zxid.
    zxid: i64,
    /// The change's place in its entry.
    seq: u32,
}

impl Hearing<'_> {
    /// The index of this change's firing of `watched`'s watchers, started if
    /// need be (a deletion fires both tables of one path: one firing).
    fn group(&mut self, watched: &str) -> usize {
        if let Some(at) = self.firings[self.first..]
            .iter()
            .position(|f| f.watched == watched)
        {
            return self.first + at;
        }
        self.firings.push(Firing {
            watched: watched.to_string(),
            event: WatchedEvent {
                event_type: self.event_type,
                path: self.path.to_string(),
                zxid: self.zxid,
            },
            seq: self.seq,
            tell: Vec::new(),
            released: Vec::new(),
        });
        self.firings.len() - 1
    }
}

/// The bit for a watch kind.
fn bit(kind: WatchKind) -> u8 {
    match kind {
        WatchKind::Data | WatchKind::Exist => DATA,
        WatchKind::Child => CHILD,
        WatchKind::Persistent => PERSISTENT,
        WatchKind::PersistentRecursive => RECURSIVE,
    }
}

impl WatchIndex {
    /// An empty index.
    pub fn new() -> WatchIndex {
        WatchIndex::default()
    }

    /// Number of (session, path) pairs with at least one watch.
    pub fn len(&self) -> usize {
        self.pair_count
    }

    /// Number of paths `session` watches.
    pub fn session_len(&self, session: SessionId) -> usize {
        self.by_session.get(&session).map_or(0, BTreeSet::len)
    }

    /// Whether no watch is registered.
    pub fn is_empty(&self) -> bool {
        self.by_session.is_empty()
    }

    /// The kinds `session` watches `path` with, as ZooKeeper's `WatcherType`s would list them.
    pub fn kinds(&self, session: SessionId, path: &str) -> Vec<WatchKind> {
        let bits = self.bits(session, path);
        [
            (DATA, WatchKind::Data),
            (CHILD, WatchKind::Child),
            (PERSISTENT, WatchKind::Persistent),
            (RECURSIVE, WatchKind::PersistentRecursive),
        ]
        .into_iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, k)| k)
        .collect()
    }

    /// The watch bits of `session` on `path`.
    fn bits(&self, session: SessionId, path: &str) -> u8 {
        self.by_path
            .get(path)
            .and_then(|m| m.get(&session))
            .copied()
            .unwrap_or(0)
    }

    /// Sets the watch bits of `session` on `path`, keeping both maps and the count in step.
    fn set_bits(&mut self, session: SessionId, path: &str, bits: u8) {
        let old = self.bits(session, path);
        if old & RECURSIVE != 0 {
            self.recursive_count -= 1;
        }
        if bits & RECURSIVE != 0 {
            self.recursive_count += 1;
        }
        match (old == 0, bits == 0) {
            (true, false) => self.pair_count += 1,
            (false, true) => self.pair_count -= 1,
            _ => {}
        }
        if bits == 0 {
            if let Some(m) = self.by_path.get_mut(path) {
                m.remove(&session);
                if m.is_empty() {
                    self.by_path.remove(path);
                }
            }
            if let Some(paths) = self.by_session.get_mut(&session) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_session.remove(&session);
                }
            }
        } else {
            self.by_path
                .entry(path.to_string())
                .or_default()
                .insert(session, bits);
            self.by_session
                .entry(session)
                .or_default()
                .insert(path.to_string());
        }
    }

    /// Adds a watch of `kind` for `session` on `path`.
    pub fn add(&mut self, session: SessionId, path: &str, kind: WatchKind) {
        let bits = self.bits(session, path) | bit(kind);
        self.set_bits(session, path, bits);
    }

    /// ZooKeeper's removeWatches: NoWatcher if the session had none of that type there.
    pub fn remove(
        &mut self,
        session: SessionId,
        path: &str,
        watcher_type: WatcherType,
    ) -> Result<(), ZkError> {
        let mask = match watcher_type {
            WatcherType::Children => CHILD,
            WatcherType::Data => DATA,
            WatcherType::Any => DATA | CHILD | PERSISTENT | RECURSIVE,
            WatcherType::Persistent => PERSISTENT,
            WatcherType::PersistentRecursive => RECURSIVE,
        };
        let bits = self.bits(session, path);
        if bits & mask == 0 {
            return Err(ZkError::new(ErrorCode::NoWatcher, path));
        }
        self.set_bits(session, path, bits & !mask);
        Ok(())
    }

    /// Drops every watch of `session`; returns the paths it watched.
    pub fn remove_session(&mut self, session: SessionId) -> Vec<String> {
        let paths: Vec<String> = self
            .by_session
            .get(&session)
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default();
        for p in &paths {
            self.set_bits(session, p, 0);
        }
        paths
    }

    /// Whether `session` has any watch on `path`.
    pub fn is_watching(&self, session: SessionId, path: &str) -> bool {
        self.bits(session, path) != 0
    }

    /// The sessions that watch `path`, by id.
    pub fn watchers(&self, path: &str) -> Vec<SessionId> {
        self.by_path
            .get(path)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether any session watches `path`.
    pub fn is_watched(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }

    /// Turns the changes of one entry into firings, one per watched znode that
    /// hears a change, in change order; consumes the one-shot watches that fire.
    pub(crate) fn fire(&mut self, changes: &[Change], zxid: i64, tree: &DataTree) -> Fired {
        let mut out = Fired::default();
        // A session this entry closes is gone from `tree` and hears nothing of
        // the entry (not even of its own ephemerals): its watches go first.
        for change in changes {
            if let Change::SessionClosed(id) = change {
                let paths = self.remove_session(*id);
                if !paths.is_empty() {
                    out.closed.push((*id, paths));
                }
            }
        }
        if self.by_path.is_empty() {
            return out;
        }
        let mut seq: u32 = 0;
        for change in changes {
            let Change::Node {
                event_type,
                path,
                acl,
            } = change
            else {
                continue;
            };
            seq = seq.saturating_add(1);
            let first = out.firings.len();
            let mut hear = Hearing {
                firings: &mut out.firings,
                first,
                told: Vec::new(),
                event_type: *event_type,
                path,
                zxid,
                seq,
            };
            match event_type {
                EventType::NodeCreated | EventType::NodeDataChanged => {
                    self.fire_data(path, &mut hear)
                }
                EventType::NodeDeleted => {
                    self.fire_data(path, &mut hear);
                    self.fire_exact(path, CHILD_TABLE, CHILD, &mut hear);
                }
                EventType::NodeChildrenChanged => {
                    self.fire_exact(path, CHILD_TABLE, CHILD, &mut hear)
                }
            }
            // Each session once per change, with the first watch that heard it
            // (a deletion fires two tables, recursive watches every ancestor).
            let mut told = hear.told;
            told.sort_unstable();
            told.dedup_by_key(|(s, _)| *s);
            // Readable by anyone: no session to look up, since every
            // watching session is live (check_invariants).
            let world_readable = check_acl(acl, Perms::READ, &[]);
            for (session, at) in told {
                debug_assert!(tree.session(session).is_some());
                let may_read = world_readable
                    || tree
                        .session(session)
                        .is_some_and(|s| check_acl(acl, Perms::READ, &s.identities));
                if may_read {
                    out.firings[at].tell.push(session);
                }
            }
            // A group that told no one and consumed nothing (its readers lack READ).
            if out.firings[first..]
                .iter()
                .any(|f| f.tell.is_empty() && f.released.is_empty())
            {
                let tail = out.firings.split_off(first);
                out.firings.extend(
                    tail.into_iter()
                        .filter(|f| !f.tell.is_empty() || !f.released.is_empty()),
                );
            }
        }
        out
    }

    /// Fires the data table at `path` and recursive watches on its ancestors.
    fn fire_data(&mut self, path: &str, hear: &mut Hearing<'_>) {
        self.fire_exact(path, DATA_TABLE, DATA, hear);
        if self.recursive_count == 0 {
            return;
        }
        let mut parent = parent_of(path);
        while let Some(p) = parent {
            if let Some(m) = self.by_path.get(p) {
                let mut at = None;
                for (s, _) in m.iter().filter(|(_, b)| **b & RECURSIVE != 0) {
                    let at = *at.get_or_insert_with(|| hear.group(p));
                    hear.told.push((*s, at));
                }
            }
            parent = parent_of(p);
        }
    }

    /// Fires every watch in `table` on exactly `path`, removing the `one_shot` bit.
    fn fire_exact(&mut self, path: &str, table: u8, one_shot: u8, hear: &mut Hearing<'_>) {
        let Some(m) = self.by_path.get(path) else {
            return;
        };
        let mut at = None;
        let mut consumed = Vec::new();
        for (session, bits) in m.iter().filter(|(_, b)| **b & table != 0) {
            let at = *at.get_or_insert_with(|| hear.group(path));
            hear.told.push((*session, at));
            if bits & one_shot != 0 {
                consumed.push((*session, *bits, at));
            }
        }
        for (session, bits, at) in consumed {
            let left = bits & !one_shot;
            if left == 0 {
                hear.firings[at].released.push(session);
            }
            self.set_bits(session, path, left);
        }
    }

    /// Checks that both maps agree, hold no empty entries, that the recursive count is
    /// right, and that every watching session is live in `tree`.
    pub fn check_invariants(&self, tree: &DataTree) -> Result<(), String> {
        let mut pairs = 0;
        let mut recursive = 0;
        for (path, m) in &self.by_path {
            if m.is_empty() {
                return Err(format!("watch index: empty session map for {path}"));
            }
            for (s, bits) in m {
                if *bits == 0 || !self.by_session.get(s).is_some_and(|p| p.contains(path)) {
                    return Err(format!("watch index: {path} / 0x{s:x} out of step"));
                }
                if bits & RECURSIVE != 0 {
                    recursive += 1;
                }
                pairs += 1;
            }
        }
        let listed: usize = self.by_session.values().map(BTreeSet::len).sum();
        if pairs != self.len() || listed != pairs || recursive != self.recursive_count {
            return Err("watch index: counts out of step".into());
        }
        match self.by_session.keys().find(|s| tree.session(**s).is_none()) {
            Some(s) => Err(format!("watch index: session 0x{s:x} is not live")),
            None => Ok(()),
        }
    }
}
