//! corral-client: the async Rust client of corral.
//!
//! A [`Client`] is one session with the cluster. It dials a node over
//! mutual-TLS QUIC (the `corral-client/1` ALPN), presenting a client
//! certificate from the cluster CA (its name is the session's x509
//! identity), runs the session handshake, and then pipelines every request on
//! the session's one long-lived stream:
//!
//! ```text
//!  Client (Clone) ─ call ─► xid, in-flight permit ─► one QUIC stream ═► node
//!        ▲                                                             │
//!        ├──────────── Reply{xid, zxid} in request order ◄═════════════┤
//!        └─ watch registry ─► OneShotWatch / PersistentWatch ◄═ Event ═┘
//! ```
//!
//! - Every ZooKeeper operation is an async method: [`Client::create`],
//!   [`Client::create_ttl`], [`Client::create_with`], [`Client::delete`],
//!   [`Client::exists`], [`Client::get_data`], [`Client::set_data`],
//!   [`Client::get_children`], [`Client::get_children2`],
//!   [`Client::get_all_children_number`], [`Client::get_ephemerals`],
//!   [`Client::get_acl`], [`Client::set_acl`], [`Client::multi`],
//!   [`Client::multi_read`], [`Client::sync`], [`Client::add_watch`],
//!   [`Client::remove_watches`], [`Client::add_auth`], [`Client::close`];
//!   [`Client::request`] sends any [`Request`]. Linearizable reads:
//!   [`Client::get_data_linearizable`], [`Client::exists_linearizable`],
//!   [`Client::get_children_linearizable`], [`Client::request_linearizable`].
//! - Errors are typed ([`Error`]): ZooKeeper's codes with the path for what the
//!   server refused, [`Error::ConnectionLoss`] when the outcome is unknown,
//!   [`Error::SessionExpired`] once the session is gone.
//! - In-flight requests are bounded ([`ClientConfig::requests_inflight_max`]):
//!   past the bound, callers wait.
//!
//! # Sessions and failover
//!
//! The client pings at a third of the session timeout and declares the
//! connection lost after two thirds of it without a word from the server (or
//! when the link or stream closes). It then resumes the session on the next
//! endpoint, round robin with pauses growing from 50 ms up to
//! [`ClientConfig::reconnect_backoff_max`] between rounds, presenting the
//! session id, its secret and the highest zxid it has seen (so no node behind
//! it serves it: such a node refuses, and the client moves on). Requests in
//! flight at the loss fail with [`Error::ConnectionLoss`] (the caller decides
//! whether to retry: the request may have been applied); requests made while
//! disconnected wait for the resume. When the cluster says the session
//! expired, or the session timeout passes since the client last heard from
//! any node, the state becomes [`SessionState::Expired`]: every call fails
//! with [`Error::SessionExpired`] and every watcher ends with it.
//! [`Client::state_changes`] streams the states.
//!
//! # Many sessions in one process
//!
//! Sessions of one process (and async runtime) with the same certificate
//! dial from one UDP socket with one TLS session cache: after the first
//! handshake with a node, new links to it resume TLS. Sessions opened with
//! [`Client::connect_with`] through one [`Connector`] also share links, up
//! to 128 sessions on one QUIC link, each on its own stream: a new session
//! then costs no handshake, and events for many sessions share datagrams.
//!
//! # Watches
//!
//! - One-shot: [`Client::get_data_watch`], [`Client::exists_watch`] and
//!   [`Client::get_children_watch`] return the read's result and an
//!   [`OneShotWatch`], a future resolving to the [`WatchedEvent`].
//! - Persistent: [`Client::watch`] (or [`Client::add_watch`]) returns a
//!   [`PersistentWatch`], a [`Stream`] of [`WatchItem`]s: events, and
//!   [`WatchItem::ResyncNeeded`] when events were missed during a
//!   disconnection and the node no longer has them.
//!
//! The server sends each change once per session; the client hands it to
//! every local watcher it concerns, with ZooKeeper's rules (one-shot watchers
//! are removed when they fire; a recursive watch gets data events of its whole
//! subtree, never NodeChildrenChanged). After a reconnect the client sends
//! `SetWatches` with every watch it still holds (watchers the application
//! dropped are left out), relative to the highest zxid of the replies and
//! events it has received (a node's applied zxid in Connected or Pong may run
//! ahead of events still on their way, so it is not used): one-shot watches whose znode changed meanwhile fire at once, and
//! persistent ones get the missed events in order.
//!
//! Memory stays bounded: a persistent stream buffers at most
//! [`ClientConfig::watch_buffer_max`] items; a consumer that falls further
//! behind gets [`Error::WatchOverflow`] as the stream's last item (see
//! [`PersistentWatch`]).
//!
//! # Example
//!
//! With a cluster from `corral dev` and its `export CORRAL_...` lines:
//!
//! ```no_run
//! use corral_client::{Client, ClientConfig, CreateMode, WatchItem};
//!
//! # async fn run() -> Result<(), corral_client::Error> {
//! let client = Client::connect(ClientConfig::from_env()?).await?;
//! client.create("/app", b"v1", CreateMode::Persistent).await?;
//!
//! // A one-shot watch: the read's result now, the change later.
//! let (data, stat, changed) = client.get_data_watch("/app").await?;
//! assert_eq!((data.as_slice(), stat.version), (&b"v1"[..], 0));
//! client.set_data("/app", b"v2", Some(0)).await?;
//! let event = changed.await?;
//! println!("{:?} at {}", event.event_type, event.path);
//!
//! // A persistent recursive watch: every data change under /app.
//! let mut changes = client.watch("/app", true).await?;
//! client.create("/app/child", b"", CreateMode::Ephemeral).await?;
//! match changes.next().await {
//!     Some(Ok(WatchItem::Event(event))) => println!("{event:?}"),
//!     Some(Ok(WatchItem::ResyncNeeded { path, .. })) => println!("re-read {path}"),
//!     Some(Err(e)) => println!("watch ended: {e}"),
//!     None => {}
//! }
//! client.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Following the session's state:
//!
//! ```no_run
//! use corral_client::{Client, SessionState};
//!
//! # async fn run(client: Client) {
//! let mut states = client.state_changes();
//! while let Some(state) = states.next().await {
//!     match state {
//!         SessionState::Disconnected => eprintln!("resuming the session elsewhere"),
//!         SessionState::Expired => eprintln!("session expired: start over"),
//!         other => eprintln!("{other:?}"),
//!     }
//! }
//! # }
//! ```
//!
//! Locks, leader election, group membership and queues: see [`recipes`].
//!
//! Asking a node about itself, without a session (as `corral status` does):
//!
//! ```no_run
//! # async fn run() -> Result<(), corral_client::Error> {
//! let config = corral_client::ClientConfig::from_env()?;
//! for endpoint in &config.endpoints {
//!     let status = corral_client::node_status(&config, endpoint).await?;
//!     println!("{endpoint}: node {} is {} at term {}", status.id, status.role, status.term);
//! }
//! # Ok(())
//! # }
//! ```
mod client;
mod config;
mod connection;
mod connector;
mod dialer;
mod error;
mod operations;
pub mod recipes;
mod session;
mod state;
mod status;
mod watch;
mod watch_registry;

pub use client::Client;
pub use config::{ClientConfig, ENV_CA, ENV_CERT, ENV_ENDPOINTS, ENV_KEY, parse_endpoints};
pub use connector::Connector;
pub use error::{Error, Result};
pub use state::{STATE_CHANGES_BUFFER, SessionState, StateChanges};
pub use status::node_status;
pub use watch::{OneShotWatch, PersistentWatch, WatchItem};

pub use corral_core::tree::{
    Acl, AddWatchMode, CreateMode, CreateRequest, ErrorCode, EventType, Id, MultiOp, MultiOpResult,
    Perms, ReadOp, ReadOpResult, Request, Response, SessionId, Stat, WatchedEvent, WatcherType,
    ZkError,
};
pub use corral_transport::wire::NodeStatus;
/// The `Stream` trait the watch and state streams implement (from `futures-core`).
pub use futures_core::Stream;
