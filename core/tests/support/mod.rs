//! Shared support for the broadcast simulator tests: a seeded, single-threaded
//! cluster simulator and the invariant checker it runs after every step.
//! Each test binary uses a different part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub(crate) mod checker;
pub(crate) mod cluster;
pub(crate) mod sim;
