//! Replays one simulator seed: `CORRAL_SIM_SEED=N cargo test -p corral-core
//! --test sim_replay -- --nocapture` (CORRAL_SIM_STEPS sets its length,
//! CORRAL_SIM_GONE_PERCENT the chance of crash reports). Without
//! the variable it replays seed 0, so the test always proves something.
//! CORRAL_SIM_TRACE=1 prints every delivered message; a failure prints the
//! state of every node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{SimConfig, run_seed_or_panic};

#[test]
fn replay_seed_from_env() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let seed = env("CORRAL_SIM_SEED").unwrap_or(0);
    let steps = env("CORRAL_SIM_STEPS").unwrap_or(2000);
    let mut cfg = SimConfig::from_seed(seed, steps);
    cfg.gone_notice_percent = env("CORRAL_SIM_GONE_PERCENT").unwrap_or(0);
    println!("replaying seed {seed}: {cfg:?}");
    let stats = run_seed_or_panic(cfg);
    println!("{stats:?}");
}
