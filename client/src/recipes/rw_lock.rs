//! A distributed read-write lock (ZooKeeper's shared-lock recipe, Curator's
//! `InterProcessReadWriteLock`): readers hold together, a writer alone.
//!
//! ```text
//!  /locks/cfg ─ r<session><n>-0000000007  ◄─ reads
//!             ├ r<session><n>-0000000008  ◄─ reads too
//!             ├ c<session><n>-0000000009  ◄─ writer: watches ...08 only
//!             └ r<session><n>-0000000010  ◄─ reader: watches ...09 only
//! ```
//!
//! Contenders queue in order of arrival. A reader holds once no writer is
//! ahead of it and watches only the last writer before it; a writer holds
//! once it is first and watches only the contender just before it. So a
//! reader that arrives after a waiting writer waits for it (writers are not
//! starved), and no release wakes more than the contenders it unblocks. A
//! plain [`Lock`](super::Lock) on the same directory counts as a writer.

use super::contender::{EXCLUSIVE, SHARED, exclusive, shared};
use super::lock::{LockGuard, take, try_take};
use crate::client::Client;
use crate::error::Result;

/// A distributed read-write lock named by a directory path; any number of
/// clients may contend for it, each through its own `RwLock` on the path.
///
/// Not reentrant: a session that holds a read lock and asks for the write
/// lock waits for itself.
#[derive(Debug, Clone)]
pub struct RwLock {
    client: Client,
    dir: String,
}

impl RwLock {
    /// A read-write lock kept under `dir` (created, with its ancestors, on
    /// first use). Fails with `BadArguments` for the root or an invalid path.
    pub fn new(client: &Client, dir: &str) -> Result<RwLock> {
        super::sequence::check_dir(dir)?;
        Ok(RwLock {
            client: client.clone(),
            dir: dir.to_owned(),
        })
    }

    /// Waits until this session holds a read lock: once no writer is ahead
    /// of it. Other readers may hold at the same time.
    ///
    /// Fails if the session ends meanwhile, or if its queued node is deleted
    /// by someone else ([`crate::Error::NodeLost`]).
    ///
    /// Cancel safety: cancel-safe; a cancelled call's node is deleted in the
    /// background.
    pub async fn read(&self) -> Result<LockGuard> {
        take(&self.client, &self.dir, SHARED, shared).await
    }

    /// Waits until this session holds the write lock: once every contender
    /// ahead of it, reader or writer, has gone.
    ///
    /// Fails and cancels as [`RwLock::read`] does.
    pub async fn write(&self) -> Result<LockGuard> {
        take(&self.client, &self.dir, EXCLUSIVE, exclusive).await
    }

    /// Takes a read lock if no writer holds or waits, without waiting.
    pub async fn try_read(&self) -> Result<Option<LockGuard>> {
        try_take(&self.client, &self.dir, SHARED, shared).await
    }

    /// Takes the write lock if nobody holds or waits for the lock, without
    /// waiting.
    pub async fn try_write(&self) -> Result<Option<LockGuard>> {
        try_take(&self.client, &self.dir, EXCLUSIVE, exclusive).await
    }

    /// The directory the lock lives in.
    pub fn path(&self) -> &str {
        &self.dir
    }
}
