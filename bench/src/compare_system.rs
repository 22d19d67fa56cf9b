//! The two systems `compare` drives, behind one small interface: a session
//! that can create, write and read a znode. Both clients send a request when
//! the call is made and pipeline concurrent calls from clones of one session
//! on that session's one connection (a QUIC stream for corral, a TCP socket
//! for ZooKeeper).
//!
//! The ZooKeeper side needs the `zookeeper` feature (it brings in the
//! `zookeeper-client` crate); without it, connecting to ZooKeeper fails with
//! a message that says so.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use corral_client::{ClientConfig, CreateMode, ErrorCode};
#[cfg(feature = "zookeeper")]
use zookeeper_client as zk;

/// Session timeout asked for on both systems.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit on opening one session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which system a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SystemKind {
    /// Apache ZooKeeper, through the `zookeeper-client` crate.
    ZooKeeper,
    /// corral, through corral-client.
    Corral,
}

impl SystemKind {
    /// The name printed in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SystemKind::ZooKeeper => "zookeeper",
            SystemKind::Corral => "corral",
        }
    }
}

/// Where a system's nodes are and how to reach them.
#[derive(Debug, Clone)]
pub(crate) struct SystemAddress {
    /// Which system.
    pub(crate) kind: SystemKind,
    /// One `host:port` per node.
    pub(crate) endpoints: Vec<String>,
    /// corral's CA, client certificate and key (unused for ZooKeeper).
    pub(crate) tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// corral: the endpoint and TLS session cache the sessions share; `None`
    /// gives each session its own (a full mutual-TLS handshake each).
    pub(crate) shared: Option<corral_client::Connector>,
}

impl SystemAddress {
    /// This address with one corral [`Connector`](corral_client::Connector)
    /// for all its sessions (ZooKeeper's is unchanged).
    pub(crate) fn sharing(&self) -> anyhow::Result<SystemAddress> {
        let mut shared = self.clone();
        if self.kind == SystemKind::Corral {
            let config = self.corral_config(self.endpoints.clone())?;
            shared.shared = Some(corral_client::Connector::new(&config)?);
        }
        Ok(shared)
    }

    /// This address sharing one connector when `share` is set, else as is.
    pub(crate) fn sharing_if(&self, share: bool) -> anyhow::Result<SystemAddress> {
        if share {
            self.sharing()
        } else {
            Ok(self.clone())
        }
    }

    fn corral_config(&self, endpoints: Vec<String>) -> anyhow::Result<ClientConfig> {
        let (ca, cert, key) = self
            .tls
            .clone()
            .context("corral needs a CA, a certificate and a key")?;
        let mut config =
            ClientConfig::new(endpoints, ca, cert, key).with_session_timeout(SESSION_TIMEOUT);
        config.connect_timeout = CONNECT_TIMEOUT;
        Ok(config)
    }
}

/// One session with either system; clones share the session.
#[derive(Clone)]
pub(crate) enum Session {
    /// A ZooKeeper session.
    #[cfg(feature = "zookeeper")]
    ZooKeeper(zk::Client),
    /// A corral session.
    Corral(corral_client::Client),
}

impl Session {
    /// Opens a session on node `node` (an index into the endpoints, wrapped).
    pub(crate) async fn connect(address: &SystemAddress, node: usize) -> anyhow::Result<Session> {
        let endpoint = address
            .endpoints
            .get(node % address.endpoints.len().max(1))
            .context("no endpoint given")?
            .clone();
        match address.kind {
            SystemKind::ZooKeeper => connect_zookeeper(&endpoint).await,
            SystemKind::Corral => {
                let config = address.corral_config(vec![endpoint.clone()])?;
                let client = match &address.shared {
                    Some(connector) => corral_client::Client::connect_with(config, connector).await,
                    None => corral_client::Client::connect(config).await,
                }
                .with_context(|| format!("cannot open a corral session on {endpoint}"))?;
                Ok(Session::Corral(client))
            }
        }
    }

