//! Proves that the broadcast core keeps every invariant of its module docs —
//! election safety, log matching, leader completeness, state-machine safety,
//! durability across crashes, monotonic apply — under network and node faults,
//! membership changes and leader transfers, and that after the faults heal a
//! proposal commits within a bound. 2,000 seeds × 2,000 steps by default, split
//! over four tests so the harness runs them in parallel; CORRAL_SIM_SEEDS,
//! CORRAL_SIM_STEPS or CORRAL_SIM_LONG=1 run more. A failure prints the replay
//! command for its seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{SimConfig, run_seed_or_panic, seeds_and_steps};

const SHARDS: u64 = 4;

fn run_shard(shard: u64) {
    let (seeds, steps) = seeds_and_steps(2000, 2000);
    let mut committed = 0;
    let mut worst_liveness_ms = 0;
    for seed in (0..seeds).filter(|s| s % SHARDS == shard) {
        let stats = run_seed_or_panic(SimConfig::from_seed(seed, steps));
        committed += stats.committed;
        worst_liveness_ms = worst_liveness_ms.max(stats.liveness_ms);
    }
    println!("shard {shard}: {committed} entries committed, worst liveness {worst_liveness_ms} ms");
    assert!(
        committed > 0,
        "the simulator committed nothing: it tests nothing"
    );
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
