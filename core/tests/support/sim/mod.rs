//! A seeded, single-threaded cluster simulator: an event queue ordered by
//! delivery time, one RNG, network faults (drop, duplicate, reorder, delay,
//! symmetric and one-way partitions), node faults (crash losing everything not
//! persisted, restart from storage, slow disk), clients proposing and reading,
//! membership changes and leader transfers, and the checker after every step.
//!
//! Time is in milliseconds; one step is one millisecond. Nodes tick every
//! `SimConfig::tick_ms` (`TICK_MS` by default).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use bytes::Bytes;
use corral_core::broadcast::{
    Config, Entry, HardState, Membership, Message, Node, NodeId, Persist, PersistedState, Role,
    Snapshot,
};

use super::checker::{Checker, StateMachine};

mod chaos;
mod liveness;

/// Milliseconds per tick by default: short next to the 1–3 ms network, so
/// elections race often (a stress setting).
pub(crate) const TICK_MS: u64 = 5;
/// Election timeout of every simulated node, in ticks.
pub(crate) const ELECTION_TIMEOUT_TICKS: u32 = 10;
/// After the faults heal, a proposal must commit within this many ms (20
/// election timeouts, 200 ticks; the worst seen over 120,000 seeds is about 6),
/// and every member must then apply it within as long again.
pub(crate) const LIVENESS_BOUND_MS: u64 = 20 * ELECTION_TIMEOUT_TICKS as u64 * TICK_MS;

/// SplitMix64, the simulator's only randomness.
#[derive(Debug, Clone)]
pub(crate) struct SimRng(u64);

impl SimRng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi].
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[(self.next_u64() % items.len() as u64) as usize])
        }
    }
}

/// The shape of one simulated run, derived from its seed.
#[derive(Debug, Clone)]
pub(crate) struct SimConfig {
    pub(crate) seed: u64,
    pub(crate) voters: u64,
    pub(crate) learners: u64,
    pub(crate) spares: u64,
    /// Steps (ms) of faults before the heal phase.
    pub(crate) steps: u64,
    /// Break the vote log check on every node (to prove the checker).
    pub(crate) break_vote_log_check: bool,
    /// Milliseconds per tick.
    pub(crate) tick_ms: u64,
    /// The chance (percent) that each survivor of a crash hears, within
    /// three ticks, that the crashed node's process is gone
    /// (`Node::peer_gone`, from ICMP port unreachable); 0 for never.
    pub(crate) gone_notice_percent: u64,
}

impl SimConfig {
    /// 1, 3 or 5 voters, with or without learners, from the seed.
    pub(crate) fn from_seed(seed: u64, steps: u64) -> Self {
        let mut rng = SimRng::new(seed ^ 0x5EED);
        let voters = [1, 3, 3, 5, 5][rng.between(0, 4) as usize];
        let learners = if rng.chance(50) { rng.between(1, 2) } else { 0 };
        Self {
            seed,
            voters,
            learners,
            spares: 2,
            steps,
            break_vote_log_check: false,
            tick_ms: TICK_MS,
            gone_notice_percent: 0,
        }
    }
}

/// What a node has on disk.
#[derive(Debug, Clone, Default)]
struct Storage {
    hard_state: HardState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl Storage {
    fn write(&mut self, p: &Persist) {
        if let Some(s) = &p.snapshot {
            self.snapshot = s.clone();
            self.entries.clear();
        }
        if let Some(first) = p.entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend(p.entries.iter().cloned());
        }
        if let Some(hs) = p.hard_state {
            self.hard_state = hs;
        }
    }

    fn compact(&mut self, snapshot: Snapshot) {
        let index = snapshot.meta.index;
        self.entries.retain(|e| e.index > index);
        self.snapshot = snapshot;
    }
}

/// One simulated server.
#[derive(Debug)]
struct SimNode {
    node: Option<Node>,
    storage: Storage,
    /// A persist batch on its way to disk.
    writing: Option<Persist>,
    incarnation: u64,
    sm: StateMachine,
    slow_disk: bool,
}

