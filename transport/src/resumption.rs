//! TLS resumption that forgets everything when the certificates reload.
//!
//! A resumed TLS session skips certificate verification: it carries the
//! identities proven by the handshake that created it. After a reload (a
//! rotated CA, a replaced certificate) new links must be checked against the
//! new set, so once [`CertStore::generation`] moves the dialer's ticket cache
//! starts empty and the server's ticket key is replaced (tickets from before
//! no longer decrypt, and a full handshake follows).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use corral_certs::CertStore;
use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::server::ProducesTickets;

/// Nodes a dialer keeps tickets for.
pub(crate) const SESSIONS_MAX: usize = 256;
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

/// Server side: stateless TLS 1.3 tickets, sealed under a key this node keeps
/// in memory (rotated by rustls every few hours) and replaced when the
/// certificates reload. Stateless: resuming costs one decryption, where
/// rustls's session cache scanned its queue of every kept session to take
/// one (7% of a new session's server CPU at 8192 kept).
#[derive(Debug)]
pub(crate) struct ServerTickets {
    store: Arc<CertStore>,
    current: Mutex<(u64, Arc<dyn ProducesTickets>)>,
}

impl ServerTickets {
    pub(crate) fn new(store: Arc<CertStore>) -> Result<Self, rustls::Error> {
        let current = Mutex::new((store.generation(), rustls::crypto::ring::Ticketer::new()?));
        Ok(Self { store, current })
    }

    /// The ticket key of the current certificates; none (no resumption) if
    /// a new key could not be made after a reload.
    fn ticketer(&self) -> Option<Arc<dyn ProducesTickets>> {
        let generation = self.store.generation();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != generation {
            match rustls::crypto::ring::Ticketer::new() {
                Ok(ticketer) => *current = (generation, ticketer),
                Err(e) => {
                    tracing::warn!(error = %e, "no TLS ticket key for the new certificates: no resumption");
                    return None;
                }
            }
        }
        Some(current.1.clone())
    }
}

impl ProducesTickets for ServerTickets {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.ticketer().map_or(0, |t| t.lifetime())
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.ticketer()?.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.ticketer()?.decrypt(cipher)
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
