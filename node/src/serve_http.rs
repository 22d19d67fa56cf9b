//! The node's small HTTP endpoint on `metrics_listen`: `/health`, `/ready`
//! and `/metrics`. One request per connection, bounded in size and time; it
//! is for probes and Prometheus, not for browsers.

use std::net::SocketAddr;
use std::time::Duration;

use corral_actors::View;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Largest request head read.
const REQUEST_BYTES_MAX: usize = 8 << 10;
/// Time a client has to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder behind the `metrics` facade; `None` if
/// another recorder is already installed (then `/metrics` is empty).
pub(crate) fn install_recorder() -> Option<PrometheusHandle> {
    PrometheusBuilder::new().install_recorder().ok()
}

/// Binds `addr` and serves until the task is aborted.
pub(crate) async fn spawn(
    addr: SocketAddr,
    view: watch::Receiver<View>,
    metrics: Option<PrometheusHandle>,
) -> std::io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr).await?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let view = view.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(stream, view, metrics)).await;
            });
        }
    }))
}

async fn answer(
    mut stream: TcpStream,
    view: watch::Receiver<View>,
    metrics: Option<PrometheusHandle>,
) -> std::io::Result<()> {
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
        "/ready" => {
            let v = view.borrow().clone();
            let role = if v.is_leader() { "leader" } else { "follower" };
            let body = format!(
                "{{\"role\":\"{role}\",\"term\":{},\"leader\":{},\"applied\":{},\"committed\":{}}}\n",
                v.term,
                v.leader
                    .map_or_else(|| "null".to_string(), |l| l.to_string()),
                v.applied,
                v.committed
            );
            if v.leader.is_some() {
                ("200 OK", body)
            } else {
                ("503 Service Unavailable", body)
            }
        }
        "/metrics" => (
            "200 OK",
            metrics
                .as_ref()
                .map(PrometheusHandle::render)
                .unwrap_or_default(),
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
