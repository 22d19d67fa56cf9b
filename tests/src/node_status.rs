//! What a running node says about itself over HTTP: `/ready` and the
//! `corral_replica_*` gauges of `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bytes of an HTTP response read at most.
const RESPONSE_BYTES_MAX: u64 = 8 << 20;

/// A node's replication state, from its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeStatus {
    /// Whether it leads its term (`corral_replica_is_leader`).
    pub is_leader: bool,
    /// Its term (`corral_replica_term`).
    pub term: u64,
    /// Highest index it has applied (`corral_replica_applied_index`).
    pub applied_index: u64,
    /// Highest index it knows committed (`corral_replica_committed_index`).
    pub committed_index: u64,
}

impl NodeStatus {
    /// Reads the status from Prometheus text; absent gauges read as 0.
    pub fn from_metrics(text: &str) -> Self {
        let value = |name: &str| metric_value(text, name).unwrap_or(0.0);
        Self {
            is_leader: value("corral_replica_is_leader") >= 1.0,
            term: value("corral_replica_term") as u64,
            applied_index: value("corral_replica_applied_index") as u64,
            committed_index: value("corral_replica_committed_index") as u64,
        }
    }
}

/// The value of the first sample of metric `name` (any labels) in Prometheus text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let rest = match rest.chars().next()? {
                ' ' => rest,
                '{' => rest.split_once('}')?.1,
                _ => return None,
            };
            rest.split_whitespace().next()?.parse().ok()
        })
}

/// GETs `path` from `addr` with HTTP/1.0; returns the status and the body.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream
            .take(RESPONSE_BYTES_MAX)
            .read_to_end(&mut response)
            .await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(timeout, exchange)
        .await
        .with_context(|| format!("GET http://{addr}{path}: no answer within {timeout:?}"))??;
    let response = String::from_utf8_lossy(&response);
    let Some((head, body)) = response.split_once("\r\n\r\n") else {
        bail!("GET http://{addr}{path}: not an HTTP response");
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("GET http://{addr}{path}: no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_read_with_or_without_labels() {
        let text = "# TYPE corral_replica_term gauge\ncorral_replica_term 7\n\
                    corral_replica_is_leader{node=\"1\"} 1\ncorral_replica_applied_index 42\n\
                    corral_replica_applied_index_other 5\n";
        let status = NodeStatus::from_metrics(text);
        assert_eq!(
            status,
            NodeStatus {
                is_leader: true,
                term: 7,
                applied_index: 42,
                committed_index: 0
            }
        );
        assert_eq!(metric_value(text, "corral_replica_applied"), None);
    }
}