    /// Creates a persistent znode with open ACL; an existing one is fine.
    pub(crate) async fn ensure(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "zookeeper")]
            Session::ZooKeeper(client) => {
                let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                match client.create(path, data, &options).await {
                    Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
                    Err(e) => Err(e).with_context(|| format!("zookeeper: cannot create {path}")),
                }
            }
            Session::Corral(client) => {
                match client.create(path, data, CreateMode::Persistent).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.code() == Some(ErrorCode::NodeExists) => Ok(()),
                    Err(e) => Err(e).with_context(|| format!("corral: cannot create {path}")),
                }
            }
        }
    }

    /// setData of `data` on `path`, any version.
    ///
    /// The request is sent before this returns its future (both clients queue
    /// at call time), so several calls in flight are pipelined.
    pub(crate) async fn write(&self, path: &str, data: &[u8]) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "zookeeper")]
            Session::ZooKeeper(client) => {
                client.set_data(path, data, None).await?;
            }
            Session::Corral(client) => {
                client.set_data(path, data, None).await?;
            }
        }
        Ok(())
    }

    /// Ends the session. corral's close is committed before this returns;
    /// ZooKeeper's client sends its close once the last clone is dropped.
    pub(crate) async fn close(self) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "zookeeper")]
            Session::ZooKeeper(client) => drop(client),
            Session::Corral(client) => client.close().await?,
        }
        Ok(())
    }

    /// A persistent watch on `path` (ZooKeeper 3.6's addWatch; corral's
    /// watch, not recursive).
    pub(crate) async fn watch(&self, path: &str) -> anyhow::Result<Watcher> {
        Ok(match self {
            #[cfg(feature = "zookeeper")]
            Session::ZooKeeper(client) => {
                Watcher::ZooKeeper(client.watch(path, zk::AddWatchMode::Persistent).await?)
            }
            Session::Corral(client) => Watcher::Corral(client.watch(path, false).await?),
        })
    }

    /// Takes the lock kept under `dir` (which exists) and lets it go.
    ///
    /// Both let go the way zookeeper-client's lock offers (it has no
    /// release): by dropping it, which deletes the node in the background.
    /// Deleting it first and then dropping it would send ZooKeeper a second
    /// delete per lock, a failed write it logs.
    pub(crate) async fn lock_and_release(&self, dir: &str) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "zookeeper")]
            Session::ZooKeeper(client) => {
                let prefix = zk::LockPrefix::new_curator(dir, "lock-")?;
                let lock = client
                    .lock(prefix, b"", zk::LockOptions::new(zk::Acls::anyone_all()))
                    .await?;
                drop(lock);
            }
            Session::Corral(client) => {
                let guard = corral_client::recipes::Lock::new(client, dir)?
                    .acquire()
                    .await?;
                drop(guard);
            }
        }
        Ok(())
    }

    /// getData of `path`; returns the length of the data read.
    pub(crate) async fn read(&self, path: &str) -> anyhow::Result<usize> {
        let data = match self {
            #[cfg(feature = "zookeeper")]
            Session::ZooKeeper(client) => client.get_data(path).await?.0,
            Session::Corral(client) => client.get_data(path).await?.0,
        };
        Ok(data.len())
    }
}

/// A persistent watch of either system.
pub(crate) enum Watcher {
    /// ZooKeeper's.
    #[cfg(feature = "zookeeper")]
    ZooKeeper(zk::PersistentWatcher),
    /// corral's.
    Corral(corral_client::PersistentWatch),
}

impl Watcher {
    /// Waits for the next change of the watched znode.
    pub(crate) async fn next_change(&mut self) -> anyhow::Result<()> {
        match self {
            #[cfg(feature = "zookeeper")]
            Watcher::ZooKeeper(watcher) => {
                let event = watcher.changed().await;
                if event.event_type == zk::EventType::Session {
                    anyhow::bail!("zookeeper: the watch's session changed state: {event:?}");
                }
                Ok(())
            }
            Watcher::Corral(watch) => match watch.next().await {
                Some(Ok(corral_client::WatchItem::Event(_))) => Ok(()),
                Some(Ok(other)) => anyhow::bail!("corral: not a change: {other:?}"),
                Some(Err(e)) => Err(e.into()),
                None => anyhow::bail!("corral: the watch ended"),
            },
        }
    }
}

/// Opens a ZooKeeper session on `endpoint`.
#[cfg(feature = "zookeeper")]
async fn connect_zookeeper(endpoint: &str) -> anyhow::Result<Session> {
    let client = zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .with_connection_timeout(CONNECT_TIMEOUT)
        .connect(endpoint)
        .await
        .with_context(|| format!("cannot open a ZooKeeper session on {endpoint}"))?;
    Ok(Session::ZooKeeper(client))
}

/// Without the `zookeeper` feature there is no ZooKeeper client to connect.
#[cfg(not(feature = "zookeeper"))]
async fn connect_zookeeper(endpoint: &str) -> anyhow::Result<Session> {
    anyhow::bail!(
        "cannot reach ZooKeeper on {endpoint}: corral-bench was built without its `zookeeper` \
         feature (cargo build --release -p corral-bench --features zookeeper)"
    )
}
