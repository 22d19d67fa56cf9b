//! Every limit of a link, named and explicit (nothing is left to quinn's defaults).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, VarInt};

use crate::error::{Result, TransportError};

/// QUIC's smallest allowed datagram payload, which every path must carry.
pub const QUIC_MIN_DATAGRAM_BYTES: u16 = 1200;
/// QUIC's largest datagram payload (a UDP payload's limit).
pub const QUIC_MAX_DATAGRAM_BYTES: u16 = 65_527;

/// The default of [`LinkConfig::streams_bidi_max`].
pub const STREAMS_BIDI_MAX_DEFAULT: u32 = 256;

/// Streams a remote may hold open at once and still always be able to open
/// another as old ones close: a link re-announces stream credit only once
/// more than an eighth of `streams_max` have closed since it last did.
pub const fn streams_open_max(streams_max: u32) -> u32 {
    streams_max.saturating_sub(streams_max / 8 + 1)
}

/// Limits and timers of an endpoint and its links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// The cluster's id: peers of another cluster are refused at the link hello.
    pub cluster_id: String,
    /// Concurrent bidirectional streams a remote may open. A remote gets
    /// credit for new streams only after more than an eighth of them have
    /// closed (quinn batches `MAX_STREAMS`): one that keeps more than
    /// [`streams_open_max`] open may wait forever for its next stream.
    pub streams_bidi_max: u32,
    /// Concurrent unidirectional streams a remote may open.
    pub streams_uni_max: u32,
    /// Flow-control window of one stream, in bytes.
    pub stream_receive_window_bytes: u32,
    /// Flow-control window of a whole connection, in bytes.
    pub connection_receive_window_bytes: u32,
    /// Bytes we buffer unacknowledged per connection.
    pub send_window_bytes: u64,
    /// A link with no traffic for this long is closed.
    pub idle_timeout_ms: u32,
    /// A ping is sent after this long without traffic (below `idle_timeout_ms`).
    pub keep_alive_ms: u32,
    /// Limit on the TLS handshake plus the link hello.
    pub handshake_timeout_ms: u32,
    /// Kernel receive buffer of the UDP socket, in bytes (capped by the OS,
    /// `net.core.rmem_max` on Linux). Too small, and bursts are dropped before
    /// QUIC sees them, which it takes for congestion.
    pub udp_receive_buffer_bytes: u32,
    /// Kernel send buffer of the UDP socket, in bytes (capped by the OS).
    pub udp_send_buffer_bytes: u32,
    /// Largest UDP payload path-MTU discovery may probe up to. 1452 fits any
    /// Ethernet path; raise it on networks with jumbo frames (or loopback).
    /// [`QUIC_MIN_DATAGRAM_BYTES`] turns discovery off: datagrams stay at that
    /// size both ways, and neither end sends the padded probes that discovery
    /// costs each new link.
    pub mtu_bytes_max: u16,
    /// Largest frame body accepted or sent, in bytes.
    pub frame_bytes_max: u32,
    /// How often certificate files are checked for change; 0 turns it off.
    pub cert_reload_poll_ms: u32,
    /// Packets carrying data the remote may receive before it must acknowledge
    /// (QUIC ACK frequency); 0 asks for an acknowledgement of every one. Our
    /// replies and appends carry acknowledgements anyway: a higher threshold
    /// saves the ack-only packets (each a syscall and a wake-up on both ends).
    pub ack_eliciting_threshold: u32,
    /// Longest the remote may hold an acknowledgement back, in milliseconds;
    /// loss recovery waits this much longer.
    pub ack_delay_max_ms: u32,
    /// The newest peer protocol version this node offers (one of
    /// [`PEER_PROTOCOL_VERSIONS`](crate::wire::PEER_PROTOCOL_VERSIONS)).
    /// Links to older nodes settle on their version anyway; a lower value
    /// holds every link of this node to it.
    pub peer_protocol_version: u32,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            cluster_id: "corral".into(),
            streams_bidi_max: STREAMS_BIDI_MAX_DEFAULT,
            streams_uni_max: 64,
            // Sized for a LAN or a near data centre (4 MiB per stream moves
            // ~400 MB/s at 10 ms RTT); raise all three for high bandwidth-delay
            // paths. The send window stays within the UDP buffers, so a burst
            // does not overflow the receiver's socket (loss QUIC would read as
            // congestion).
            stream_receive_window_bytes: 4 << 20,
            connection_receive_window_bytes: 8 << 20,
            send_window_bytes: 8 << 20,
            idle_timeout_ms: 30_000,
            keep_alive_ms: 5_000,
            handshake_timeout_ms: 10_000,
            udp_receive_buffer_bytes: 8 << 20,
            udp_send_buffer_bytes: 8 << 20,
            mtu_bytes_max: 1452,
            frame_bytes_max: 16 << 20,
            cert_reload_poll_ms: 5_000,
            ack_eliciting_threshold: 16,
            ack_delay_max_ms: 5,
            peer_protocol_version: crate::wire::PEER_PROTOCOL_VERSION,
        }
    }
}

