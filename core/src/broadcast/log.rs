//! The in-memory log: a snapshot boundary plus the entries after it, with the
//! commit, applied and persisted (stable) marks.
//!
//! The caller's storage mirrors it through [`Persist`](super::Persist) batches;
//! this type only remembers how far that mirror is known to be durable
//! (`stable`) and which entries have not yet been handed out (`unstable_from`).

use super::message::Entry;

/// The log of one node. Entry `k` of `entries` has index `snap_index + 1 + k`.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    snap_index: u64,
    snap_term: u64,
    entries: Vec<Entry>,
    /// Highest index known committed.
    pub(crate) committed: u64,
    /// Highest index handed to the caller to apply (or restored from a snapshot).
    pub(crate) applied: u64,
    /// Highest index known durable in the caller's storage.
    pub(crate) stable: u64,
    /// First index not yet handed to the caller for persistence.
    unstable_from: u64,
}

impl Log {
    /// A log restored from storage: a snapshot boundary and the entries after it,
    /// all durable. `None` if the entries are not contiguous from the boundary.
    pub(crate) fn restore(
        snap_index: u64,
        snap_term: u64,
        entries: Vec<Entry>,
        committed: u64,
    ) -> Option<Self> {
        let contiguous = entries.iter().enumerate().all(|(k, e)| {
            e.index == snap_index + 1 + k as u64
                && e.term
                    >= if k == 0 {
                        snap_term
                    } else {
                        entries[k - 1].term
                    }
        });
        if !contiguous {
            return None;
        }
        let last = snap_index + entries.len() as u64;
        Some(Self {
            snap_index,
            snap_term,
            entries,
            committed: committed.clamp(snap_index, last),
            applied: snap_index,
            stable: last,
            unstable_from: last + 1,
        })
    }

    /// Index of the last entry covered by the snapshot.
    pub(crate) fn snap_index(&self) -> u64 {
        self.snap_index
    }

