//! TLS session caches that forget everything when the certificates reload.
//!
//! A resumed TLS session skips certificate verification: it carries the
//! identities proven by the handshake that created it. After a reload (a
//! rotated CA, a replaced certificate) new links must be checked against the
//! new set, so both caches start empty once [`CertStore::generation`] moves.

use std::sync::{Arc, Mutex, PoisonError};

use corral_certs::CertStore;
use rustls::NamedGroup;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::pki_types::ServerName;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

/// Sessions kept per cache.
pub(crate) const SESSIONS_MAX: usize = 256;

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
            ServerSessionMemoryCache::new(SESSIONS_MAX)
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

/// Dialer side: tickets received under the current certificates.
#[derive(Debug)]
pub(crate) struct ClientSessions(Generational<ClientSessionMemoryCache>);

impl ClientSessions {
    pub(crate) fn new(store: Arc<CertStore>) -> Self {
        Self(Generational::new(store, || {
            Arc::new(ClientSessionMemoryCache::new(SESSIONS_MAX))
        }))
    }
}

impl ClientSessionStore for ClientSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.0.cache().set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.cache().kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.0.cache().set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.0.cache().tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.cache().remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.0.cache().insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.0.cache().take_tls13_ticket(server_name)
    }
}
