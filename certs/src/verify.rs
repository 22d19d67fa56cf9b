//! The TLS checks of corral, as rustls verifiers reading the current [`CertStore`].
//!
//! - [`ClientPolicy`] (servers): a client certificate is mandatory, must chain to
//!   the cluster CA, be in date, and carry a corral identity. Which identity kind
//!   an ALPN admits is checked after the handshake by the transport, since rustls
//!   verifies the certificate before the ALPN is known to the application.
//! - [`ServerPolicy`] (dialers): the server certificate must chain to the
//!   cluster CA, be in date, be a node certificate, and either name the node id
//!   the dialer expects ([`ExpectServer::Node`]) or be valid for the server name
//!   dialled ([`ExpectServer::AnyNode`], what clients use).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};

use crate::error::CertError;
use crate::identity::{Identity, NodeId, identity_of};
use crate::store::CertStore;

/// What a dialer requires of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectServer {
    /// A node certificate naming exactly this node id (peer links).
    Node(NodeId),
    /// Any node certificate valid for the server name dialled (clients).
    AnyNode,
}

/// Server side: verifies client certificates against the current CA.
#[derive(Debug)]
pub struct ClientPolicy {
    store: Arc<CertStore>,
}

impl ClientPolicy {
    /// A verifier reading `store` on every handshake.
    pub fn new(store: Arc<CertStore>) -> Self {
        Self { store }
    }
}

/// Dialer side: verifies the server certificate against the current CA.
#[derive(Debug)]
pub struct ServerPolicy {
    store: Arc<CertStore>,
    expect: ExpectServer,
}

impl ServerPolicy {
    /// A verifier reading `store` on every handshake and requiring `expect`.
    pub fn new(store: Arc<CertStore>, expect: ExpectServer) -> Self {
        Self { store, expect }
    }
}

/// Wraps our error for rustls, which sends `bad_certificate` and keeps the text.
fn rejected(e: CertError) -> rustls::Error {
    let reason = Reason(e.to_string());
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(reason))))
}

/// A rejection reason that prints the same with `{}` and `{:?}`: rustls shows
/// its inner error with `{:?}`, and operators should read a sentence.
struct Reason(String);

impl std::fmt::Debug for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reason {}

fn provider(store: &CertStore) -> &CryptoProvider {
    store.provider()
}

impl ClientCertVerifier for ClientPolicy {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: the client presents its one certificate regardless, and the CA
        // can change under us, which a borrowed slice could not follow.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let set = self.store.current();
        set.client_verifier
            .verify_client_cert(end_entity, intermediates, now)?;
        identity_of(end_entity).map_err(rejected)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &provider(&self.store).signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &provider(&self.store).signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider(&self.store)
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ServerCertVerifier for ServerPolicy {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let set = self.store.current();
        let parsed = ParsedCertificate::try_from(end_entity)?;
        let algs = provider(&self.store).signature_verification_algorithms.all;
        verify_server_cert_signed_by_trust_anchor(&parsed, &set.roots, intermediates, now, algs)?;
        let identity = identity_of(end_entity).map_err(rejected)?;
        match (self.expect, &identity) {
            (ExpectServer::Node(expected), Identity::Node(id)) if *id == expected => {}
            (ExpectServer::Node(expected), presented) => {
                return Err(rejected(CertError::WrongNode {
                    expected,
                    presented: presented.to_string(),
                }));
            }
            (ExpectServer::AnyNode, Identity::Node(_)) => verify_server_name(&parsed, server_name)?,
            (ExpectServer::AnyNode, presented) => {
                return Err(rejected(CertError::NotANode {
                    presented: presented.to_string(),
                }));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &provider(&self.store).signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &provider(&self.store).signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider(&self.store)
            .signature_verification_algorithms
            .supported_schemes()
    }
}