    /// Index of the last entry (the snapshot's when the log is empty).
    pub(crate) fn last_index(&self) -> u64 {
        self.snap_index + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub(crate) fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snap_term, |e| e.term)
    }

    /// Term at `index`, if known (the snapshot boundary counts, compacted entries do not).
    pub(crate) fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snap_index {
            Some(self.snap_term)
        } else {
            self.entry(index).map(|e| e.term)
        }
    }

    /// The entry at `index`, if in memory.
    pub(crate) fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snap_index {
            return None;
        }
        let k = usize::try_from(index - self.snap_index - 1).ok()?;
        self.entries.get(k)
    }

    /// Entries from `lo` on, at most `max_count` and `max_bytes` (but at least one).
    pub(crate) fn slice_from(&self, lo: u64, max_count: u64, max_bytes: u64) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut index = lo;
        while let Some(e) = self.entry(index) {
            bytes += e.size_bytes();
            if !out.is_empty() && (bytes > max_bytes || out.len() as u64 >= max_count) {
                break;
            }
            out.push(e.clone());
            index += 1;
        }
        out
    }

    /// Appends entries that directly follow the last one (leader side).
    pub(crate) fn append(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for e in entries {
            assert_eq!(
                e.index,
                self.last_index() + 1,
                "log append must be contiguous"
            );
            assert!(e.term >= self.last_term(), "log terms must not decrease");
            self.entries.push(e);
        }
    }

    /// Position in `entries` of the first one that is not already in the log
    /// (either absent or with a different term).
    pub(crate) fn find_conflict(&self, entries: &[Entry]) -> Option<usize> {
        entries
            .iter()
            .position(|e| self.term_at(e.index) != Some(e.term))
    }

    /// Drops every entry from `index` on. Never called at or below the commit.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        assert!(index > self.committed, "truncating committed entry {index}");
        assert!(index > self.snap_index, "truncating below the snapshot");
        let keep = usize::try_from(index - self.snap_index - 1).unwrap_or(usize::MAX);
        self.entries.truncate(keep);
        self.stable = self.stable.min(index - 1);
        self.unstable_from = self.unstable_from.min(index);
    }

    /// Raft's "at least as up to date" comparison of a candidate's last entry.
    pub(crate) fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Follower's backtracking hint after a mismatch at `prev_index`:
    /// (first index of the conflicting term, that term) or (last + 1, None).
    pub(crate) fn conflict_hint(&self, prev_index: u64) -> (u64, Option<u64>) {
        match self.term_at(prev_index) {
            None => (self.last_index() + 1, None),
            Some(term) => {
                // Terms never decrease along the log, so binary search works.
                let first = self.entries.partition_point(|e| e.term < term);
                let index = (self.snap_index + 1 + first as u64).min(prev_index);
                (index.max(self.committed + 1), Some(term))
            }
        }
    }

    /// Last index holding `term`, if the log has it (leader side of backtracking).
    pub(crate) fn last_index_of_term(&self, term: u64) -> Option<u64> {
        let k = self.entries.partition_point(|e| e.term <= term);
        if k > 0 && self.entries[k - 1].term == term {
            Some(self.entries[k - 1].index)
        } else if k == 0 && self.snap_term == term {
            Some(self.snap_index)
        } else {
            None
        }
    }

    /// Entries not yet handed out for persistence; marks them handed out.
    pub(crate) fn take_unstable(&mut self) -> Vec<Entry> {
        let lo = self.unstable_from.max(self.snap_index + 1);
        let out: Vec<Entry> = match usize::try_from(lo - self.snap_index - 1) {
            Ok(k) if k < self.entries.len() => self.entries[k..].to_vec(),
            _ => Vec::new(),
        };
        self.unstable_from = self.last_index() + 1;
        out
    }

    /// Whether some entries have not been handed out for persistence.
    pub(crate) fn has_unstable(&self) -> bool {
        self.unstable_from <= self.last_index()
    }

    /// The caller made entries up to (`index`, `term`) durable. Ignored if the
    /// log has since been overwritten there.
    pub(crate) fn mark_stable(&mut self, index: u64, term: u64) {
        if self.term_at(index) == Some(term) && index > self.stable {
            self.stable = index;
        }
    }

    /// The snapshot at `index` is durable.
    pub(crate) fn mark_snapshot_stable(&mut self, index: u64) {
        if index == self.snap_index && self.stable < index {
            self.stable = index;
        }
    }

    /// Raises the commit index (never lowers it).
    pub(crate) fn commit_to(&mut self, index: u64) -> bool {
        assert!(index <= self.last_index(), "commit {index} beyond the log");
        if index > self.committed {
            self.committed = index;
            true
        } else {
            false
        }
    }

    /// Committed, durable entries not yet applied, at most `max_count`; marks
    /// them applied.
    pub(crate) fn take_committed(&mut self, max_count: u64) -> Vec<Entry> {
        let hi = self
            .committed
            .min(self.stable)
            .min(self.applied.saturating_add(max_count));
        if hi <= self.applied || self.applied < self.snap_index {
            return Vec::new();
        }
        let lo = usize::try_from(self.applied - self.snap_index).unwrap_or(usize::MAX);
        let hi_k = usize::try_from(hi - self.snap_index).unwrap_or(usize::MAX);
        self.applied = hi;
        self.entries[lo..hi_k].to_vec()
    }

    /// Drops entries up to `index` (covered by a snapshot the caller keeps).
    pub(crate) fn compact(&mut self, index: u64) {
        assert!(
            index > self.snap_index && index <= self.applied,
            "bad compaction to {index}"
        );
        let Some(term) = self.term_at(index) else {
            unreachable!("entry {index} between snapshot and applied must be in memory")
        };
        let drop = usize::try_from(index - self.snap_index).unwrap_or(usize::MAX);
        self.entries.drain(..drop);
        self.snap_index = index;
        self.snap_term = term;
    }

    /// Replaces the whole log by a snapshot boundary received from the leader;
    /// the snapshot is applied at once and made durable by the next persist.
    pub(crate) fn reset_to_snapshot(&mut self, index: u64, term: u64) {
        assert!(
            index > self.committed,
            "installing an already committed snapshot"
        );
        self.entries.clear();
        self.snap_index = index;
        self.snap_term = term;
        self.committed = index;
        self.applied = index;
        self.stable = self.stable.min(index.saturating_sub(1));
        self.unstable_from = index + 1;
    }

    /// Internal consistency; panics with the broken rule.
    pub(crate) fn check_invariants(&self) {
        let last = self.last_index();
        assert!(self.snap_index <= self.committed, "commit below snapshot");
        assert!(self.committed <= last, "commit beyond log");
        assert!(self.applied <= self.committed, "applied beyond commit");
        assert!(self.stable <= last, "stable beyond log");
        assert!(self.unstable_from <= last + 1, "unstable mark beyond log");
        if let (Some(first), Some(end)) = (self.entries.first(), self.entries.last()) {
            assert_eq!(
                first.index,
                self.snap_index + 1,
                "first entry not after snapshot"
            );
            assert_eq!(end.index, last, "entries not contiguous");
            assert!(first.term >= self.snap_term, "term below snapshot term");
        }
    }
}
