//! The atomic-broadcast consensus core, sans-IO: a Raft-family protocol as a
//! deterministic state machine (the quinn-proto / etcd-raft shape).
//!
//! # Events in, commands out
//!
//! ```text
//!            step(msg)  tick()  propose(batch)  read_index(ctx)  transfer_leadership(id)
//!                 │        │          │               │                 │
//!                 ▼        ▼          ▼               ▼                 ▼
//!          ┌──────────────────────── Node ──────────────────────────────────┐
//!          │ election.rs  replication.rs  snapshot.rs  read_index.rs  ...   │
//!          └────────────────────────────────────────────────────────────────┘
//!                                      │ ready()
//!                                      ▼
//!   Ready { persist: {snapshot, entries, hard state, token},  messages,
//!           apply_snapshot, committed_entries, read_states }
//!                                      │
//!        persisted(token) ◄── caller makes `persist` durable (maybe later)
//! ```
//!
//! # The Ready contract: persist → send → apply → advance
//!
//! Call [`Node::ready`] after any input (or when [`Node::has_ready`] says so).
//! For each [`Ready`]:
//! 1. **persist** `ready.persist` if present: store the snapshot if any (and
//!    drop every stored entry), drop stored entries from the first new entry's
//!    index on and append the new ones, then store the hard state — durably, in
//!    that order. A batch may be empty: it still carries a token;
//! 2. **send** `ready.messages`. This may happen before or while step 1 runs: no
//!    message in a Ready depends on that Ready's persist;
//! 3. **apply** `ready.apply_snapshot` (restore the state machine from it), then
//!    `ready.committed_entries` in order; answer `ready.read_states` once the
//!    applied index reaches theirs;
//! 4. **advance**: once the write of step 1 is durable, hand its
//!    [`PersistToken`] back with [`Node::persisted`] (later is fine: disks may be
//!    slow). Until then no further persist batch is produced, and every message
//!    that acknowledges durable state — vote grants, append, snapshot and
//!    heartbeat answers, the candidate's own vote — stays inside the node, as
//!    does the leader's own match index. The token is neither `Clone` nor
//!    constructible outside this module, so nothing can be acknowledged without
//!    the write that makes it true.
//!
//! Committed entries are handed out only once they are durable locally, so the
//! state machine never runs ahead of the log it would restart from.
//!
//! # Protocol
//!
//! Raft (Ongaro 2014) with: randomized election timeouts in `[T, 2T)` ticks drawn
//! from a caller-seeded RNG; pre-vote (a candidate first asks whether it could
//! win, without bumping terms); check-quorum (a leader that heard from no quorum
//! in an election timeout steps down, and a follower that hears a leader ignores
//! vote requests); a new leader appends a no-op and commits only through an entry
//! of its own term; pipelined appends per follower (probe / replicate / snapshot
//! states) bounded by `max_inflight_msgs` and `max_inflight_bytes`, falling back
//! to probing when a window's answers stop coming; proposals between two
//! `ready()` calls go out in one append; a follower that rejects an append
//! returns the conflicting term and its first index so the leader skips a whole
//! term per round trip; snapshots handed in by the state machine compact the
//! log, and a follower behind the snapshot receives it in chunks of
//! `snapshot_chunk_bytes` (each transfer pins its snapshot, so compacting again
//! does not restart it); learners receive the log without voting; membership
//! changes add, remove or promote one server at a time and take effect when
//! appended (see `membership.rs`); leader transfer catches the target up and
//! sends it `TimeoutNow`; ReadIndex answers "reads are safe once applied ≥ N"
//! after a heartbeat quorum confirms leadership. Where the leader and one
//! follower make a quorum (three voters or fewer), the leader tells lagging
//! followers once its own write is durable, and a follower commits what both
//! hold durably of the leader's term without waiting for commit news (see
//! `leader_durable.rs`); ReadIndex then waits for what the leader announced,
//! since a follower may have answered a client for it. zxid = log index,
//! epoch = term.
//!
//! The founding membership is log entry 1 (term 1), so a node that joins later
//! learns the whole configuration history from the log or a snapshot; it starts
//! from an empty [`PersistedState`]. Requests are judged by term and log, never
//! by the receiver's view of the configuration (a node added in an entry it has
//! not seen yet may need its vote or lead it); peers are authenticated by the
//! transport, so an *unknown sender* here is one whose answer answers nothing
//! this node asked: a response the leader has no progress for, a vote from a
//! non-voter.
//!
//! # Invariants (checked by the simulator after every step)
//!
//! - **Election safety**: at most one leader per term.
//! - **Log matching**: two logs with an entry of the same index and term are
//!   identical up to it (checked on every entry handed out for persistence:
//!   one content and one preceding term per (index, term)).
//! - **Leader completeness**: a committed entry is in the log of every leader of
//!   a later term (checked when a leadership is first seen, and when an entry is
//!   first seen committed while a later-term leader exists).
//! - **Commit agreement**: no two nodes commit different entries at one index.
//! - **State-machine safety**: no two nodes apply different entries at one index
//!   (the state after each index is the same everywhere, snapshots included).
//! - **Monotonic apply**: a node's applied index never goes back (it only
//!   restarts from its snapshot after a crash).
//! - **Durability**: nothing committed is lost when nodes crash and restart from
//!   what they persisted: every committed entry is in every later leader, and
//!   after the faults heal every member applies the same history up to a fresh
//!   commit.
//! - **ReadIndex**: an answer is never below the commit index any node had when
//!   the read was issued.
//! - **Local invariants**: [`Node::check_invariants`] (commit ≤ last index,
//!   applied ≤ commit, progress within the log, flow-control accounting), which
//!   debug builds also run after every input.
//!
//! Liveness, also asserted: after the faults heal, a proposal commits within a
//! bounded time.
//!
//! Bad input (answers from unknown senders, stale terms, absurd indexes or
//! sizes, malformed content) is refused and counted in [`Node::rejects`]; it
//! never panics.
//!
//! # Testing
//!
//! The simulator lives in `core/tests/support/sim/` (tests only: it is as
//! deterministic as this module, one seeded RNG and an event queue ordered by
//! delivery time). `cargo test -p corral-core --test sim_safety_under_faults`
//! runs 2,000 seeds × 2,000 steps; `CORRAL_SIM_SEEDS`, `CORRAL_SIM_STEPS` or
//! `CORRAL_SIM_LONG=1` (×50 seeds, ×5 steps) run more. A failing seed prints
//! its replay command (`CORRAL_SIM_SEED=N cargo test -p corral-core --test
//! sim_replay`). `sim_checker_catches_broken_vote_rule` proves the checker can
//! fail, using [`Config::test_break_vote_log_check`]; `sim_regressions` and
//! `broadcast_regressions` pin every bug found so far.

