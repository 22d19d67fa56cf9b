//! Every simulator seed that ever failed, pinned by name with what it found.
//! Each replays the exact run (2,000 steps unless named) and must now pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{SimConfig, run_seed_or_panic};

fn replay(seed: u64) {
    replay_steps(seed, 2000);
}

fn replay_steps(seed: u64, steps: u64) {
    run_seed_or_panic(SimConfig::from_seed(seed, steps));
}

/// A node added as a voter computed its membership from an empty base (it never
/// saw the founding membership) and elected itself alone: leader completeness
/// broke. Fixed by making the founding membership log entry 1.
#[test]
fn regression_joining_node_learns_founding_membership_seed_31() {
    replay(31);
}

/// Same bug as seed 31, in a 5-voter cluster with learners.
#[test]
fn regression_joining_node_learns_founding_membership_seed_44() {
    replay(44);
}

/// Same bug as seed 31.
#[test]
fn regression_joining_node_learns_founding_membership_seed_117() {
    replay(117);
}

/// Same bug as seed 31.
#[test]
fn regression_joining_node_learns_founding_membership_seed_193() {
    replay(193);
}

/// A non-voting node reset its election timer without campaigning, so its
/// leader lease never ran out and it refused pre-votes forever: no leader after
/// healing. Fixed by letting its timer run on (as etcd does).
#[test]
fn regression_non_voter_lease_expires_seed_176() {
    replay(176);
}

/// Same liveness bug as seed 176.
#[test]
fn regression_non_voter_lease_expires_seed_55() {
    replay(55);
}

/// The simulator checked commits only after applying, when compaction had
/// already dropped the entries, so its liveness marker never looked committed.
#[test]
fn regression_commit_checked_before_compaction_seed_74() {
    replay(74);
}

/// After healing, a leader had hundreds of committed entries to hand out, 8
/// per Ready, and the simulator gave up draining after 64 Readies. Fixed by a
/// separate `max_committed_entries_per_ready` limit and a drain bound that only
/// trips on a node that never settles.
#[test]
fn regression_apply_backlog_drains_seed_788_4000_steps() {
    replay_steps(788, 4000);
}

/// Same as seed 788.
#[test]
fn regression_apply_backlog_drains_seed_10_4000_steps() {
    replay_steps(10, 4000);
}

/// A node still holding a `Remove(3)` entry that the winning history dropped
/// refused every message from node 3, the new leader, as "unknown": it never
/// converged. Fixed by judging requests by term and log, not by the
/// receiver's view of the configuration.
#[test]
fn regression_truncated_removal_does_not_silence_the_leader_seed_308() {
    replay(308);
}

/// A follower cut off while node 7 was added refused node 7's appends once it
/// led: it never converged. Same fix as seed 308.
#[test]
fn regression_leader_added_while_cut_off_is_followed_seed_135() {
    replay(135);
}

/// The leader restarted a follower's snapshot transfer every time it compacted
/// again, which under load was before the transfer ended: the follower never
/// caught up. Fixed by pinning the snapshot per transfer.
#[test]
fn regression_snapshot_transfer_survives_compaction_seed_155() {
    replay(155);
}

/// A repeated vote marked durable state changed without changing it, so no
/// persist batch was produced and every later response stayed held forever.
/// Fixed by producing a (possibly empty) batch for every change mark.
#[test]
fn regression_held_responses_always_get_a_persist_batch_seed_42() {
    replay(42);
}

/// Node 1, removed and re-added while cut off, was needed to elect node 5 but
/// refused its pre-votes because it had never seen a configuration naming 5:
/// no leader after healing (found by a 20,000-seed x 4,000-step run). Same fix
/// as seed 308, extended to vote requests.
#[test]
fn regression_vote_requests_from_nodes_added_unseen_seed_4876_4000_steps() {
    replay_steps(4876, 4000);
}

/// Same as seed 4876.
#[test]
fn regression_vote_requests_from_nodes_added_unseen_seed_6909_4000_steps() {
    replay_steps(6909, 4000);
}

/// A follower restarted mid-snapshot and reported fewer bytes than the leader
/// had been told; the leader took that for a late duplicate and resent the same
/// far chunk forever (found by a 50,000-seed x 3,000-step run).
#[test]
fn regression_snapshot_resumes_after_follower_restart_seed_1203_3000_steps() {
    replay_steps(1203, 3000);
}

/// A follower that already held a snapshot's last entry installed the
/// snapshot and dropped the acknowledged entries after it; a leader elected
/// without them lost committed entries (found by a 200,000-seed x 4,000-step
/// run). Fixed by keeping the log (Raft's InstallSnapshot rule 6).
#[test]
fn regression_snapshot_of_held_entries_keeps_the_log_seed_1190016_4000_steps() {
    replay_steps(1_190_016, 4000);
}

/// Four of six voters elected a candidate before its own term was durable; it
/// crashed, won the same term again and wrote other entries at the same
/// indexes (same run as seed 1190016). Fixed by leading only once its own
/// vote, released after the write, is in.
#[test]
fn regression_a_leader_term_is_durable_before_it_leads_seed_1163353_4000_steps() {
    replay_steps(1_163_353, 4000);
}

/// The checker, not the core: a stale leader of term 3 lacked an old entry
/// that the leader of term 4 committed after it (with crash reports, 80%).
/// Raft's leader completeness covers leaders of terms after the one an entry
/// is committed in; the checker compared with the entry's own term. Fixed in
/// the checker (the term of the commit is recorded with the entry).
#[test]
fn regression_checker_leader_completeness_by_commit_term_seed_1116544_4000_steps() {
    let mut cfg = SimConfig::from_seed(1_116_544, 4000);
    cfg.gone_notice_percent = 80;
    run_seed_or_panic(cfg);
}
