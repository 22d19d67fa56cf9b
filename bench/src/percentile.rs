//! Quantiles of sorted latency samples.

/// The `q` quantile of sorted samples (0 when empty).
pub(crate) fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}
