//! Asking one node for its [`NodeStatus`]: a client link, `Status` as the
//! first message of a stream, one `Status` back. No session is opened, so a
//! node answers even when the cluster has no quorum.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use corral_certs::CertStore;
use corral_transport::wire::{ClientMessage, NodeStatus, ServerMessage};
use corral_transport::{CloseCode, Endpoint, LinkConfig};

/// Asks the node at `endpoint` (`host:port`) for its status, within `timeout`.
///
/// The error is a sentence for the status table. Cancel safety: cancel-safe;
/// the link is closed when dropped.
pub(crate) async fn query_status(
    endpoint: &str,
    store: Arc<CertStore>,
    timeout: Duration,
) -> Result<NodeStatus, String> {
    match tokio::time::timeout(timeout, exchange(endpoint, store)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn exchange(endpoint: &str, store: Arc<CertStore>) -> Result<NodeStatus, String> {
    let (host, _) =
        split_host_port(endpoint).ok_or_else(|| format!("{endpoint:?} is not host:port"))?;
    let server = tokio::net::lookup_host(endpoint)
        .await
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| "resolves to no address".to_owned())?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let config = LinkConfig {
        cert_reload_poll_ms: 0,
        ..LinkConfig::default()
    };
    let quic = Endpoint::client(bind, store, config).map_err(|e| e.to_string())?;
    let link = quic
        .connect_client(server, host)
        .await
        .map_err(|e| e.to_string())?;
    let (mut writer, mut reader) = link.open_bi().await.map_err(|e| e.to_string())?;
    writer
        .send(&ClientMessage::Status)
        .await
        .map_err(|e| e.to_string())?;
    let answer = reader.read::<ServerMessage>().await;
    link.close(CloseCode::Normal, "status read");
    match answer.map_err(|e| e.to_string())? {
        Some(ServerMessage::Status(status)) => Ok(status),
        Some(other) => Err(format!("answered Status with {other:?}")),
        None => Err("closed the stream without an answer".to_owned()),
    }
}

/// `("host", port)` of `host:port` or `[v6]:port`.
fn split_host_port(endpoint: &str) -> Option<(&str, u16)> {
    let (host, port) = endpoint.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_host_and_port() {
        assert_eq!(split_host_port("127.0.0.1:7"), Some(("127.0.0.1", 7)));
        assert_eq!(split_host_port("[::1]:7"), Some(("::1", 7)));
        assert_eq!(split_host_port("localhost"), None);
        assert_eq!(split_host_port(":7"), None);
    }
}
