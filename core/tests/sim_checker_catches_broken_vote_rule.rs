//! Proves the simulator's checker can fail: with the vote log up-to-date check
//! switched off (`Config::test_break_vote_log_check`), nodes with stale logs win
//! elections and overwrite committed entries, and some seed must report it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::sim::{Sim, SimConfig};

#[test]
fn granting_votes_without_the_log_check_is_caught() {
    let mut caught = Vec::new();
    for seed in 0..300 {
        let mut cfg = SimConfig::from_seed(seed, 2000);
        cfg.break_vote_log_check = true;
        if let Err(f) = Sim::new(cfg).run() {
            caught.push((seed, f.what.lines().next().unwrap_or_default().to_string()));
        }
    }
    println!(
        "{} of 300 seeds caught the broken rule; first: {:?}",
        caught.len(),
        caught.first()
    );
    assert!(
        !caught.is_empty(),
        "the checker missed a broken vote rule in 300 seeds"
    );
}