impl LinkConfig {
    /// Checks the limits are consistent.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(TransportError::Config {
                what: what.to_owned(),
            })
        };
        if self.keep_alive_ms == 0 || self.keep_alive_ms >= self.idle_timeout_ms {
            return bad("keep_alive_ms must be above 0 and below idle_timeout_ms");
        }
        if self.frame_bytes_max < 64 {
            return bad("frame_bytes_max must be at least 64");
        }
        if self.streams_bidi_max == 0 {
            return bad("streams_bidi_max must be at least 1 (the link hello uses one)");
        }
        if self.stream_receive_window_bytes == 0 || self.connection_receive_window_bytes == 0 {
            return bad("receive windows must be above 0");
        }
        if !(QUIC_MIN_DATAGRAM_BYTES..=QUIC_MAX_DATAGRAM_BYTES).contains(&self.mtu_bytes_max) {
            return bad("mtu_bytes_max must be within 1200..=65527 (QUIC's bounds)");
        }
        if self.handshake_timeout_ms == 0 {
            return bad("handshake_timeout_ms must be above 0");
        }
        if self.ack_delay_max_ms == 0 || self.ack_delay_max_ms >= 1 << 14 {
            return bad("ack_delay_max_ms must be within 1..16384 (QUIC's bound)");
        }
        let peer_versions = crate::wire::PEER_PROTOCOL_VERSIONS;
        if !peer_versions.contains(&self.peer_protocol_version) {
            return Err(TransportError::Config {
                what: format!(
                    "peer_protocol_version {} is not one this build speaks ({}..={})",
                    self.peer_protocol_version,
                    peer_versions.start(),
                    peer_versions.end()
                ),
            });
        }
        Ok(())
    }

    /// Whether links probe for datagrams larger than QUIC's minimum
    /// (`mtu_bytes_max` above it).
    pub(crate) fn path_mtu_discovery(&self) -> bool {
        self.mtu_bytes_max > QUIC_MIN_DATAGRAM_BYTES
    }

    /// quinn's transport parameters for these limits.
    pub(crate) fn quinn_transport(&self) -> Result<Arc<quinn::TransportConfig>> {
        self.validate()?;
        let idle = IdleTimeout::try_from(Duration::from_millis(self.idle_timeout_ms.into()))
            .map_err(|e| TransportError::Config {
                what: format!("idle_timeout_ms: {e}"),
            })?;
        let mut mtu = quinn::MtuDiscoveryConfig::default();
        mtu.upper_bound(self.mtu_bytes_max);
        let discovery = self.path_mtu_discovery().then_some(mtu);
        let mut acks = quinn::AckFrequencyConfig::default();
        acks.ack_eliciting_threshold(VarInt::from_u32(self.ack_eliciting_threshold))
            .max_ack_delay(Some(Duration::from_millis(self.ack_delay_max_ms.into())));
        let mut transport = quinn::TransportConfig::default();
        transport
            .ack_frequency_config(Some(acks))
            .max_concurrent_bidi_streams(VarInt::from_u32(self.streams_bidi_max))
            .max_concurrent_uni_streams(VarInt::from_u32(self.streams_uni_max))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window_bytes))
            .receive_window(VarInt::from_u32(self.connection_receive_window_bytes))
            .send_window(self.send_window_bytes)
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(Duration::from_millis(self.keep_alive_ms.into())))
            .mtu_discovery_config(discovery)
            // No unreliable datagrams: every message is framed on a stream.
            .datagram_receive_buffer_size(None);
        Ok(Arc::new(transport))
    }

    /// The handshake limit as a duration.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms.into())
    }
}