mod config;
mod election;
mod leader_durable;
mod log;
mod membership;
mod message;
mod progress;
mod quorum;
mod read_index;
mod ready;
mod rejects;
mod replication;
mod rng;
mod snapshot;
mod step;

use std::collections::BTreeMap;

pub use config::{Config, ConfigError};
pub use election::TransferError;
pub use membership::{ConfChange, ConfChangeError, Membership};
pub use message::{
    AppendResult, Body, DecodeError, Entry, EntryKind, HardState, Message, Snapshot, SnapshotMeta,
};
pub use read_index::{ReadError, ReadState};
pub use ready::{Persist, PersistToken, Ready};
pub use rejects::{RejectCounters, Rejected};
pub use replication::ProposeError;
pub use snapshot::CompactError;

use log::Log;
use progress::Progress;
use rng::Rng;

/// Identifies a node of the cluster; 0 is reserved for "none".
pub type NodeId = u64;

/// A node's role in its current term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one). Learners are always followers.
    Follower,
    /// Asking whether it could win an election, without changing its term.
    PreCandidate,
    /// Campaigning in its term.
    Candidate,
    /// Leads its term.
    Leader,
}

/// What a node restarts from: everything its storage holds.
#[derive(Debug, Clone, Default)]
pub struct PersistedState {
    /// Last persisted hard state.
    pub hard_state: HardState,
    /// Last persisted snapshot (index 0 with the initial membership for a new cluster).
    pub snapshot: Snapshot,
    /// Persisted entries after the snapshot, contiguous.
    pub entries: Vec<Entry>,
}

