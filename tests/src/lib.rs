//! corral-tests: whole-cluster tests (real `corral` processes over real QUIC)
//! and the checkers that judge the histories they record.
//!
//! - [`cluster`]: the process harness: lays a cluster out with the `corral`
//!   binary itself, runs each node as a child process it can stop, kill -9,
//!   pause and restart, and waits (always with a timeout) for readiness, a
//!   leader or an applied index. The test files live in `node/tests/`,
//!   where `CARGO_BIN_EXE_corral` names the binary.
//! - [`node_status`]: what a node reports over HTTP (`/ready`, `/metrics`).
//! - [`steps`]: bounded steps for recipe scenarios (a wait for a directory's
//!   children, sessions spread over the nodes, a create across a leader
//!   change).
//! - [`through_every_node`]: writes through a session on every node, and
//!   the check that every node then serves the same tree.
//! - [`tree_dump`]: every znode as one node serves it, to compare replicas.
//! - [`linearizability`]: the Wing–Gong–Lowe search with memoization, generic
//!   over a sequential [`linearizability::Model`] and partitioned by key, so a
//!   history of many znodes is checked one znode at a time.
//! - [`znode_model`]: the sequential model of one znode (create, delete, get,
//!   set with ZooKeeper's version checks) for that checker.
//! - [`wal_files`]: tearing and corrupting WAL segments as crashes and disks do.
//! - [`workload`]: writer tasks that record a history for the checker.
//! - [`udp_proxy`]: a UDP proxy that puts faults (blackhole, drop, delay,
//!   reorder; one way or both) on one link of a test cluster.

pub mod cluster;
pub mod linearizability;
pub mod node_status;
pub mod steps;
pub mod through_every_node;
pub mod tree_dump;
pub mod udp_proxy;
pub mod wal_files;
pub mod workload;
pub mod znode_model;