#[derive(Debug)]
enum Event {
    Tick(NodeId),
    Deliver(Message),
    PersistDone(NodeId, u64),
    /// `to` hears that `gone`'s process (in its incarnation) is gone.
    PeerGone {
        to: NodeId,
        gone: NodeId,
        incarnation: u64,
    },
    Chaos,
    Client,
    Read,
}

#[derive(Debug)]
struct Scheduled {
    at_ms: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ms, other.seq).cmp(&(self.at_ms, self.seq))
    }
}

/// Network conditions.
#[derive(Debug, Default)]
struct Net {
    blocked: BTreeSet<(NodeId, NodeId)>,
    drop_percent: u64,
    dup_percent: u64,
    extra_delay_ms: u64,
}

/// Statistics of a run, for reports.
#[derive(Debug, Default, Clone)]
pub(crate) struct SimStats {
    pub(crate) committed: u64,
    pub(crate) leaders: u64,
    pub(crate) crashes: u64,
    pub(crate) snapshots_installed: u64,
    pub(crate) conf_changes: u64,
    pub(crate) transfers: u64,
    pub(crate) reads_answered: u64,
    pub(crate) snapshot_chunks_sent: u64,
    /// ms from the heal to the first commit of a fresh proposal.
    pub(crate) liveness_ms: u64,
    /// Campaigns started by a report that the leader's process is gone.
    pub(crate) gone_campaigns: u64,
}

/// The simulated cluster.
pub(crate) struct Sim {
    pub(crate) cfg: SimConfig,
    rng: SimRng,
    now_ms: u64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    nodes: BTreeMap<NodeId, SimNode>,
    net: Net,
    pub(crate) checker: Checker,
    faults: bool,
    next_payload: u64,
    /// Read context id -> highest commit index anywhere when it was issued.
    reads: BTreeMap<u64, u64>,
    pub(crate) stats: SimStats,
    /// CORRAL_SIM_TRACE=1: print every delivered message.
    trace: bool,
}

/// A failed run: the seed and what broke.
#[derive(Debug)]
pub(crate) struct SimFailure {
    pub(crate) seed: u64,
    pub(crate) at_ms: u64,
    pub(crate) what: String,
}

type Check = Result<(), String>;

