//! Placeholder; the tree benchmarks land with the tree.
#![allow(missing_docs)]
fn main() {}
