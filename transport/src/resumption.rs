//! TLS session caches that forget everything when the certificates reload.
//!
//! A resumed TLS session skips certificate verification: it carries the
//! identities proven by the handshake that created it. After a reload (a
//! rotated CA, a replaced certificate) new links must be checked against the
//! new set, so both caches start empty once [`CertStore::generation`] moves.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use corral_certs::CertStore;
use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

/// Nodes a dialer keeps tickets for.
pub(crate) const SESSIONS_MAX: usize = 256;
/// Sessions a server keeps for resumption (each handshake issues two
/// tickets; enough for thousands of clients reconnecting at once).
pub(crate) const SERVER_SESSIONS_MAX: usize = 8192;
/// Tickets a dialer keeps per node: one per dial in flight at once to it
/// (each resumption takes one; each handshake brings new ones).
pub(crate) const TICKETS_PER_NODE: usize = 64;

/// A cache of type `C` tied to the generation of a certificate store.
#[derive(Debug)]
struct Generational<C> {
    store: Arc<CertStore>,
    make: fn() -> Arc<C>,
    current: Mutex<(u64, Arc<C>)>,
}

impl<C> Generational<C> {
    fn new(store: Arc<CertStore>, make: fn() -> Arc<C>) -> Self {
        let current = Mutex::new((store.generation(), make()));
        Self {
            store,
            make,
            current,
        }
    }

    fn cache(&self) -> Arc<C> {
        let generation = self.store.generation();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != generation {
            *current = (generation, (self.make)());
        }
        current.1.clone()
    }
}

/// Server side: session ids and tickets issued under the current certificates.
#[derive(Debug)]
pub(crate) struct ServerSessions(Generational<ServerSessionMemoryCache>);

impl ServerSessions {
    pub(crate) fn new(store: Arc<CertStore>) -> Self {
        Self(Generational::new(store, || {
            ServerSessionMemoryCache::new(SERVER_SESSIONS_MAX)
        }))
    }
}

impl StoresServerSessions for ServerSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.cache().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.cache().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.cache().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Dialer side: the TLS 1.3 tickets received under the current
/// certificates, kept per node: per address as well as per server name, since
/// the nodes of a cluster often share one name (an IP or a DNS name for all),
/// and a ticket one node issued is of no use to another.
#[derive(Debug)]
pub(crate) struct ClientSessions(Generational<Mutex<HashMap<NodeKey, NodeTickets>>>);

/// The node a ticket is for.
type NodeKey = (SocketAddr, ServerName<'static>);

/// What is kept for one node.
#[derive(Debug, Default)]
struct NodeTickets {
    kx_hint: Option<NamedGroup>,
    tickets: VecDeque<Tls13ClientSessionValue>,
}

impl ClientSessions {
    pub(crate) fn new(store: Arc<CertStore>) -> Self {
        Self(Generational::new(store, || {
            Arc::new(Mutex::new(HashMap::new()))
        }))
    }

    /// The store a dial to `addr` resumes from and saves to.
    pub(crate) fn at(self: &Arc<Self>, addr: SocketAddr) -> Arc<dyn ClientSessionStore> {
        Arc::new(AtAddress {
            sessions: self.clone(),
            addr,
        })
    }

    /// Runs `f` on `key`'s entry (made if missing), after forgetting every
    /// ticket from before a certificate reload.
    fn with_node<R>(&self, key: NodeKey, f: impl FnOnce(&mut NodeTickets) -> R) -> R {
        let cache = self.0.cache();
        let mut nodes = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if nodes.len() >= SESSIONS_MAX && !nodes.contains_key(&key) {
            // More nodes than any cluster has: start over rather than grow.
            nodes.clear();
        }
        f(nodes.entry(key).or_default())
    }

    /// Runs `f` on `key`'s entry if there is one: a lookup adds nothing.
    fn with_known_node<R>(
        &self,
        key: &NodeKey,
        f: impl FnOnce(&mut NodeTickets) -> Option<R>,
    ) -> Option<R> {
        let cache = self.0.cache();
        let mut nodes = cache.lock().unwrap_or_else(PoisonError::into_inner);
        nodes.get_mut(key).and_then(f)
    }
}

/// [`ClientSessions`] as seen by one dial, to one address.
#[derive(Debug)]
struct AtAddress {
    sessions: Arc<ClientSessions>,
    addr: SocketAddr,
}

impl AtAddress {
    fn key(&self, server_name: &ServerName<'_>) -> NodeKey {
        (self.addr, server_name.to_owned())
    }
}

impl ClientSessionStore for AtAddress {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        let key = self.key(&server_name);
        self.sessions
            .with_node(key, |node| node.kx_hint = Some(group));
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        let key = self.key(server_name);
        self.sessions.with_known_node(&key, |node| node.kx_hint)
    }

    // TLS 1.2 is never negotiated (both sides speak only TLS 1.3).
    fn set_tls12_session(&self, _: ServerName<'static>, _: Tls12ClientSessionValue) {}

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        None
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {}

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        let key = self.key(&server_name);
        self.sessions.with_node(key, |node| {
            if node.tickets.len() >= TICKETS_PER_NODE {
                node.tickets.pop_front();
            }
            node.tickets.push_back(value);
        });
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        // The newest first: the least likely to have left the node's cache.
        let key = self.key(server_name);
        self.sessions
            .with_known_node(&key, |node| node.tickets.pop_back())
    }
}
