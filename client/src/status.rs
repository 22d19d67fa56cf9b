//! Asking one node about itself, without a session (`corral status`).

use std::net::SocketAddr;

use corral_certs::CertStore;
use corral_transport::wire::{ClientMessage, NodeStatus, ServerMessage};
use corral_transport::{CloseCode, Endpoint, LinkConfig};

use crate::config::{ClientConfig, split_host_port};
use crate::error::{Error, Result};

/// Asks the node at `endpoint` (`host:port`) for its [`NodeStatus`], using
/// `config`'s certificates and connect timeout. No session is opened, so it
/// answers even without a quorum.
///
/// Cancel safety: cancel-safe.
pub async fn node_status(config: &ClientConfig, endpoint: &str) -> Result<NodeStatus> {
    let (host, _) = split_host_port(endpoint)?;
    let store = config.cert_store()?;
    let link_config = LinkConfig {
        cert_reload_poll_ms: 0,
        ..config.link_config()
    };
    let ask = async {
        let mut failure = Error::Config(format!("endpoint {endpoint}: no address"));
        for server in tokio::net::lookup_host(endpoint)
            .await
            .map_err(|e| Error::Config(format!("endpoint {endpoint}: {e}")))?
        {
            match ask_one(server, host, store.clone(), link_config.clone()).await {
                Ok(status) => return Ok(status),
                Err(e) => failure = e,
            }
        }
        Err(failure)
    };
    tokio::time::timeout(config.connect_timeout, ask)
        .await
        .map_err(|_| Error::NoServer {
            endpoints: endpoint.to_owned(),
            attempts: format!("no status within {} ms", config.connect_timeout.as_millis()),
        })?
}

async fn ask_one(
    server: SocketAddr,
    host: &str,
    store: std::sync::Arc<CertStore>,
    link_config: LinkConfig,
) -> Result<NodeStatus> {
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let endpoint = Endpoint::client(bind, store, link_config)?;
    let link = endpoint.connect_client(server, host).await?;
    let (mut writer, mut reader) = link.open_bi().await?;
    writer.send(&ClientMessage::Status).await?;
    let answer = reader.read::<ServerMessage>().await?;
    link.close(CloseCode::Normal, "status read");
    match answer {
        Some(ServerMessage::Status(status)) => Ok(status),
        Some(other) => Err(Error::Protocol {
            server,
            what: format!("expected Status, got {other:?}"),
        }),
        None => Err(Error::Protocol {
            server,
            what: "the stream ended before the status".into(),
        }),
    }
}
