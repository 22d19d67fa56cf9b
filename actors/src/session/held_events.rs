//! The events a session's writer has drained but not yet sent, in the order
//! they must go out: by (zxid, change), ties broken by arrival.
//!
//! A herd's watchers each hold one event at a time, so one event is kept in
//! place and only a second one moves them into a map. A map's first insert
//! allocates a node (~800 B) on the first event of every session, which in a
//! 10,000-watcher fan-out was three quarters of the memory a node newly
//! touched in its first round (page faults, on fresh huge pages).

use std::collections::BTreeMap;

use super::events::SessionEvent;
use crate::znode::fanout_mark::FiringKey;

/// Where a held event goes: (zxid, change, arrival).
type HeldKey = (i64, u32, u64);

/// Drained events waiting for their turn, in (zxid, change, arrival) order.
#[derive(Debug, Default)]
pub(super) struct HeldEvents {
    /// The only held event, while there is one and `many` is empty.
    one: Option<(HeldKey, SessionEvent)>,
    /// Every held event, once more than one was held at a time.
    many: BTreeMap<HeldKey, SessionEvent>,
}

impl HeldEvents {
    /// How many events are held.
    pub(super) fn len(&self) -> usize {
        usize::from(self.one.is_some()) + self.many.len()
    }

    /// Whether no event is held.
    pub(super) fn is_empty(&self) -> bool {
        self.one.is_none() && self.many.is_empty()
    }

    /// Holds `event` at `key`.
    pub(super) fn insert(&mut self, key: HeldKey, event: SessionEvent) {
        if !self.many.is_empty() {
            self.many.insert(key, event);
            return;
        }
        match self.one.take() {
            None => self.one = Some((key, event)),
            Some((first_key, first)) => {
                self.many.insert(first_key, first);
                self.many.insert(key, event);
            }
        }
    }

    /// Takes the first held event if its (zxid, change) is at most `upto`.
    pub(super) fn pop_through(&mut self, upto: FiringKey) -> Option<SessionEvent> {
        let due = |&(zxid, seq, _): &HeldKey| (zxid, seq) <= upto;
        if let Some((key, _)) = &self.one {
            if !due(key) {
                return None;
            }
            return self.one.take().map(|(_, event)| event);
        }
        let entry = self.many.first_entry()?;
        if !due(entry.key()) {
            return None;
        }
        Some(entry.remove())
    }

    /// The zxid of the last held event.
    pub(super) fn last_zxid(&self) -> Option<i64> {
        match &self.one {
            Some(((zxid, _, _), _)) => Some(*zxid),
            None => self.many.last_key_value().map(|(&(zxid, _, _), _)| zxid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::tree::ResyncNeeded;

    /// A distinguishable event (the path names it).
    fn event(name: &str) -> SessionEvent {
        SessionEvent::Resync(ResyncNeeded {
            path: name.into(),
            last_zxid_seen: 0,
            oldest_zxid: 0,
        })
    }

    fn name(e: Option<SessionEvent>) -> Option<String> {
        match e {
            Some(SessionEvent::Resync(r)) => Some(r.path),
            Some(other) => panic!("unexpected event {other:?}"),
            None => None,
        }
    }

    #[test]
    fn one_event_waits_for_its_turn_and_then_goes() {
        let mut held = HeldEvents::default();
        held.insert((5, 0, 1), event("a"));
        assert_eq!(held.len(), 1);
        assert_eq!(held.last_zxid(), Some(5));
        assert_eq!(name(held.pop_through((4, u32::MAX))), None);
        assert_eq!(name(held.pop_through((5, 0))), Some("a".into()));
        assert!(held.is_empty());
        assert_eq!(held.last_zxid(), None);
    }

    #[test]
    fn events_out_of_arrival_order_go_out_by_zxid_change_and_arrival() {
        let mut held = HeldEvents::default();
        held.insert((7, 0, 1), event("z7"));
        held.insert((5, 1, 2), event("z5c1"));
        held.insert((5, 0, 3), event("z5c0"));
        held.insert((5, 1, 4), event("z5c1-later"));
        assert_eq!(held.len(), 4);
        assert_eq!(held.last_zxid(), Some(7));
        let mut out = Vec::new();
        while let Some(n) = name(held.pop_through((6, u32::MAX))) {
            out.push(n);
        }
        assert_eq!(out, ["z5c0", "z5c1", "z5c1-later"]);
        assert_eq!(held.len(), 1);
        assert_eq!(name(held.pop_through((7, 0))), Some("z7".into()));
        assert!(held.is_empty());
    }

    #[test]
    fn after_a_crowd_one_event_still_keeps_the_order() {
        let mut held = HeldEvents::default();
        held.insert((3, 0, 1), event("a"));
        held.insert((4, 0, 2), event("b"));
        assert_eq!(name(held.pop_through((3, 0))), Some("a".into()));
        // One left, in the map: a new earlier event must still go first.
        held.insert((2, 0, 3), event("early"));
        assert_eq!(name(held.pop_through((9, 0))), Some("early".into()));
        assert_eq!(name(held.pop_through((9, 0))), Some("b".into()));
        assert_eq!(name(held.pop_through((9, 0))), None);
        held.insert((8, 0, 4), event("alone"));
        assert_eq!(held.len(), 1);
        assert_eq!(name(held.pop_through((8, 0))), Some("alone".into()));
    }
}
