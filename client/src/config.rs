//! What a client needs to reach a cluster: where the nodes are, which CA to
//! trust, which certificate to present, and the session's limits.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use corral_certs::{CertPaths, CertStore};
use corral_transport::{LinkConfig, QUIC_MAX_DATAGRAM_BYTES, QUIC_MIN_DATAGRAM_BYTES};

use crate::error::{Error, Result};

/// The certificate stores in use in this process, by files: a new client
/// reuses one once its files' stamps show them unchanged, instead of reading
/// and parsing them again (a tenth of a new session's CPU). Held weakly.
static STORES: Mutex<Vec<(CertPaths, Weak<CertStore>)>> = Mutex::new(Vec::new());

/// Environment variable with the comma-separated `host:port` endpoints.
pub const ENV_ENDPOINTS: &str = "CORRAL_ENDPOINTS";
/// Environment variable with the cluster CA certificate's path.
pub const ENV_CA: &str = "CORRAL_CA";
/// Environment variable with the client certificate's path.
pub const ENV_CERT: &str = "CORRAL_CERT";
/// Environment variable with the client key's path.
pub const ENV_KEY: &str = "CORRAL_KEY";

/// How to connect a [`Client`](crate::Client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The nodes, as `host:port` (a DNS name or an IP; the node's certificate
    /// must name the host). Tried in order, starting at a random one.
    pub endpoints: Vec<String>,
    /// The cluster CA certificate (PEM).
    pub ca: PathBuf,
    /// This client's certificate (PEM); its name is the session's x509 identity.
    pub cert: PathBuf,
    /// This client's private key (PEM).
    pub key: PathBuf,
    /// The session timeout asked for; the server clamps it to its bounds.
    pub session_timeout: Duration,
    /// Limit on dialling one endpoint (QUIC + TLS + the session handshake).
    pub connect_timeout: Duration,
    /// Requests in flight on the session at once; more wait (backpressure).
    pub requests_inflight_max: usize,
    /// Largest frame accepted from the server.
    pub frame_bytes_max: u32,
    /// Items a persistent watch stream buffers for a consumer that has not
    /// read them yet; when an event finds the buffer full, the stream ends
    /// with [`Error::WatchOverflow`] (memory stays bounded).
    pub watch_buffer_max: usize,
    /// Longest pause between two rounds of reconnect attempts over every
    /// endpoint (the pause doubles from 50 ms up to this).
    pub reconnect_backoff_max: Duration,
    /// Largest UDP payload of the session's link. The default, QUIC's minimum
    /// of 1,200 bytes, fits every path and skips path-MTU discovery, whose
    /// padded probes cost each new link more CPU than small requests and
    /// replies ever gain from bigger datagrams; raise it (up to what the
    /// path carries, e.g. 1,452 on Ethernet) for megabyte reads and writes.
    pub datagram_bytes_max: u16,
    /// Silence after which the link sends a QUIC keep-alive. Besides keeping
    /// the link open, it is what an idle session sends to a node whose
    /// process died, and the ICMP port unreachable it draws moves the
    /// session at once (see `Link::remote_gone`); a node's own keep-alives
    /// reset it, so a live link costs nothing more. Below 30 s (the link's
    /// idle timeout).
    pub keep_alive: Duration,
}

impl ClientConfig {
    /// The CA, certificate and key files this configuration names.
    pub(crate) fn cert_paths(&self) -> CertPaths {
        CertPaths {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// The CA, certificate and key this configuration names: the store this
    /// process already has for them (reloaded if a file changed), or a new one.
    pub(crate) fn cert_store(&self) -> Result<Arc<CertStore>> {
        let paths = self.cert_paths();
        let found = {
            let mut stores = STORES.lock().unwrap_or_else(PoisonError::into_inner);
            stores.retain(|(_, store)| store.strong_count() > 0);
            stores
                .iter()
                .find(|(p, _)| *p == paths)
                .and_then(|(_, store)| store.upgrade())
        };
        if let Some(store) = found {
            // A file that changed into something unusable fails this client
            // as it would have failed a fresh load.
            store.reload_if_changed()?;
            return Ok(store);
        }
        let store = CertStore::load(paths.clone())?;
        STORES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((paths, Arc::downgrade(&store)));
        Ok(store)
    }

    /// The settings of this client's QUIC links.
    pub(crate) fn link_config(&self) -> LinkConfig {
        LinkConfig {
            frame_bytes_max: self.frame_bytes_max,
            mtu_bytes_max: self.datagram_bytes_max,
            keep_alive_ms: u32::try_from(self.keep_alive.as_millis()).unwrap_or(u32::MAX),
            ..LinkConfig::default()
        }
    }

    /// A configuration with default limits: 10 s session timeout, 5 s connect
    /// timeout, 1,000 requests in flight, 1,024 buffered items per persistent
    /// watch, reconnect pauses of at most 1 s, keep-alives after 1 s of silence.
    pub fn new(
        endpoints: Vec<String>,
        ca: impl Into<PathBuf>,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        Self {
            endpoints,
            ca: ca.into(),
            cert: cert.into(),
            key: key.into(),
            session_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            requests_inflight_max: 1_000,
            frame_bytes_max: 16 << 20,
            watch_buffer_max: 1024,
            reconnect_backoff_max: Duration::from_secs(1),
            datagram_bytes_max: QUIC_MIN_DATAGRAM_BYTES,
            keep_alive: Duration::from_secs(1),
        }
    }

    /// A configuration from `CORRAL_ENDPOINTS`, `CORRAL_CA`, `CORRAL_CERT` and
    /// `CORRAL_KEY` (as `corral dev` prints them); the error names the missing one.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| Error::Config(format!("{name} is not set")))
        };
        let endpoints = parse_endpoints(&var(ENV_ENDPOINTS)?)?;
        Ok(Self::new(
            endpoints,
            var(ENV_CA)?,
            var(ENV_CERT)?,
            var(ENV_KEY)?,
        ))
    }