impl PersistedState {
    /// The state of a founding node of a cluster that starts with `membership`
    /// (every founding node must use the same one). The membership becomes
    /// entry 1 (term 1, committed), so nodes that join later learn it from the
    /// log; a joining node starts from [`PersistedState::default`].
    pub fn bootstrap(membership: Membership) -> Self {
        Self {
            hard_state: HardState {
                term: 1,
                vote: None,
                commit: 1,
            },
            snapshot: Snapshot::default(),
            entries: vec![Entry {
                index: 1,
                term: 1,
                kind: EntryKind::Bootstrap(membership),
            }],
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The persisted state is inconsistent.
    #[error("inconsistent persisted state: {0}")]
    Corrupt(&'static str),
}

/// One consensus node. Inputs are `step`, `tick`, `propose*`, `read_index`,
/// `transfer_leadership`, `compact` and `persisted`; the output is [`Node::ready`].
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    rng: Rng,
    term: u64,
    vote: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: Log,
    /// The latest snapshot (the log is compacted up to it); sent to laggards.
    snapshot: Snapshot,
    /// Membership after each configuration entry still in the log, by index.
    conf_entries: Vec<(u64, Membership)>,
    /// Membership in force: the last configuration entry's, or the snapshot's.
    membership: Membership,
    /// Leader only: one per other member.
    progress: BTreeMap<NodeId, Progress>,
    /// (Pre-)candidate only: votes received.
    votes: BTreeMap<NodeId, bool>,
    election_elapsed_ticks: u32,
    heartbeat_elapsed_ticks: u32,
    randomized_election_timeout_ticks: u32,
    /// Election timeouts left that last only a few ticks: the leader's process
    /// was reported gone and no leader is known since (see `peer_gone`).
    quick_campaigns: u8,
    /// Leader: the target of a transfer in progress (abandoned after an
    /// election timeout).
    transfer: Option<NodeId>,
    reads: read_index::ReadIndexState,
    incoming_snapshot: Option<snapshot::IncomingSnapshot>,
    durable: ready::Durability,
    outbox: ready::Outbox,
    read_states: Vec<ReadState>,
    apply_snapshot: Option<Snapshot>,
    rejects: RejectCounters,
    /// Leader: entries were proposed since the last broadcast (batched at `ready`).
    append_pending: bool,
    /// Leader: bytes of entries proposed and not yet committed.
    uncommitted_bytes: u64,
    /// Follower: how far the leader of this term says its log is durable.
    leader_durable: leader_durable::DurableInTerm,
    /// Leader: the highest durable index it told followers of, in its term.
    durable_announced: leader_durable::DurableInTerm,
    /// Follower: commits learned from the leader's durable news.
    commits_on_leader_durable: u64,
}

impl Node {
    /// Starts a node from its persisted state (use [`PersistedState::bootstrap`]
    /// for a new one). `seed` drives its election timeouts and nothing else.
    pub fn new(cfg: Config, state: PersistedState, seed: u64) -> Result<Self, StartError> {
        cfg.validate()?;
        let PersistedState {
            hard_state,
            snapshot,
            entries,
        } = state;
        let log = Log::restore(
            snapshot.meta.index,
            snapshot.meta.term,
            entries,
            hard_state.commit,
        )
        .ok_or(StartError::Corrupt(
            "log entries are not contiguous after the snapshot",
        ))?;
        if hard_state.term < log.last_term() {
            return Err(StartError::Corrupt(
                "hard state term below the last entry's term",
            ));
        }
        let mut node = Self {
            rng: Rng::new(seed),
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: None,
            conf_entries: Vec::new(),
            membership: snapshot.meta.membership.clone(),
            snapshot,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks: cfg.election_timeout_ticks,
            quick_campaigns: 0,
            transfer: None,
            reads: read_index::ReadIndexState::default(),
            incoming_snapshot: None,
            durable: ready::Durability::new(hard_state),
            outbox: ready::Outbox::default(),
            read_states: Vec::new(),
            apply_snapshot: None,
            rejects: RejectCounters::default(),
            append_pending: false,
            uncommitted_bytes: 0,
            leader_durable: leader_durable::DurableInTerm::default(),
            durable_announced: leader_durable::DurableInTerm::default(),
            commits_on_leader_durable: 0,
            log,
            cfg,
        };
        node.rebuild_membership_from(node.log.snap_index() + 1);
        node.reset_election_timeout();
        // A restarted node's state machine is empty: it restores from the snapshot.
        if node.snapshot.meta.index > 0 {
            node.apply_snapshot = Some(node.snapshot.clone());
        }
        Ok(node)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// Current term (epoch).
    pub fn term(&self) -> u64 {
        self.term
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader this node follows in its term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Index of the last log entry (the last zxid).
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }

    /// Highest index known committed.
    pub fn committed_index(&self) -> u64 {
        self.log.committed
    }

    /// Highest index handed out to apply.
    pub fn applied_index(&self) -> u64 {
        self.log.applied
    }

    /// Highest index known durable in the caller's storage.
    pub fn persisted_index(&self) -> u64 {
        self.log.stable
    }

    /// The entry at `index`, if still in memory (not compacted).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }

    /// Term of the entry at `index`, if known.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        self.log.term_at(index)
    }

    /// Metadata of the latest snapshot (the log is compacted up to it).
    pub fn snapshot_meta(&self) -> &SnapshotMeta {
        &self.snapshot.meta
    }

    /// Membership in force (including uncommitted changes in the log).
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// How many times this node, as a follower, committed on its leader's
    /// news that the leader's write is durable, before any commit news.
    pub fn commits_on_leader_durable(&self) -> u64 {
        self.commits_on_leader_durable
    }

    /// Rejected inputs, per reason.
    pub fn rejects(&self) -> &RejectCounters {
        &self.rejects
    }

    /// Leader only: (match index, next index) of a follower, for metrics and tests.
    pub fn follower_progress(&self, id: NodeId) -> Option<(u64, u64)> {
        self.progress
            .get(&id)
            .map(|p| (p.match_index, p.next_index))
    }

    /// Recomputes the membership from the snapshot and the configuration
    /// entries at or after `from`, after the log changed there.
    fn rebuild_membership_from(&mut self, from: u64) {
        self.conf_entries.retain(|(index, _)| *index < from);
        let mut current = self
            .conf_entries
            .last()
            .map_or_else(|| self.snapshot.meta.membership.clone(), |(_, m)| m.clone());
        let mut index = from.max(self.log.snap_index() + 1);
        while let Some(entry) = self.log.entry(index) {
            match &entry.kind {
                EntryKind::ConfChange(change) => {
                    // An invalid change (a duplicate, say) is a deterministic no-op.
                    if let Ok(next) = current.apply(*change) {
                        current = next;
                    }
                    self.conf_entries.push((index, current.clone()));
                }
                EntryKind::Bootstrap(membership) => {
                    current = membership.clone();
                    self.conf_entries.push((index, current.clone()));
                }
                EntryKind::Noop | EntryKind::Normal(_) => {}
            }
            index += 1;
        }
        self.set_membership(current);
    }

    /// Installs a membership and adjusts the leader's progress map to it.
    fn set_membership(&mut self, membership: Membership) {
        self.membership = membership;
        if self.role == Role::Leader {
            let next = self.log.last_index() + 1;
            let members: Vec<NodeId> = self
                .membership
                .members()
                .filter(|&id| id != self.cfg.id)
                .collect();
            self.progress.retain(|id, _| members.contains(id));
            for id in members {
                self.progress
                    .entry(id)
                    .or_insert_with(|| Progress::new(next));
            }
        }
    }

    /// Internal consistency of the whole node; panics naming the broken rule.
    /// The simulator calls it after every step; debug builds after every input.
    pub fn check_invariants(&self) {
        self.log.check_invariants();
        assert!(
            self.log.last_term() <= self.term,
            "log term beyond current term"
        );
        assert!(
            self.durable.persisted_seq() <= self.durable.write_seq(),
            "persisted ahead"
        );
        match self.role {
            Role::Leader => {
                assert_eq!(
                    self.leader,
                    Some(self.cfg.id),
                    "leader does not lead itself"
                );
                assert_eq!(
                    self.vote,
                    Some(self.cfg.id),
                    "leader did not vote for itself"
                );
                for (id, pr) in &self.progress {
                    assert!(
                        self.membership.contains(*id),
                        "progress for non-member {id}"
                    );
                    pr.check_invariants(self.log.last_index());
                }
            }
            Role::Candidate => assert_eq!(self.vote, Some(self.cfg.id), "candidate vote"),
            Role::PreCandidate | Role::Follower => {
                assert!(self.progress.is_empty(), "non-leader keeps progress")
            }
        }
        if let Some((index, _)) = self.conf_entries.last() {
            assert!(
                *index <= self.log.last_index(),
                "configuration entry beyond log"
            );
        }
    }

    /// Runs the invariants after an input in debug builds.
    fn debug_check(&self) {
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
    }
}
