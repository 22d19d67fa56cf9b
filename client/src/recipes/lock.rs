//! A distributed mutex (ZooKeeper's lock recipe, Curator's
//! `InterProcessMutex`, etcd's `concurrency.Mutex`): the contender with the
//! lowest sequence number under the lock's directory holds it.

use corral_core::tree::{MultiOp, MultiOpResult};

use super::contender::{Blocker, EXCLUSIVE, enter_as, exclusive, holds, wait_unblocked};
use super::held_node::HeldNode;
use crate::client::Client;
use crate::error::{Error, Result};

/// A distributed mutex named by a directory path; any number of clients may
/// contend for it, each through its own `Lock` on the same path.
///
/// Not reentrant: a session that acquires twice waits for itself.
#[derive(Debug, Clone)]
pub struct Lock {
    client: Client,
    dir: String,
}

impl Lock {
    /// A lock kept under `dir` (created, with its ancestors, on first use).
    /// Fails with `BadArguments` for the root or an invalid path.
    pub fn new(client: &Client, dir: &str) -> Result<Lock> {
        super::sequence::check_dir(dir)?;
        Ok(Lock {
            client: client.clone(),
            dir: dir.to_owned(),
        })
    }

    /// Waits until this session holds the lock. Waiters queue in order of
    /// arrival, and each watches only the one before it.
    ///
    /// Fails if the session ends meanwhile, or if its queued node is deleted
    /// by someone else ([`Error::NodeLost`]).
    ///
    /// Cancel safety: cancel-safe; a cancelled call's node is deleted in the
    /// background, so it never holds the lock for nobody (bound the wait with
    /// `tokio::time::timeout`).
    pub async fn acquire(&self) -> Result<LockGuard> {
        take(&self.client, &self.dir, EXCLUSIVE, exclusive).await
    }

    /// Takes the lock if nobody holds it or waits for it, without waiting.
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>> {
        try_take(&self.client, &self.dir, EXCLUSIVE, exclusive).await
    }

    /// The directory the lock lives in.
    pub fn path(&self) -> &str {
        &self.dir
    }
}

/// Queues a contender of `kind` in `dir` and waits until `blocker` lets it
/// hold (a lock's, or a read or write lock's).
///
/// Cancel safety: cancel-safe; a cancelled call's node is deleted in the
/// background.
pub(super) async fn take(
    client: &Client,
    dir: &str,
    kind: char,
    blocker: Blocker,
) -> Result<LockGuard> {
    let held = enter_as(client, dir, b"", kind).await?;
    wait_unblocked(&held, blocker).await?;
    Ok(LockGuard { held })
}

/// Queues a contender of `kind` in `dir` and keeps it if nothing blocks it
/// now; otherwise takes it out again.
pub(super) async fn try_take(
    client: &Client,
    dir: &str,
    kind: char,
    blocker: Blocker,
) -> Result<Option<LockGuard>> {
    let held = enter_as(client, dir, b"", kind).await?;
    if holds(&held, blocker).await? {
        Ok(Some(LockGuard { held }))
    } else {
        held.delete().await?;
        Ok(None)
    }
}

/// The lock, held: [`LockGuard::release`] it when done. Dropped without a
/// release, it releases from a background task.
///
/// The lock is also lost when the session expires (its node is ephemeral):
/// [`LockGuard::lost`] resolves then, and [`LockGuard::fencing_token`] lets
/// the resource it guards refuse a holder that no longer holds it.
#[derive(Debug)]
#[must_use = "dropping the guard releases the lock"]
pub struct LockGuard {
    held: HeldNode,
}

impl LockGuard {
    /// The holder's node.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// A number that grows with every holder of this lock (the zxid that
    /// created the holder's node): pass it to the guarded resource, which
    /// refuses any token lower than the highest it has seen.
    pub fn fencing_token(&self) -> i64 {
        self.held.czxid
    }

    /// Resolves when the lock is lost while held: the session expired or was
    /// closed, or someone deleted the holder's node. Returns why.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn lost(&self) -> Error {
        self.held.lost().await
    }

    /// Applies `ops` atomically only while the lock is held (ZooKeeper's
    /// multi, with a check of the holder's node first): if the lock was lost,
    /// nothing is applied and the call fails with [`Error::NodeLost`] (or the
    /// session's end). Otherwise the results of `ops`, as
    /// [`Client::multi`] gives them (a failed op fails them all).
    ///
    /// Writes to corral itself need no fencing token this way: a holder that
    /// paused past its session's expiry cannot overwrite its successor.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiOpResult>> {
        self.held.guarded_multi(ops).await
    }

    /// Releases the lock (deletes the holder's node); the next waiter takes it.
    pub async fn release(self) -> Result<()> {
        self.held.delete().await
    }
}
