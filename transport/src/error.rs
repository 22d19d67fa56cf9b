//! The one error type of corral-transport.

use std::net::SocketAddr;

/// Everything that can go wrong binding, dialling, accepting or framing.
///
/// Variants a remote party can cause carry its address. Binding and
/// configuration errors are local and fatal to the endpoint; the rest end one
/// connection or one stream and leave the endpoint serving others.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The UDP socket could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The configuration is inconsistent or TLS could not be set up with it.
    #[error("transport configuration: {what}")]
    Config {
        /// What is wrong.
        what: String,
    },
    /// quinn refused to start a connection (bad address or server name).
    #[error("dialling {peer}: {source}")]
    Connect {
        /// The address dialled.
        peer: SocketAddr,
        /// quinn's error.
        source: quinn::ConnectError,
    },
    /// The QUIC/TLS handshake failed (our verifier's or the remote's reason inside).
    #[error("handshake with {peer} failed: {source}")]
    Handshake {
        /// The remote address.
        peer: SocketAddr,
        /// quinn's error, with the TLS alert and reason.
        source: quinn::ConnectionError,
    },
    /// A step did not finish in time.
    #[error("{stage} with {peer} timed out after {timeout_ms} ms")]
    Timeout {
        /// The remote address.
        peer: SocketAddr,
        /// What was being waited for.
        stage: &'static str,
        /// The limit that passed.
        timeout_ms: u64,
    },
    /// Nothing listens at the remote's address: its host answered ICMP port
    /// unreachable (the process is gone or not started).
    #[error("nothing listens at {peer} (ICMP port unreachable)")]
    Unreachable {
        /// The remote address.
        peer: SocketAddr,
    },
    /// The remote refused this link after the TLS handshake, and said why.
    #[error("{peer} refused the link: {reason}")]
    Refused {
        /// The remote address.
        peer: SocketAddr,
        /// The remote's reason.
        reason: String,
    },
    /// We refused the remote's link after the TLS handshake (wrong certificate
    /// kind for the ALPN, unknown ALPN, version or cluster mismatch, ...).
    #[error("refused link from {peer}: {reason}")]
    Rejected {
        /// The remote address.
        peer: SocketAddr,
        /// Why; also sent to the remote as the close reason.
        reason: String,
    },
    /// An established connection was lost or closed.
    #[error("connection with {peer} lost: {source}")]
    Connection {
        /// The remote address.
        peer: SocketAddr,
        /// quinn's error.
        source: quinn::ConnectionError,
    },
    /// A frame declared more bytes than allowed; nothing was allocated for it.
    #[error(
        "frame from {peer} declares {declared_bytes} bytes, more than frame_bytes_max {frame_bytes_max}"
    )]
    FrameTooLarge {
        /// The remote address.
        peer: SocketAddr,
        /// The length in the frame header.
        declared_bytes: u64,
        /// The configured maximum.
        frame_bytes_max: u32,
    },
    /// The stream ended inside a frame.
    #[error("stream from {peer} ended inside a frame ({buffered_bytes} bytes of it received)")]
    Truncated {
        /// The remote address.
        peer: SocketAddr,
        /// Bytes of the unfinished frame that had arrived.
        buffered_bytes: usize,
    },
    /// A frame's body is not a valid message.
    #[error("undecodable frame from {peer}: {source}")]
    Decode {
        /// The remote address.
        peer: SocketAddr,
        /// postcard's error.
        source: postcard::Error,
    },
    /// A frame meant for many streams could not be encoded.
    #[error("encoding a shared frame: {what}")]
    EncodeShared {
        /// What went wrong.
        what: String,
    },
    /// A message could not be encoded, or encodes larger than allowed.
    #[error("encoding a frame for {peer}: {what}")]
    Encode {
        /// The remote address.
        peer: SocketAddr,
        /// What went wrong.
        what: String,
    },
    /// Reading a stream failed (reset by the remote, connection lost, ...).
    #[error("reading from {peer}: {source}")]
    Read {
        /// The remote address.
        peer: SocketAddr,
        /// quinn's error.
        source: quinn::ReadError,
    },
    /// Writing a stream failed (stopped by the remote, connection lost, ...).
    #[error("writing to {peer}: {source}")]
    Write {
        /// The remote address.
        peer: SocketAddr,
        /// quinn's error.
        source: quinn::WriteError,
    },
    /// The remote speaks another version of a protocol.
    #[error(
        "{protocol} protocol version mismatch: the remote speaks {theirs}, this build speaks {ours}"
    )]
    VersionMismatch {
        /// Which protocol ("link", "client", "peer").
        protocol: &'static str,
        /// The remote's version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// The sending task of a [`crate::FrameSender`] is gone.
    #[error("frame sender to {peer} is closed")]
    SenderClosed {
        /// The remote address.
        peer: SocketAddr,
    },
    /// The certificates could not be loaded or reloaded.
    #[error(transparent)]
    Certs(#[from] corral_certs::CertError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
