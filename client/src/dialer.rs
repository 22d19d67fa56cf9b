//! How a session reaches a node: the QUIC endpoint it dials from and, for
//! sessions made through one [`Connector`](crate::Connector), the links they
//! share (each session is a stream of its own on a shared link).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use corral_certs::{CertPaths, CertStore};
use corral_transport::{
    CloseCode, Endpoint, Link, LinkConfig, STREAMS_BIDI_MAX_DEFAULT, streams_open_max,
};

use crate::error::Result;

/// Sessions one shared link carries at most; the next gets a new link. Well
/// below what a node lets a client hold open (223 of its default 256
/// streams), with room for status asks and for streams still closing.
pub(crate) const SESSIONS_PER_LINK_MAX: usize = 128;
const _: () = assert!(
    SESSIONS_PER_LINK_MAX < streams_open_max(STREAMS_BIDI_MAX_DEFAULT) as usize,
    "sessions on a shared link could use up a node's stream credit"
);

/// The shared links to one server, dialled one at a time.
type LinksToServer = Arc<tokio::sync::Mutex<Vec<Weak<SharedLink>>>>;

/// The client endpoints of this process: dialers with the same certificate
/// files and link settings, in the same async runtime (an endpoint's driver
/// runs on the runtime that bound it), share one (a socket, its receive
/// buffers, the TLS session cache), whichever connector made them, so a
/// process's next session to a node resumes TLS instead of a full
/// handshake. Held weakly: an endpoint closes when its last dialer is gone.
static ENDPOINTS: Mutex<Vec<(EndpointKey, Weak<Endpoint>)>> = Mutex::new(Vec::new());

/// What makes two dialers' endpoints interchangeable.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EndpointKey {
    paths: CertPaths,
    link_config: LinkConfig,
    ipv6: bool,
    runtime: Option<tokio::runtime::Id>,
}

/// One QUIC endpoint per address family, kept for the sessions' life so
/// reconnects resume TLS sessions; and, when sharing, the links in use.
pub(crate) struct Dialer {
    store: Arc<CertStore>,
    paths: CertPaths,
    link_config: LinkConfig,
    v4: Mutex<Option<Arc<Endpoint>>>,
    v6: Mutex<Option<Arc<Endpoint>>>,
    /// Per server, the shared links (`None`: every connection dials its own).
    shared: Option<Mutex<HashMap<SocketAddr, LinksToServer>>>,
}

impl Dialer {
    /// A dialer presenting the certificate of `paths` (loaded in `store`);
    /// with `share_links`, connections to one node share links.
    pub(crate) fn new(
        store: Arc<CertStore>,
        paths: CertPaths,
        link_config: LinkConfig,
        share_links: bool,
    ) -> Self {
        Self {
            store,
            paths,
            link_config,
            v4: Mutex::new(None),
            v6: Mutex::new(None),
            shared: share_links.then(|| Mutex::new(HashMap::new())),
        }
    }

    /// The endpoint that dials `server`: this process's endpoint for our
    /// certificate and settings, bound on first use.
    fn endpoint_for(&self, server: SocketAddr) -> Result<Arc<Endpoint>> {
        let (slot, bind): (&Mutex<Option<Arc<Endpoint>>>, SocketAddr) = if server.is_ipv4() {
            (&self.v4, ([0, 0, 0, 0], 0).into())
        } else {
            (&self.v6, (std::net::Ipv6Addr::UNSPECIFIED, 0).into())
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(endpoint) = slot.as_ref() {
            return Ok(endpoint.clone());
        }
        let key = EndpointKey {
            paths: self.paths.clone(),
            link_config: self.link_config.clone(),
            ipv6: server.is_ipv6(),
            runtime: tokio::runtime::Handle::try_current().ok().map(|h| h.id()),
        };
        let mut shared = ENDPOINTS.lock().unwrap_or_else(PoisonError::into_inner);
        shared.retain(|(_, weak)| weak.strong_count() > 0);
        let found = shared
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, weak)| weak.upgrade());
        let endpoint = match found {
            Some(endpoint) => endpoint,
            None => {
                let endpoint = Arc::new(Endpoint::client(
                    bind,
                    self.store.clone(),
                    self.link_config.clone(),
                )?);
                shared.push((key, Arc::downgrade(&endpoint)));
                endpoint
            }
        };
        *slot = Some(endpoint.clone());
        Ok(endpoint)
    }

    /// A link to `server` (certificate checked for `host`): a new one, or,
    /// when sharing, an open one with room for another session.
    ///
    /// Cancel safety: cancel-safe; an unfinished dial leaves no link behind.
    pub(crate) async fn link_to(&self, server: SocketAddr, host: &str) -> Result<LinkRef> {
        let Some(shared) = &self.shared else {
            let link = self
                .endpoint_for(server)?
                .connect_client(server, host)
                .await?;
            return Ok(LinkRef::Own(link));
        };
        let slot = shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(server)
            .or_default()
            .clone();
        // One dial at a time per server: concurrent sessions wait for it and
        // share it rather than each dialling.
        let mut links = slot.lock().await;
        links.retain(|weak| weak.upgrade().is_some_and(|l| l.is_open()));
        // Our upgrade is one of the counted references.
        let roomy = links
            .iter()
            .filter_map(Weak::upgrade)
            .find(|link| Arc::strong_count(link) <= SESSIONS_PER_LINK_MAX);
        if let Some(link) = roomy {
            return Ok(LinkRef::Shared(link));
        }
        let link = self
            .endpoint_for(server)?
            .connect_client(server, host)
            .await?;
        let link = Arc::new(SharedLink(link));
        links.push(Arc::downgrade(&link));
        Ok(LinkRef::Shared(link))
    }
}

/// A link several sessions use; closed when the last of them lets go.
pub(crate) struct SharedLink(Link);

impl SharedLink {
    fn is_open(&self) -> bool {
        self.0.connection().close_reason().is_none()
    }
}

impl Drop for SharedLink {
    fn drop(&mut self) {
        self.0.close(CloseCode::Normal, "no session uses the link");
    }
}

/// The link one connection runs on.
pub(crate) enum LinkRef {
    /// Its own: closed with the connection.
    Own(Link),
    /// Shared with other sessions: only the connection's stream ends with it.
    Shared(Arc<SharedLink>),
}

impl LinkRef {
    /// The link.
    pub(crate) fn link(&self) -> &Link {
        match self {
            LinkRef::Own(link) => link,
            LinkRef::Shared(shared) => &shared.0,
        }
    }

    /// The connection is done with the link: close it unless others use it.
    pub(crate) fn release(&self, reason: &str) {
        if let LinkRef::Own(link) = self {
            link.close(CloseCode::Normal, reason);
        }
    }
}