impl Sim {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let mut rng = SimRng::new(cfg.seed);
        let voters: Vec<NodeId> = (1..=cfg.voters).collect();
        let learners: Vec<NodeId> = (cfg.voters + 1..=cfg.voters + cfg.learners).collect();
        let membership = Membership {
            voters: voters.iter().copied().collect(),
            learners: learners.iter().copied().collect(),
        };
        let mut nodes = BTreeMap::new();
        let total = cfg.voters + cfg.learners + cfg.spares;
        for id in 1..=total {
            let founding = id <= cfg.voters + cfg.learners;
            let init = if founding {
                PersistedState::bootstrap(membership.clone())
            } else {
                PersistedState::default()
            };
            let storage = Storage {
                hard_state: init.hard_state,
                snapshot: init.snapshot,
                entries: init.entries,
            };
            nodes.insert(
                id,
                SimNode {
                    node: None,
                    storage,
                    writing: None,
                    incarnation: 0,
                    sm: StateMachine::default(),
                    slow_disk: false,
                },
            );
        }
        let mut sim = Sim {
            cfg,
            rng: SimRng::new(rng.next_u64()),
            now_ms: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            net: Net::default(),
            checker: Checker::default(),
            faults: true,
            next_payload: 0,
            reads: BTreeMap::new(),
            stats: SimStats::default(),
            trace: std::env::var("CORRAL_SIM_TRACE").is_ok_and(|v| v == "1"),
        };
        for id in 1..=total {
            sim.start_node(id);
            let phase = sim.rng.between(0, sim.cfg.tick_ms - 1);
            sim.schedule(phase, Event::Tick(id));
        }
        sim.schedule(20, Event::Chaos);
        sim.schedule(10, Event::Client);
        sim.schedule(30, Event::Read);
        sim
    }

    /// The node config every simulated node uses: small limits, so batching,
    /// flow control, chunking and backpressure all get exercised.
    pub(crate) fn node_config(&self, id: NodeId) -> Config {
        let mut c = Config::new(id);
        c.election_timeout_ticks = ELECTION_TIMEOUT_TICKS;
        c.heartbeat_interval_ticks = 1;
        c.max_size_per_msg_bytes = 256;
        c.max_entries_per_msg = 8;
        c.max_inflight_msgs = 4;
        c.max_inflight_bytes = 2048;
        c.max_uncommitted_bytes = 16 * 1024;
        c.snapshot_chunk_bytes = 16;
        c.max_committed_entries_per_ready = 16;
        c.max_message_bytes = 4096;
        c.test_break_vote_log_check = self.cfg.break_vote_log_check;
        c
    }

    fn start_node(&mut self, id: NodeId) {
        let cfg = self.node_config(id);
        let seed = self.rng.next_u64();
        let n = self.nodes.get_mut(&id).expect("node exists");
        let st = &n.storage;
        let init = PersistedState {
            hard_state: st.hard_state,
            snapshot: st.snapshot.clone(),
            entries: st.entries.clone(),
        };
        n.node = Some(Node::new(cfg, init, seed).expect("restart from own storage"));
        n.incarnation += 1;
        n.sm = StateMachine::default();
        n.writing = None;
        self.checker.node_restarted(id);
    }

    fn schedule(&mut self, delay_ms: u64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at_ms: self.now_ms + delay_ms,
            seq: self.seq,
            event,
        });
    }

    fn fail(&self, what: String) -> SimFailure {
        SimFailure {
            seed: self.cfg.seed,
            at_ms: self.now_ms,
            what,
        }
    }

    pub(crate) fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id).and_then(|n| n.node.as_ref())
    }

    /// The live leader of the highest term, if any.
    pub(crate) fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.node.as_ref().map(|node| (*id, node)))
            .filter(|(_, n)| n.role() == Role::Leader)
            .max_by_key(|(_, n)| n.term())
            .map(|(id, _)| id)
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Stops all faults: restart every node, reconnect, normal disks.
    pub(crate) fn heal(&mut self) {
        self.faults = false;
        self.net = Net::default();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            let n = self.nodes.get_mut(&id).expect("node");
            n.slow_disk = false;
            if n.node.is_none() {
                self.start_node(id);
            }
        }
    }

    /// Crashes a node: everything not yet persisted is lost.
    pub(crate) fn crash(&mut self, id: NodeId) {
        let mut crashed = None;
        if let Some(n) = self.nodes.get_mut(&id) {
            if n.node.take().is_some() {
                n.writing = None;
                self.stats.crashes += 1;
                crashed = Some(n.incarnation);
            }
        }
        if let (Some(incarnation), true) = (crashed, self.cfg.gone_notice_percent > 0) {
            self.notice_gone(id, incarnation);
        }
    }

    /// Survivors hear of a crash within a few ticks, each at its own time;
    /// some may never do (a host that is gone whole answers nothing).
    fn notice_gone(&mut self, gone: NodeId, incarnation: u64) {
        let others: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(id, n)| **id != gone && n.node.is_some())
            .map(|(&id, _)| id)
            .collect();
        for to in others {
            if self.rng.chance(self.cfg.gone_notice_percent) {
                let delay = self.rng.between(1, 3 * self.cfg.tick_ms);
                self.schedule(
                    delay,
                    Event::PeerGone {
                        to,
                        gone,
                        incarnation,
                    },
                );
            }
        }
    }

    /// Processes every event up to `until_ms`, checking after each.
    pub(crate) fn run_until(&mut self, until_ms: u64) -> Result<(), SimFailure> {
        while self.queue.peek().is_some_and(|s| s.at_ms <= until_ms) {
            let Some(s) = self.queue.pop() else { break };
            self.now_ms = s.at_ms;
            self.handle(s.event)
                .map_err(|e| self.fail(format!("{e}\n{}", self.describe())))?;
        }
        self.now_ms = until_ms;
        Ok(())
    }

    /// Sets whether chaos keeps injecting faults.
    pub(crate) fn set_faults(&mut self, on: bool) {
        self.faults = on;
    }

    fn handle(&mut self, event: Event) -> Check {
        match event {
            Event::Tick(id) => {
                self.schedule(self.cfg.tick_ms, Event::Tick(id));
                if let Some(node) = self.nodes.get_mut(&id).and_then(|n| n.node.as_mut()) {
                    node.tick();
                    self.drain(id)?;
                }
            }
            Event::Deliver(msg) => {
                let (from, to) = (msg.from, msg.to);
                if self.net.blocked.contains(&(from, to)) {
                    return Ok(());
                }
                if let Some(node) = self.nodes.get_mut(&to).and_then(|n| n.node.as_mut()) {
                    if self.trace {
                        println!("{} deliver {:?}", self.now_ms, msg);
                    }
                    let _ = node.step(msg);
                    self.drain(to)?;
                }
            }
            Event::PersistDone(id, incarnation) => {
                let n = self.nodes.get_mut(&id).expect("node");
                if n.incarnation != incarnation || n.node.is_none() {
                    return Ok(());
                }
                if let Some(p) = n.writing.take() {
                    n.storage.write(&p);
                    n.node.as_mut().expect("alive").persisted(p.token);
                    self.drain(id)?;
                }
            }
            Event::PeerGone {
                to,
                gone,
                incarnation,
            } => {
                // Only while the gone node is still down (a restarted one
                // listens again), and only across a path that carries datagrams.
                let still_down = self
                    .nodes
                    .get(&gone)
                    .is_some_and(|n| n.node.is_none() && n.incarnation == incarnation);
                let reachable = !self.net.blocked.contains(&(to, gone))
                    && !self.net.blocked.contains(&(gone, to));
                if self.trace {
                    println!(
                        "{} peer_gone {gone} to {to}: down {still_down} reachable {reachable}",
                        self.now_ms
                    );
                }
                if still_down && reachable {
                    if let Some(node) = self.nodes.get_mut(&to).and_then(|n| n.node.as_mut()) {
                        if node.peer_gone(gone) {
                            self.stats.gone_campaigns += 1;
                        }
                        self.drain(to)?;
                    }
                }
            }
            Event::Chaos => {
                let d = self.rng.between(10, 60);
                self.schedule(d, Event::Chaos);
                if self.faults {
                    self.chaos()?;
                }
            }
            Event::Client => {
                let d = self.rng.between(2, 8);
                self.schedule(d, Event::Client);
                self.client_propose()?;
            }
            Event::Read => {
                let d = self.rng.between(10, 40);
                self.schedule(d, Event::Read);
                self.client_read()?;
            }
        }
        Ok(())
    }

    /// Takes every Ready of node `id` and carries it out, checking as it goes.
    fn drain(&mut self, id: NodeId) -> Check {
        // Bounded so a node that never settles fails instead of hanging.
        for _ in 0..100_000 {
            if self.node(id).is_none() {
                return Ok(());
            }
            // Check before applying: compaction may drop newly committed entries.
            self.check_node(id)?;
            let n = self.nodes.get_mut(&id).expect("node");
            let Some(node) = n.node.as_mut() else {
                return Ok(());
            };
            let promised = node.has_ready();
            let ready = node.ready();
            if ready.is_empty() {
                return Ok(());
            }
            if !promised {
                return Err(format!(
                    "node {id}: has_ready() was false but ready() had work"
                ));
            }
            if let Some(p) = ready.persist {
                let node = n.node.as_ref().expect("alive");
                self.checker.check_persisted_entries(node, &p.entries)?;
                let n = self.nodes.get_mut(&id).expect("node");
                let delay = if n.slow_disk {
                    self.rng.between(5, 40)
                } else {
                    self.rng.between(0, 1)
                };
                n.writing = Some(p);
                let inc = n.incarnation;
                self.schedule(delay, Event::PersistDone(id, inc));
            }
            for msg in ready.messages {
                self.send(msg);
            }
            self.apply(id, ready.apply_snapshot, ready.committed_entries)?;
            for rs in ready.read_states {
                let ctx =
                    u64::from_le_bytes(rs.context[..8].try_into().map_err(|_| "bad read ctx")?);
                let floor = self.reads.get(&ctx).copied().unwrap_or(0);
                if rs.index < floor {
                    return Err(format!(
                        "ReadIndex {} for read {ctx} below commit {floor} at issue",
                        rs.index
                    ));
                }
                self.stats.reads_answered += 1;
            }
        }
        Err(format!("node {id} keeps producing Ready output"))
    }

    fn apply(&mut self, id: NodeId, snapshot: Option<Snapshot>, entries: Vec<Entry>) -> Check {
        let n = self.nodes.get_mut(&id).expect("node");
        if let Some(s) = snapshot {
            let sm = StateMachine::decode(&s.data).ok_or("undecodable snapshot")?;
            if sm.applied != s.meta.index {
                return Err(format!(
                    "snapshot at {} holds state at {}",
                    s.meta.index, sm.applied
                ));
            }
            if sm.applied <= n.sm.applied {
                return Err(format!(
                    "node {id} applied index goes back to {}",
                    sm.applied
                ));
            }
            n.sm = sm;
            self.stats.snapshots_installed += 1;
            self.checker.check_applied(id, sm.applied, sm.hash)?;
        }
        let n = self.nodes.get_mut(&id).expect("node");
        for e in &entries {
            if e.index != n.sm.applied + 1 {
                return Err(format!(
                    "node {id} applies {} after {}",
                    e.index, n.sm.applied
                ));
            }
            n.sm.apply(e);
            let (index, hash) = (n.sm.applied, n.sm.hash);
            self.checker.check_applied(id, index, hash)?;
        }
        // Now and then the state machine snapshots itself and compacts the log.
        let n = self.nodes.get_mut(&id).expect("node");
        let node = n.node.as_mut().expect("alive");
        if n.sm.applied >= node.snapshot_meta().index + 24 && self.rng.chance(30) {
            let data = n.sm.encode();
            node.compact(n.sm.applied, Bytes::from(data.clone()))
                .map_err(|e| e.to_string())?;
            let snap = Snapshot {
                meta: node.snapshot_meta().clone(),
                data: Bytes::from(data),
            };
            n.storage.compact(snap);
        }
        Ok(())
    }

    /// The checks that follow every step of node `id`.
    fn check_node(&mut self, id: NodeId) -> Check {
        let node = self
            .nodes
            .get(&id)
            .and_then(|n| n.node.as_ref())
            .expect("alive");
        node.check_invariants();
        self.checker.check_leader(node)?;
        let fresh = self.checker.check_commit(node)?;
        self.stats.committed = self.checker.max_commit;
        if !fresh.is_empty() {
            for n in self.nodes.values().filter_map(|n| n.node.as_ref()) {
                Checker::check_fresh_commit_in_leader(n, &fresh)?;
            }
        }
        Ok(())
    }
}

