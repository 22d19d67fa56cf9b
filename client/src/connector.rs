//! [`Connector`]: one QUIC endpoint (one UDP socket) and one TLS session
//! cache, shared by every session a process opens through it.

use std::sync::Arc;

use crate::config::ClientConfig;
use crate::dialer::Dialer;
use crate::error::Result;

/// What sessions opened with [`Client::connect_with`](crate::Client::connect_with)
/// share: the links. Sessions to the same node ride one QUIC link (up to 128
/// per link, each on a stream of its own), so a new session costs a stream,
/// not a handshake, and events for many sessions share datagrams. A link the
/// node drops, or that goes silent, takes its sessions with it: each resumes
/// on its own, as after any connection loss.
///
/// [`Client::connect`](crate::Client::connect) makes a private one per
/// session: its own link. Either way, every session of the process with the
/// same certificate files and limits dials from one UDP socket with one TLS
/// session cache, so a new link to a node the process has reached before
/// resumes TLS rather than repeating the full mutual-TLS handshake.
/// Share a connector when a process holds many sessions. Cloning is cheap; a
/// link closes when its last session is gone, the socket when the last
/// session of the process using it is.
///
/// ```no_run
/// # async fn run() -> Result<(), corral_client::Error> {
/// use corral_client::{Client, ClientConfig, Connector};
/// let config = ClientConfig::from_env()?;
/// let connector = Connector::new(&config)?;
/// let mut workers = Vec::new();
/// for _ in 0..100 {
///     workers.push(Client::connect_with(config.clone(), &connector).await?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Connector {
    pub(crate) dialer: Arc<Dialer>,
}

impl Connector {
    /// Loads the CA, certificate and key `config` names; the endpoint is bound
    /// on first use. Link limits (the largest frame) are `config`'s for every
    /// session made through it.
    pub fn new(config: &ClientConfig) -> Result<Connector> {
        Self::build(config, true)
    }

    /// One session's own: its connections never share a link.
    pub(crate) fn private(config: &ClientConfig) -> Result<Connector> {
        Self::build(config, false)
    }

    fn build(config: &ClientConfig, share_links: bool) -> Result<Connector> {
        config.validate()?;
        let dialer = Dialer::new(
            config.cert_store()?,
            config.cert_paths(),
            config.link_config(),
            share_links,
        );
        Ok(Connector {
            dialer: Arc::new(dialer),
        })
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}
