//! An established, authenticated link: a QUIC connection plus who is on the
//! other end, with framed streams and statistics.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use corral_certs::{CertInfo, Identity, NodeId};
use quinn::VarInt;

use crate::error::{Result, TransportError};
use crate::frame::{FrameReader, FrameWriter};
use crate::remote_gone::GoneWatch;

/// ALPN of replica-to-replica links.
pub const ALPN_PEER: &[u8] = b"corral-peer/1";
/// ALPN of client-to-replica links.
pub const ALPN_CLIENT: &[u8] = b"corral-client/1";

/// Which protocol a link speaks, negotiated by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alpn {
    /// `corral-peer/1`: replica to replica; both ends hold node certificates.
    Peer,
    /// `corral-client/1`: a client to a replica; the client holds a client certificate.
    Client,
}

impl Alpn {
    /// The ALPN protocol id on the wire.
    pub fn id(self) -> &'static [u8] {
        match self {
            Alpn::Peer => ALPN_PEER,
            Alpn::Client => ALPN_CLIENT,
        }
    }

    /// The protocol versions a node with `config` offers on such a link,
    /// oldest to newest (the link hello settles on one both ends speak).
    pub fn protocol_versions(self, config: &crate::LinkConfig) -> RangeInclusive<u32> {
        match self {
            Alpn::Peer => {
                *crate::wire::PEER_PROTOCOL_VERSIONS.start()..=config.peer_protocol_version
            }
            Alpn::Client => crate::LINK_PROTOCOL_VERSION..=crate::LINK_PROTOCOL_VERSION,
        }
    }

    /// The protocol of an ALPN id; `None` for anything else.
    pub fn from_id(id: &[u8]) -> Option<Self> {
        match id {
            ALPN_PEER => Some(Alpn::Peer),
            ALPN_CLIENT => Some(Alpn::Client),
            _ => None,
        }
    }
}

/// Application close codes of corral links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// Orderly close.
    Normal,
    /// The link was refused after the TLS handshake; the reason says why.
    Refused,
    /// The remote broke the protocol (bad frame, unexpected message).
    Protocol,
    /// The endpoint is shutting down.
    Shutdown,
}

impl CloseCode {
    /// The code as a number.
    pub fn code(self) -> u32 {
        match self {
            CloseCode::Normal => 0,
            CloseCode::Refused => 1,
            CloseCode::Protocol => 2,
            CloseCode::Shutdown => 3,
        }
    }
}

impl From<CloseCode> for VarInt {
    fn from(code: CloseCode) -> Self {
        VarInt::from_u32(code.code())
    }
}

/// Connection statistics for metrics (from quinn's path and UDP counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u64,
    /// Congestion window, in bytes.
    pub congestion_window_bytes: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Bytes declared lost.
    pub lost_bytes: u64,
    /// Congestion events.
    pub congestion_events: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// UDP payload bytes sent.
    pub sent_bytes: u64,
    /// UDP payload bytes received.
    pub received_bytes: u64,
    /// Current path MTU, in bytes.
    pub mtu_bytes: u16,
}

/// An established, authenticated link.
///
/// Cloning is cheap and every clone is the same connection; dropping the last
/// clone closes it.
#[derive(Debug, Clone)]
pub struct Link {
    conn: quinn::Connection,
    identity: Identity,
    alpn: Alpn,
    protocol_version: u32,
    frame_bytes_max: u32,
    /// Reports of remotes gone, on links this end dialled from a client endpoint.
    gone: Option<GoneWatch>,
}

impl Link {
    pub(crate) fn new(
        conn: quinn::Connection,
        identity: Identity,
        alpn: Alpn,
        protocol_version: u32,
        frame_bytes_max: u32,
    ) -> Self {
        Self {
            conn,
            identity,
            alpn,
            protocol_version,
            frame_bytes_max,
            gone: None,
        }
    }

    /// This link, learning from `gone` when its remote's process is gone.
    pub(crate) fn watching_gone(mut self, gone: GoneWatch) -> Self {
        self.gone = Some(gone);
        self
    }

    /// Closes a link whose remote is gone (see [`Link::remote_gone`]), then
    /// waits (50 ms at most) for the kernel's answer to the closing datagram,
    /// which would otherwise cost the socket's next datagram (a redial's
    /// first, which QUIC resends only after a second).
    pub async fn close_gone(&self, reason: &str) {
        let echo = self.gone.as_ref().map(GoneWatch::renewed);
        self.close(CloseCode::Normal, reason);
        if let Some(echo) = echo {
            echo.absorb_echo(self.remote_address()).await;
        }
    }

