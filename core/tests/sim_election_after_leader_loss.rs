//! Measures how fast a new leader is elected after the leader crashes, over
//! 1,000 seeds of 3- and 5-voter clusters on a fault-free network, and asserts
//! the bound: within 2 election timeouts in at least 99% of seeds.
//! Times are simulated milliseconds, so the count is deterministic.
//!
//! Conditions: 1–3 ms latency, 50 ms ticks, 10-tick (500 ms) election timeout:
//! the ratio of a LAN cluster ticked every 100 ms. With the simulator's stress
//! setting (5 ms ticks, so a round trip is a good part of a tick) the same
//! measurement is printed too, for the record, and not asserted: there two
//! followers often time out within one round trip and split the vote.
//!
//! When the survivors are told that the leader's process is gone
//! (`Node::peer_gone`, from ICMP port unreachable) they need no timeout: at
//! least 95% of seeds elect within 8 ticks, where no seed can without the
//! report, and the median falls to under a third. The few seeds whose
//! survivors split the vote retry within a few ticks too, so at least 99%
//! elect within one election timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use corral_core::broadcast::Role;
use support::sim::{ELECTION_TIMEOUT_TICKS, Sim, SimConfig, TICK_MS};

const SEEDS: u64 = 1000;

/// Milliseconds per tick of the asserted measurement.
const LAN_TICK_MS: u64 = 50;

/// ms from the crash of a settled leader to a new leader of a later term.
fn time_to_new_leader_ms(seed: u64, tick_ms: u64, gone_notice_percent: u64) -> u64 {
    let mut cfg = SimConfig::from_seed(seed, 0);
    cfg.gone_notice_percent = gone_notice_percent;
    cfg.voters = if seed % 2 == 0 { 3 } else { 5 };
    cfg.tick_ms = tick_ms;
    let mut sim = Sim::new(cfg);
    sim.set_faults(false);
    let settle_ms = 40 * tick_ms * u64::from(ELECTION_TIMEOUT_TICKS) / 10;
    sim.run_until(settle_ms).unwrap();
    let old = sim.leader().expect("a leader after 4 election timeouts");
    let old_term = sim.node(old).unwrap().term();
    sim.crash(old);
    let crashed_at = sim.now_ms();

    loop {
        let t = sim.now_ms() + 1;
        sim.run_until(t).unwrap();
        let new_leader = sim
            .leader()
            .and_then(|id| sim.node(id))
            .filter(|n| n.term() > old_term);
        if new_leader.is_some_and(|n| n.role() == Role::Leader) {
            return sim.now_ms() - crashed_at;
        }
        assert!(
            sim.now_ms() - crashed_at < 100 * tick_ms,
            "seed {seed}: no new leader in 10 timeouts"
        );
    }
}

/// Every seed's ms from the crash to a new leader, sorted; each survivor
/// hears of the crash with `gone_notice_percent` chance.
fn times_ms(tick_ms: u64, gone_notice_percent: u64) -> Vec<u64> {
    let mut times: Vec<u64> = (0..SEEDS)
        .map(|seed| time_to_new_leader_ms(seed, tick_ms, gone_notice_percent))
        .collect();
    times.sort_unstable();
    times
}

/// Prints the spread of sorted `times`; returns (seeds within 2 election
/// timeouts, p50 in ms).
fn report(times: &[u64], tick_ms: u64, gone_notice_percent: u64) -> (u64, u64) {
    let bound_ms = 2 * u64::from(ELECTION_TIMEOUT_TICKS) * tick_ms;
    let within = seeds_within(times, bound_ms);
    let p50 = times[times.len() / 2];
    println!(
        "tick {tick_ms} ms, crash reports {gone_notice_percent}%: new leader within {bound_ms} ms (2 election timeouts) in {within}/{SEEDS} seeds; p50 {p50} ms, p99 {} ms, max {} ms",
        times[times.len() * 99 / 100],
        times[times.len() - 1]
    );
    (within, p50)
}

/// Seeds whose new leader came within `bound_ms` of the crash.
fn seeds_within(times: &[u64], bound_ms: u64) -> u64 {
    times.iter().filter(|&&t| t <= bound_ms).count() as u64
}

#[test]
fn new_leader_within_two_election_timeouts_in_99_percent_of_seeds() {
    let (within, _) = report(&times_ms(LAN_TICK_MS, 0), LAN_TICK_MS, 0);
    assert!(
        within * 100 >= SEEDS * 99,
        "only {within}/{SEEDS} seeds elected within 2 election timeouts"
    );
    // The stress setting, reported only.
    report(&times_ms(TICK_MS, 0), TICK_MS, 0);
}

#[test]
fn told_of_the_crash_the_survivors_elect_within_eight_ticks() {
    // Every survivor hears within 3 ticks that the leader's process is gone
    // (`Node::peer_gone`) and campaigns within 3 more; the rest is a vote
    // split by two campaigns in the same round trip, which falls back to
    // the election timeout.
    let told_times = times_ms(LAN_TICK_MS, 100);
    let untold_times = times_ms(LAN_TICK_MS, 0);
    let (_, p50_told) = report(&told_times, LAN_TICK_MS, 100);
    let (_, p50_untold) = report(&untold_times, LAN_TICK_MS, 0);
    let told = seeds_within(&told_times, 8 * LAN_TICK_MS);
    let untold = seeds_within(&untold_times, 8 * LAN_TICK_MS);
    println!("within 8 ticks: {told}/{SEEDS} seeds told, {untold}/{SEEDS} untold");
    assert!(
        told * 100 >= SEEDS * 95,
        "only {told}/{SEEDS} seeds elected within 8 ticks"
    );
    // A split vote is retried within a few ticks, not an election timeout.
    let timeout_ms = u64::from(ELECTION_TIMEOUT_TICKS) * LAN_TICK_MS;
    let told_in_timeout = seeds_within(&told_times, timeout_ms);
    println!("within one election timeout: {told_in_timeout}/{SEEDS} seeds told");
    assert!(
        told_in_timeout * 100 >= SEEDS * 99,
        "only {told_in_timeout}/{SEEDS} seeds elected within one election timeout"
    );
    assert_eq!(untold, 0, "the election timeout is 10 ticks or more");
    assert!(
        p50_told * 3 < p50_untold,
        "p50 {p50_told} ms told against {p50_untold} ms untold"
    );
}
