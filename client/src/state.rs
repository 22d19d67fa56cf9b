//! The session's state as the application sees it.

/// Where a client's session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Not connected yet.
    Connecting,
    /// Connected to a server; calls are served.
    Connected,
    /// The connection was lost; calls fail with connection loss. (Failing
    /// over to another node and resuming the session arrive with the sessions
    /// issue.)
    Disconnected,
    /// The cluster expired the session: its ephemerals are gone.
    Expired,
    /// The client closed the session.
    Closed,
}
