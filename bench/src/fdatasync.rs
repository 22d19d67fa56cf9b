//! The machine's own fdatasync latency, the floor under every durable write:
//! timed appends of a small record, each followed by fdatasync.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

/// Times `samples` appends of 128 bytes, each followed by fdatasync, in
/// `dir`; returns the latencies in µs, sorted.
pub(crate) fn fdatasync_latency_us(dir: &Path, samples: usize) -> anyhow::Result<Vec<u32>> {
    let path = dir.join("fdatasync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let record = [0x5au8; 128];
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        latencies.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    drop(file);
    std::fs::remove_file(&path)?;
    latencies.sort_unstable();
    Ok(latencies)
}