/// Binds a UDP socket at `addr` with the buffer sizes of `config`.
pub(crate) fn bind_udp(
    addr: SocketAddr,
    config: &LinkConfig,
) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // The OS may grant less than asked (Linux caps at rmem_max/wmem_max); that
    // is not an error, only a slower link.
    let _ = socket.set_recv_buffer_size(config.udp_receive_buffer_bytes as usize);
    let _ = socket.set_send_buffer_size(config.udp_send_buffer_bytes as usize);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::PEER_PROTOCOL_VERSIONS;

    /// The message of a refused configuration.
    fn refusal(config: &LinkConfig) -> String {
        match config.validate() {
            Err(TransportError::Config { what }) => what,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn the_default_is_valid_and_builds_quinn_parameters() {
        let config = LinkConfig::default();
        assert!(config.validate().is_ok());
        assert!(config.quinn_transport().is_ok());
    }

    #[test]
    fn every_peer_protocol_version_this_build_speaks_is_accepted() {
        for version in PEER_PROTOCOL_VERSIONS {
            let config = LinkConfig {
                peer_protocol_version: version,
                ..LinkConfig::default()
            };
            assert!(config.validate().is_ok(), "version {version}");
        }
    }

    #[test]
    fn a_peer_protocol_version_outside_the_range_is_refused_naming_it() {
        let below = *PEER_PROTOCOL_VERSIONS.start() - 1;
        let above = *PEER_PROTOCOL_VERSIONS.end() + 1;
        for version in [below, above] {
            let config = LinkConfig {
                peer_protocol_version: version,
                ..LinkConfig::default()
            };
            let what = refusal(&config);
            assert!(
                what.starts_with(&format!("peer_protocol_version {version} ")),
                "{what}"
            );
            let range = format!(
                "{}..={}",
                PEER_PROTOCOL_VERSIONS.start(),
                PEER_PROTOCOL_VERSIONS.end()
            );
            assert!(what.contains(&range), "{what}");
        }
    }

    #[test]
    fn out_of_range_limits_are_refused_naming_the_field() {
        let base = LinkConfig::default();
        let cases = [
            (
                LinkConfig {
                    keep_alive_ms: base.idle_timeout_ms,
                    ..base.clone()
                },
                "keep_alive_ms",
            ),
            (
                LinkConfig {
                    frame_bytes_max: 63,
                    ..base.clone()
                },
                "frame_bytes_max",
            ),
            (
                LinkConfig {
                    streams_bidi_max: 0,
                    ..base.clone()
                },
                "streams_bidi_max",
            ),
            (
                LinkConfig {
                    stream_receive_window_bytes: 0,
                    ..base.clone()
                },
                "receive windows",
            ),
            (
                LinkConfig {
                    mtu_bytes_max: QUIC_MIN_DATAGRAM_BYTES - 1,
                    ..base.clone()
                },
                "mtu_bytes_max",
            ),
            (
                LinkConfig {
                    handshake_timeout_ms: 0,
                    ..base.clone()
                },
                "handshake_timeout_ms",
            ),
            (
                LinkConfig {
                    ack_delay_max_ms: 1 << 14,
                    ..base.clone()
                },
                "ack_delay_max_ms",
            ),
        ];
        for (config, field) in cases {
            let what = refusal(&config);
            assert!(what.starts_with(field), "{field}: {what}");
            assert!(config.quinn_transport().is_err(), "{field}");
        }
    }
}
