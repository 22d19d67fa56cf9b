//! The client's watch registry: which local watchers each path has, and how
//! one server event reaches them (ZooKeeper's `ZKWatchManager.materialize`).
//!
//! The server sends one event per change per session, however many of the
//! session's watches match; the registry hands it to every local watcher it
//! concerns:
//!
//! | event at P                      | one-shot (removed)         | persistent | persistent-recursive |
//! |---------------------------------|----------------------------|------------|----------------------|
//! | NodeCreated, NodeDataChanged    | data, exist of P           | P          | P and its ancestors  |
//! | NodeDeleted                     | data, exist, child of P    | P          | P and its ancestors  |
//! | NodeChildrenChanged             | child of P                 | P          | none                 |
//!
//! The registry also lists what it holds for `SetWatches` after a reconnect,
//! and ends every watcher when the session ends.

use std::collections::BTreeMap;

use corral_core::tree::{EventType, WatchedEvent, WatcherType};
use corral_transport::wire::WatchesToRestore;

use crate::error::Error;
use crate::watch::{Delivered, OneShotSender, PersistentSink, StreamEnd, WatchItem};

/// The kinds of one-shot watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OneShotKind {
    /// getData, or exists on an existing node.
    Data,
    /// exists on a missing node.
    Exist,
    /// getChildren.
    Child,
}

/// Every watcher of one session, by kind and path.
#[derive(Debug, Default)]
pub(crate) struct WatchRegistry {
    data: BTreeMap<String, Vec<OneShotSender>>,
    exist: BTreeMap<String, Vec<OneShotSender>>,
    child: BTreeMap<String, Vec<OneShotSender>>,
    persistent: BTreeMap<String, Vec<PersistentSink>>,
    recursive: BTreeMap<String, Vec<PersistentSink>>,
}

/// `path`'s proper ancestors, nearest first, ending with `/`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let current = rest?;
        if current == "/" || current.is_empty() {
            rest = None;
            return None;
        }
        let parent = match current.rfind('/') {
            Some(0) | None => "/",
            Some(i) => &current[..i],
        };
        rest = Some(parent);
        Some(parent)
    })
}

fn fire(map: &mut BTreeMap<String, Vec<OneShotSender>>, event: &WatchedEvent) {
    for tx in map.remove(&event.path).unwrap_or_default() {
        let _ = tx.send(Ok(event.clone()));
    }
}

fn deliver(map: &mut BTreeMap<String, Vec<PersistentSink>>, path: &str, item: &WatchItem) {
    if let Some(sinks) = map.get_mut(path) {
        sinks.retain(|sink| sink.deliver(path, item.clone()) == Delivered::Yes);
        if sinks.is_empty() {
            map.remove(path);
        }
    }
}

fn live_one_shot_paths(map: &mut BTreeMap<String, Vec<OneShotSender>>) -> Vec<String> {
    map.retain(|_, txs| {
        txs.retain(|tx| !tx.is_closed());
        !txs.is_empty()
    });
    map.keys().cloned().collect()
}

fn live_persistent_paths(map: &mut BTreeMap<String, Vec<PersistentSink>>) -> Vec<String> {
    map.retain(|_, sinks| {
        sinks.retain(|sink| !sink.is_gone());
        !sinks.is_empty()
    });
    map.keys().cloned().collect()
}

fn end_one_shots(map: &mut BTreeMap<String, Vec<OneShotSender>>, error: &dyn Fn(&str) -> Error) {
    for (path, txs) in std::mem::take(map) {
        for tx in txs {
            let _ = tx.send(Err(error(&path)));
        }
    }
}

fn end_streams(map: &mut BTreeMap<String, Vec<PersistentSink>>, end: &dyn Fn(&str) -> StreamEnd) {
    for (path, sinks) in std::mem::take(map) {
        for sink in sinks {
            sink.end_with(end(&path));
        }
    }
}

impl WatchRegistry {
    /// Adds a one-shot watcher (after the server's successful reply).
    pub(crate) fn add_one_shot(&mut self, kind: OneShotKind, path: &str, tx: OneShotSender) {
        let map = match kind {
            OneShotKind::Data => &mut self.data,
            OneShotKind::Exist => &mut self.exist,
            OneShotKind::Child => &mut self.child,
        };
        map.entry(path.to_owned()).or_default().push(tx);
    }