/// Runs one seed and turns a failure into a panic that names the replay command.
pub(crate) fn run_seed_or_panic(cfg: SimConfig) -> SimStats {
    let seed = cfg.seed;
    let steps = cfg.steps;
    let gone = cfg.gone_notice_percent;
    match Sim::new(cfg).run() {
        Ok(stats) => stats,
        Err(f) => panic!(
            "simulator seed {seed} failed at {} ms: {}\nreplay: CORRAL_SIM_SEED={seed} CORRAL_SIM_STEPS={steps} CORRAL_SIM_GONE_PERCENT={gone} cargo test -p corral-core --test sim_replay -- --nocapture",
            f.at_ms, f.what
        ),
    }
}

/// Seeds and steps from the environment: CORRAL_SIM_SEEDS / CORRAL_SIM_STEPS,
/// or CORRAL_SIM_LONG=1 for a long run; the seeds start at
/// CORRAL_SIM_FIRST_SEED (0), so a long run can go past the ones already run.
pub(crate) fn seeds_and_steps(
    default_seeds: u64,
    default_steps: u64,
) -> (std::ops::Range<u64>, u64) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let long = std::env::var("CORRAL_SIM_LONG").is_ok_and(|v| v == "1");
    let seeds = env("CORRAL_SIM_SEEDS").unwrap_or(if long {
        default_seeds * 50
    } else {
        default_seeds
    });
    let steps = env("CORRAL_SIM_STEPS").unwrap_or(if long {
        default_steps * 5
    } else {
        default_steps
    });
    let first = env("CORRAL_SIM_FIRST_SEED").unwrap_or(0);
    (first..first.saturating_add(seeds), steps)
}
