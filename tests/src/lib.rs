//! corral-tests: whole-cluster tests (real `corral` processes over real QUIC)
//! and the checkers that judge the histories they record.
//!
//! - [`linearizability`]: the Wing–Gong–Lowe search with memoization, generic
//!   over a sequential [`linearizability::Model`] and partitioned by key, so a
//!   history of many znodes is checked one znode at a time.
//! - [`znode_model`]: the sequential model of one znode (create, delete, get,
//!   set with ZooKeeper's version checks) for that checker.
//! - [`udp_proxy`]: a UDP proxy that puts faults (blackhole, drop, delay,
//!   reorder; one way or both) on one link of a test cluster.

pub mod linearizability;
pub mod udp_proxy;
pub mod znode_model;