    /// Adds a persistent watcher (after the server's successful AddWatch reply).
    pub(crate) fn add_persistent(&mut self, path: &str, recursive: bool, sink: PersistentSink) {
        let map = if recursive {
            &mut self.recursive
        } else {
            &mut self.persistent
        };
        map.entry(path.to_owned()).or_default().push(sink);
    }

    /// Hands one server event to every watcher it concerns.
    pub(crate) fn materialize(&mut self, event: &WatchedEvent) {
        let item = WatchItem::Event(event.clone());
        match event.event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                fire(&mut self.data, event);
                fire(&mut self.exist, event);
            }
            EventType::NodeDeleted => {
                fire(&mut self.data, event);
                fire(&mut self.exist, event);
                fire(&mut self.child, event);
            }
            EventType::NodeChildrenChanged => {
                fire(&mut self.child, event);
            }
        }
        deliver(&mut self.persistent, &event.path, &item);
        if event.event_type != EventType::NodeChildrenChanged {
            deliver(&mut self.recursive, &event.path, &item);
            for ancestor in ancestors(&event.path) {
                deliver(&mut self.recursive, ancestor, &item);
            }
        }
    }

    /// Tells the persistent watchers of exactly `path` that events were missed.
    pub(crate) fn resync_needed(&mut self, path: &str, last_zxid_seen: i64, oldest_zxid: i64) {
        let item = WatchItem::ResyncNeeded {
            path: path.to_owned(),
            last_zxid_seen,
            oldest_zxid,
        };
        deliver(&mut self.persistent, path, &item);
        deliver(&mut self.recursive, path, &item);
    }

    /// Every watch still held (watchers dropped by the application are
    /// forgotten first), for `SetWatches` after a reconnect.
    pub(crate) fn watches_held(&mut self, relative_zxid: i64) -> WatchesToRestore {
        WatchesToRestore {
            relative_zxid,
            data: live_one_shot_paths(&mut self.data),
            exist: live_one_shot_paths(&mut self.exist),
            child: live_one_shot_paths(&mut self.child),
            persistent: live_persistent_paths(&mut self.persistent),
            persistent_recursive: live_persistent_paths(&mut self.recursive),
        }
    }

    /// Whether no watcher is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    /// Drops the watchers of `path` that a successful RemoveWatches removed;
    /// they end with [`Error::WatchRemoved`].
    pub(crate) fn remove(&mut self, path: &str, watcher_type: WatcherType) {
        let removed = |path: &str| Error::WatchRemoved {
            path: path.to_owned(),
        };
        let mut one_shots = Vec::new();
        let mut streams = Vec::new();
        let (data, child, persistent, recursive) = match watcher_type {
            WatcherType::Children => (false, true, false, false),
            WatcherType::Data => (true, false, false, false),
            WatcherType::Any => (true, true, true, true),
            WatcherType::Persistent => (false, false, true, false),
            WatcherType::PersistentRecursive => (false, false, false, true),
        };
        if data {
            one_shots.extend(self.data.remove(path).unwrap_or_default());
            one_shots.extend(self.exist.remove(path).unwrap_or_default());
        }
        if child {
            one_shots.extend(self.child.remove(path).unwrap_or_default());
        }
        if persistent {
            streams.extend(self.persistent.remove(path).unwrap_or_default());
        }
        if recursive {
            streams.extend(self.recursive.remove(path).unwrap_or_default());
        }
        for tx in one_shots {
            let _ = tx.send(Err(removed(path)));
        }
        for sink in streams {
            sink.end_with(StreamEnd::Removed {
                path: path.to_owned(),
            });
        }
    }

    /// Ends every watcher: the session expired or was closed.
    pub(crate) fn end_all(&mut self, end: &StreamEnd) {
        let error = |_: &str| match end {
            StreamEnd::Expired(reason) => Error::SessionExpired {
                reason: reason.clone(),
            },
            _ => Error::Closed,
        };
        end_one_shots(&mut self.data, &error);
        end_one_shots(&mut self.exist, &error);
        end_one_shots(&mut self.child, &error);
        end_streams(&mut self.persistent, &|_| end.clone());
        end_streams(&mut self.recursive, &|_| end.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_run_from_the_parent_to_the_root() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), ["/"]);
        assert_eq!(ancestors("/").count(), 0);
    }
}