    /// Resolves once the remote's host said nothing listens at its address
    /// any more (ICMP port unreachable: its process died), which comes as
    /// soon as this end sends it anything; never on links that cannot tell
    /// (accepted ones, or off Linux). The link itself stays as it is.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn remote_gone(&self) {
        match &self.gone {
            Some(gone) => gone.gone(self.remote_address()).await,
            None => std::future::pending().await,
        }
    }

    /// Who is on the other end, as its certificate proves.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The remote node's id, on a peer link.
    pub fn node_id(&self) -> Option<NodeId> {
        self.identity.node_id()
    }

    /// The remote client's name (its x509 ACL identity), on a client link.
    pub fn client_name(&self) -> Option<&str> {
        self.identity.client_name()
    }

    /// The negotiated protocol.
    pub fn alpn(&self) -> Alpn {
        self.alpn
    }

    /// The version of that protocol both ends settled on at the link hello.
    pub fn protocol_version(&self) -> u32 {
        self.protocol_version
    }

    /// The remote's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// The remote's certificate as corral reads it (identity, serial, expiry).
    pub fn peer_cert_info(&self) -> Option<CertInfo> {
        let certs = peer_certs(&self.conn)?;
        corral_certs::inspect(certs.first()?).ok()
    }

    /// Statistics of this connection for metrics.
    pub fn stats(&self) -> LinkStats {
        let stats = self.conn.stats();
        LinkStats {
            rtt_us: duration_us(self.conn.rtt()),
            congestion_window_bytes: stats.path.cwnd,
            lost_packets: stats.path.lost_packets,
            lost_bytes: stats.path.lost_bytes,
            congestion_events: stats.path.congestion_events,
            sent_packets: stats.path.sent_packets,
            sent_bytes: stats.udp_tx.bytes,
            received_bytes: stats.udp_rx.bytes,
            mtu_bytes: stats.path.current_mtu,
        }
    }

    /// Opens a bidirectional framed stream.
    ///
    /// Cancel safety: cancel-safe; a dropped call opened nothing. The remote
    /// sees the stream only once something is written on it.
    pub async fn open_bi(&self) -> Result<(FrameWriter, FrameReader)> {
        let (send, recv) = self.conn.open_bi().await.map_err(|e| self.lost(e))?;
        Ok(self.framed(send, recv))
    }

    /// Waits for the remote to open a bidirectional framed stream.
    ///
    /// Cancel safety: cancel-safe; a stream that arrives after the drop is
    /// returned by the next call.
    pub async fn accept_bi(&self) -> Result<(FrameWriter, FrameReader)> {
        let (send, recv) = self.conn.accept_bi().await.map_err(|e| self.lost(e))?;
        Ok(self.framed(send, recv))
    }

    /// Opens a unidirectional framed stream.
    ///
    /// Cancel safety: cancel-safe, as [`Link::open_bi`].
    pub async fn open_uni(&self) -> Result<FrameWriter> {
        let send = self.conn.open_uni().await.map_err(|e| self.lost(e))?;
        Ok(FrameWriter::new(
            send,
            self.remote_address(),
            self.frame_bytes_max,
        ))
    }

    /// Waits for the remote to open a unidirectional framed stream.
    ///
    /// Cancel safety: cancel-safe, as [`Link::accept_bi`].
    pub async fn accept_uni(&self) -> Result<FrameReader> {
        let recv = self.conn.accept_uni().await.map_err(|e| self.lost(e))?;
        Ok(FrameReader::new(
            recv,
            self.remote_address(),
            self.frame_bytes_max,
        ))
    }

    /// Closes the link now, telling the remote `code` and `reason`.
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.conn.close(code.into(), reason.as_bytes());
    }

    /// Waits until the link is closed, by either side, and says why.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn closed(&self) -> quinn::ConnectionError {
        self.conn.closed().await
    }

    /// The underlying quinn connection, for what this type does not wrap.
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    fn framed(
        &self,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) -> (FrameWriter, FrameReader) {
        let peer = self.remote_address();
        (
            FrameWriter::new(send, peer, self.frame_bytes_max),
            FrameReader::new(recv, peer, self.frame_bytes_max),
        )
    }

    fn lost(&self, source: quinn::ConnectionError) -> TransportError {
        TransportError::Connection {
            peer: self.remote_address(),
            source,
        }
    }
}

/// The certificate chain the remote presented.
pub(crate) fn peer_certs(
    conn: &quinn::Connection,
) -> Option<Vec<rustls::pki_types::CertificateDer<'static>>> {
    conn.peer_identity()?
        .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
        .ok()
        .map(|certs| *certs)
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
