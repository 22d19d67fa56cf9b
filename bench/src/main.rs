//! corral-bench: drives a local corral cluster and reports throughput and latency.

fn main() {}
