//! The node's small HTTP endpoint on `metrics_listen`: `/health`, `/ready`
//! and `/metrics`. One request per connection, bounded in size and time; it
//! is for probes and Prometheus, not for browsers.
//!
//! - `/health`: 200 while the process serves.
//! - `/ready`: 200 once the node knows a leader and has applied up to the
//!   commit index it saw when it first learnt of one (it has caught up with
//!   the cluster it joined); 503 before, or while no leader is known.
//! - `/metrics`: Prometheus text. Histograms are exported with fixed buckets
//!   ([`LATENCY_BUCKETS_SECONDS`]), so `histogram_quantile` works across
//!   nodes. With `[metrics] enabled = false` no recorder is installed and
//!   only the four replica status gauges are rendered, from a current view.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use corral_actors::{View, Views};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Largest request head read.
const REQUEST_BYTES_MAX: usize = 8 << 10;
/// Time a client has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Bucket bounds of every histogram (all are latencies in seconds): 50 µs to 10 s.
pub(crate) const LATENCY_BUCKETS_SECONDS: [f64; 18] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 7.5, 10.0,
];

/// How often the recorder's upkeep runs (drains histogram samples into buckets).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder behind the `metrics` facade; `None` if
/// metrics are turned off, or another recorder is already installed.
pub(crate) fn install_recorder(enabled: bool) -> Option<PrometheusHandle> {
    if !enabled {
        return None;
    }
    let builder = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS_SECONDS)
        .ok()?;
    let handle = builder.install_recorder().ok()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}

/// What the HTTP tasks share.
#[derive(Clone)]
struct Shared {
    view: Views,
    metrics: Option<PrometheusHandle>,
    /// The commit index in the first view that knew a leader.
    joined_commit: Arc<OnceLock<u64>>,
}

/// Binds `addr` and serves until the task is aborted.
pub(crate) async fn spawn(
    addr: SocketAddr,
    view: Views,
    metrics: Option<PrometheusHandle>,
) -> std::io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    let shared = Shared {
        joined_commit: Arc::new(OnceLock::new()),
        view,
        metrics,
    };
    let watcher = tokio::spawn(note_join(
        shared.view.subscribe(),
        shared.joined_commit.clone(),
    ));
    Ok(tokio::spawn(async move {
        let _watcher = AbortOnDrop(watcher);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, shared)).await;
            });
        }
    }))
}

/// Aborts a task when dropped (the watcher goes with the server task).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records the commit index of the first view that knows a leader.
async fn note_join(mut view: watch::Receiver<View>, joined: Arc<OnceLock<u64>>) {
    if let Ok(v) = view.wait_for(|v| v.leader.is_some()).await {
        let _ = joined.set(v.committed);
    }
}

/// Whether `v` is ready: a leader is known and the node has applied what
/// was committed when it joined.
fn is_ready(v: &View, joined_commit: Option<u64>) -> bool {
    v.leader.is_some() && joined_commit.is_some_and(|c| v.applied >= c)
}

/// The replica's status gauges, rendered from the view when no recorder runs.
fn status_text(v: &View) -> String {
    let mut out = String::new();
    for (name, value) in [
        ("corral_replica_is_leader", u64::from(v.is_leader())),
        ("corral_replica_term", v.term),
        ("corral_replica_applied_index", v.applied),
        ("corral_replica_committed_index", v.committed),
    ] {
        let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
    }
    out
}

async fn answer(mut stream: TcpStream, shared: Shared) -> std::io::Result<()> {
    let mut buf = vec![0u8; REQUEST_BYTES_MAX];
    let mut len = 0;
    while len < buf.len() {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/health" => ("200 OK", "ok\n".to_string()),
        "/ready" => match shared.view.clone().current().await {
            None => (
                "503 Service Unavailable",
                "{\"ready\":false,\"why\":\"the replica stopped\"}\n".to_string(),
            ),
            Some(v) => {
                let joined = shared.joined_commit.get().copied();
                let ready = is_ready(&v, joined);
                let role = if v.is_leader() { "leader" } else { "follower" };
                let body = format!(
                    "{{\"ready\":{ready},\"role\":\"{role}\",\"term\":{},\"leader\":{},\"applied\":{},\"committed\":{},\"joined_commit\":{}}}\n",
                    v.term,
                    v.leader
                        .map_or_else(|| "null".to_string(), |l| l.to_string()),
                    v.applied,
                    v.committed,
                    joined.map_or_else(|| "null".to_string(), |c| c.to_string()),
                );
                if ready {
                    ("200 OK", body)
                } else {
                    ("503 Service Unavailable", body)
                }
            }
        },
        "/metrics" => (
            "200 OK",
            match &shared.metrics {
                Some(handle) => handle.render(),
                None => match shared.view.clone().current().await {
                    Some(v) => status_text(&v),
                    None => String::new(),
                },
            },
        ),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use corral_core::broadcast::Role;
    use corral_core::tree::{DataTree, Limits};

    use super::*;

    fn view(leader: Option<u64>, applied: u64, committed: u64) -> View {
        View {
            tree: DataTree::new(Limits::default()),
            applied,
            role: Role::Follower,
            leader,
            term: 3,
            committed,
        }
    }

    #[test]
    fn ready_needs_a_leader_and_the_commit_index_seen_on_joining() {
        assert!(!is_ready(&view(None, 10, 10), Some(5)));
        assert!(!is_ready(&view(Some(1), 10, 12), None));
        assert!(!is_ready(&view(Some(1), 4, 12), Some(5)));
        assert!(is_ready(&view(Some(1), 5, 12), Some(5)));
    }

    #[test]
    fn without_a_recorder_the_status_gauges_come_from_the_view() {
        let text = status_text(&view(Some(2), 7, 9));
        assert!(text.contains("corral_replica_is_leader 0\n"), "{text}");
        assert!(text.contains("corral_replica_term 3\n"), "{text}");
        assert!(text.contains("corral_replica_applied_index 7\n"), "{text}");
        assert!(
            text.contains("corral_replica_committed_index 9\n"),
            "{text}"
        );
    }
}