    /// Sets the session timeout asked for.
    pub fn with_session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// Sets the limit on dialling one endpoint.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the buffer of each persistent watch stream.
    pub fn with_watch_buffer_max(mut self, items: usize) -> Self {
        self.watch_buffer_max = items;
        self
    }

    /// Checks the settings; the error names the bad one.
    pub fn validate(&self) -> Result<()> {
        if self.endpoints.is_empty() {
            return Err(Error::Config("endpoints: at least one is needed".into()));
        }
        for endpoint in &self.endpoints {
            split_host_port(endpoint)?;
        }
        if self.session_timeout.is_zero() {
            return Err(Error::Config("session_timeout: must be above 0".into()));
        }
        if self.connect_timeout.is_zero() {
            return Err(Error::Config("connect_timeout: must be above 0".into()));
        }
        if self.watch_buffer_max == 0 {
            return Err(Error::Config("watch_buffer_max: must be at least 1".into()));
        }
        if self.requests_inflight_max == 0 {
            return Err(Error::Config(
                "requests_inflight_max: must be at least 1".into(),
            ));
        }
        let idle_timeout = Duration::from_millis(LinkConfig::default().idle_timeout_ms.into());
        if self.keep_alive < Duration::from_millis(1) || self.keep_alive >= idle_timeout {
            return Err(Error::Config(format!(
                "keep_alive: must be at least 1 ms and below the link's idle timeout ({idle_timeout:?})"
            )));
        }
        if !(QUIC_MIN_DATAGRAM_BYTES..=QUIC_MAX_DATAGRAM_BYTES).contains(&self.datagram_bytes_max) {
            return Err(Error::Config(format!(
                "datagram_bytes_max: must be within {QUIC_MIN_DATAGRAM_BYTES}..={QUIC_MAX_DATAGRAM_BYTES} (QUIC's bounds)"
            )));
        }
        Ok(())
    }
}

/// Splits a comma-separated endpoint list, ignoring blanks.
pub fn parse_endpoints(list: &str) -> Result<Vec<String>> {
    let endpoints: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    for endpoint in &endpoints {
        split_host_port(endpoint)?;
    }
    if endpoints.is_empty() {
        return Err(Error::Config(format!(
            "endpoints: no `host:port` in {list:?}"
        )));
    }
    Ok(endpoints)
}

/// `("host", port)` of `host:port` or `[v6]:port`.
pub(crate) fn split_host_port(endpoint: &str) -> Result<(&str, u16)> {
    let bad = || Error::Config(format!("endpoint {endpoint:?}: expected host:port"));
    let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_split_and_checked() {
        assert_eq!(
            parse_endpoints("127.0.0.1:1, localhost:2,").unwrap(),
            vec!["127.0.0.1:1".to_owned(), "localhost:2".to_owned()]
        );
        assert!(parse_endpoints("").is_err());
        assert!(parse_endpoints("nohost").is_err());
        assert!(parse_endpoints("h:notaport").is_err());
        assert_eq!(split_host_port("[::1]:7").unwrap(), ("::1", 7));
    }

    #[test]
    fn validate_names_the_bad_setting() {
        let mut config = ClientConfig::new(vec!["a:1".into()], "ca", "c", "k");
        assert!(config.validate().is_ok());
        config.datagram_bytes_max = 1199;
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains("datagram_bytes_max"), "{e}");
        config.datagram_bytes_max = 1452;
        assert!(config.validate().is_ok());
        assert_eq!(config.link_config().keep_alive_ms, 1_000);
        config.keep_alive = Duration::from_secs(30);
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains("keep_alive"), "{e}");
        config.keep_alive = Duration::ZERO;
        assert!(config.validate().is_err());
        config.keep_alive = Duration::from_millis(250);
        assert!(config.validate().is_ok());
        assert_eq!(config.link_config().keep_alive_ms, 250);
        assert!(config.link_config().validate().is_ok());
        config.requests_inflight_max = 0;
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains("requests_inflight_max"), "{e}");
        config.endpoints.clear();
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains("endpoints"), "{e}");
    }
}
