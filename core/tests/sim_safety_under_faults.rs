//! Proves that the broadcast core keeps every invariant of its module docs —
//! election safety, log matching, leader completeness, state-machine safety,
//! durability across crashes, monotonic apply — under network and node faults,
//! membership changes and leader transfers, and that after the faults heal a
//! proposal commits within a bound. 2,000 seeds × 2,000 steps by default, split
//! over four tests so the harness runs them in parallel, and 500 more where
//! the survivors of a crash are told of it (`Node::peer_gone`) and campaign
//! at once; CORRAL_SIM_SEEDS,
//! CORRAL_SIM_STEPS or CORRAL_SIM_LONG=1 run more, and CORRAL_SIM_FIRST_SEED
//! moves past the seeds already run. A failure prints the replay command for
//! its seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{SimConfig, SimStats, run_seed_or_panic, seeds_and_steps};

const SHARDS: u64 = 4;

fn run_shard(shard: u64) {
    run_seeds(shard, 2000, 0);
}

/// Runs this shard's share of `default_seeds`; each survivor of a crash
/// hears of it with `gone_notice_percent` chance.
fn run_seeds(shard: u64, default_seeds: u64, gone_notice_percent: u64) {
    let (seeds, steps) = seeds_and_steps(default_seeds, 2000);
    let mut total = SimStats::default();
    for seed in seeds.clone().filter(|s| s % SHARDS == shard) {
        let mut cfg = SimConfig::from_seed(seed, steps);
        cfg.gone_notice_percent = gone_notice_percent;
        let s = run_seed_or_panic(cfg);
        total.committed += s.committed;
        total.leaders += s.leaders;
        total.crashes += s.crashes;
        total.snapshots_installed += s.snapshots_installed;
        total.snapshot_chunks_sent += s.snapshot_chunks_sent;
        total.conf_changes += s.conf_changes;
        total.transfers += s.transfers;
        total.reads_answered += s.reads_answered;
        total.liveness_ms = total.liveness_ms.max(s.liveness_ms);
        total.gone_campaigns += s.gone_campaigns;
    }
    println!(
        "shard {shard} of seeds {seeds:?} x {steps} steps (totals; liveness_ms is the worst): {total:?}"
    );
    // The run must have exercised what it claims to test.
    for (what, n) in [
        ("commits", total.committed),
        ("elections", total.leaders),
        ("crashes", total.crashes),
        ("snapshot chunks", total.snapshot_chunks_sent),
        ("membership changes", total.conf_changes),
        ("leader transfers", total.transfers),
        ("ReadIndex answers", total.reads_answered),
    ] {
        assert!(
            n > 0,
            "no {what} in shard {shard}: the simulator tests nothing there"
        );
    }
    if gone_notice_percent > 0 {
        assert!(
            total.gone_campaigns > 0,
            "no campaign on a crash report in shard {shard}"
        );
    }
}

#[test]
fn seeds_with_crash_reports() {
    // A quarter of the usual seeds, each survivor of a crash told of it
    // (`Node::peer_gone`) four times in five.
    run_seeds(0, 500 * SHARDS, 80);
}

#[test]
fn seeds_shard_0() {
    run_shard(0);
}

#[test]
fn seeds_shard_1() {
    run_shard(1);
}

#[test]
fn seeds_shard_2() {
    run_shard(2);
}

#[test]
fn seeds_shard_3() {
    run_shard(3);
}
