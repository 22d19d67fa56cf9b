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
//!        └──────────── Reply{xid, zxid} in request order ◄═════════════┘
//! ```
//!
//! - Every ZooKeeper operation is an async method ([`Client::create`],
//!   [`Client::get_data`], [`Client::set_data`], [`Client::delete`],
//!   [`Client::exists`], [`Client::get_children`], [`Client::multi`], ...),
//!   and [`Client::request`] sends any [`corral_core::tree::Request`].
//! - Errors are typed ([`Error`]): ZooKeeper's codes with the path for what the
//!   server refused, [`Error::ConnectionLoss`] when the outcome is unknown.
//! - In-flight requests are bounded ([`ClientConfig::requests_inflight_max`]):
//!   past the bound, callers wait. The client pings at a third of the session
//!   timeout and tracks the highest zxid seen, which a resumed session will
//!   present so it never reads older data.
//!
//! Not yet here (the sessions issue): failing over to another node and
//! resuming the session there, and watches (one-shot as futures, persistent
//! as streams). A lost connection today moves the session to
//! [`SessionState::Disconnected`] and every call fails with connection loss.
//!
//! # Example
//!
//! With a cluster from `corral dev` and its `export CORRAL_...` lines:
//!
//! ```no_run
//! use corral_client::{Client, ClientConfig, CreateMode};
//!
//! # async fn run() -> Result<(), corral_client::Error> {
//! let client = Client::connect(ClientConfig::from_env()?).await?;
//! client.create("/app", b"v1", CreateMode::Persistent).await?;
//! let stat = client.set_data("/app", b"v2", Some(0)).await?;
//! let (data, _) = client.get_data("/app").await?;
//! assert_eq!((data.as_slice(), stat.version), (&b"v2"[..], 1));
//! client.close().await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod connection;
mod error;
mod state;

pub use client::Client;
pub use config::{ClientConfig, ENV_CA, ENV_CERT, ENV_ENDPOINTS, ENV_KEY, parse_endpoints};
pub use error::{Error, Result};
pub use state::SessionState;

pub use corral_core::tree::{
    Acl, CreateMode, CreateRequest, ErrorCode, Id, MultiOp, MultiOpResult, Perms, Request,
    Response, Stat, ZkError,
};
