//! A counting semaphore (Curator's `InterProcessSemaphoreV2`): at most N
//! leases held at once across every session that uses the same directory
//! with the same N.
//!
//! ```text
//!  /sems/db ─ lock/   c<session><n>-0000000012  ◄─ the next to take a lease:
//!           │         c<session><n>-0000000013     watches leases/ only
//!           └ leases/ c<session><n>-0000000009  ◄─ held leases (ephemeral)
//!                     c<session><n>-0000000010
//! ```
//!
//! Waiters queue on a [`Lock`](super::Lock) under `lock/`, in order of
//! arrival, each watching only the one before it. The head of that queue
//! counts the leases under `leases/`; with fewer than N it takes one (an
//! ephemeral-sequential node) and lets the next waiter in, otherwise it
//! watches `leases/` until one is returned. So only one client watches the
//! leases, and a returned lease wakes one waiter, never the herd; a lease
//! ends with its session, like a lock.

use super::contender::enter;
use super::directory::{list_children, make_dir, retry_read};
use super::held_node::HeldNode;
use super::lock::{Lock, LockGuard};
use crate::client::Client;
use crate::error::{Error, Result};
use corral_core::tree::{ErrorCode, ZkError};

/// A counting semaphore named by a directory path: at most `leases` held at
/// once. Every client of one directory must use the same count.
#[derive(Debug, Clone)]
pub struct Semaphore {
    client: Client,
    leases_dir: String,
    queue: Lock,
    max_leases: usize,
}

impl Semaphore {
    /// A semaphore of `max_leases` leases kept under `dir` (created, with its
    /// ancestors, on first use). Fails with `BadArguments` for the root, an
    /// invalid path or a count of 0.
    pub fn new(client: &Client, dir: &str, max_leases: usize) -> Result<Semaphore> {
        super::sequence::check_dir(dir)?;
        if max_leases == 0 {
            return Err(Error::Zk(ZkError::new(
                ErrorCode::BadArguments,
                format!("{dir}: a semaphore of 0 leases can never be taken"),
            )));
        }
        Ok(Semaphore {
            client: client.clone(),
            leases_dir: format!("{dir}/leases"),
            queue: Lock::new(client, &format!("{dir}/lock"))?,
            max_leases,
        })
    }

    /// Waits until this session holds a lease. Waiters are served in order
    /// of arrival.
    ///
    /// Fails if the session ends meanwhile.
    ///
    /// Cancel safety: cancel-safe; a cancelled call's queued node (or a lease
    /// it had just taken) is deleted in the background.
    pub async fn acquire(&self) -> Result<Lease> {
        let turn = self.queue.acquire().await?;
        let lease = self.take_when_free(&turn).await;
        turn.release().await?;
        lease
    }

    /// Takes a lease if one is free and nobody waits, without waiting.
    pub async fn try_acquire(&self) -> Result<Option<Lease>> {
        let Some(turn) = self.queue.try_acquire().await? else {
            return Ok(None);
        };
        let lease = if self.held().await? < self.max_leases {
            Some(self.take().await?)
        } else {
            None
        };
        turn.release().await?;
        Ok(lease)
    }

    /// How many leases are held now.
    pub async fn held(&self) -> Result<usize> {
        let leases = list_children(&self.client, &self.leases_dir).await?;
        Ok(leases.len())
    }

    /// At the head of the queue: waits for fewer than N leases, takes one.
    async fn take_when_free(&self, turn: &LockGuard) -> Result<Lease> {
        loop {
            let listed = retry_read(|| self.client.get_children_watch(&self.leases_dir)).await;
            let (held, _, returned) = match listed {
                Err(e) if e.code() == Some(ErrorCode::NoNode) => {
                    make_dir(&self.client, &self.leases_dir).await?;
                    continue;
                }
                listed => listed?,
            };
            if held.len() < self.max_leases {
                return self.take().await;
            }
            tokio::select! {
                fired = returned => { fired?; }
                why = turn.lost() => return Err(why),
            }
        }
    }

    async fn take(&self) -> Result<Lease> {
        Ok(Lease {
            held: enter(&self.client, &self.leases_dir, b"").await?,
        })
    }
}

/// A lease of a [`Semaphore`]: [`Lease::release`] it when done. Dropped
/// without a release, it is returned from a background task; it also ends
/// when the session expires.
#[derive(Debug)]
#[must_use = "dropping the lease returns it"]
pub struct Lease {
    held: HeldNode,
}

impl Lease {
    /// The lease's node.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// Resolves when the lease is lost while held (the session expired or
    /// was closed, or someone deleted its node). Returns why.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn lost(&self) -> Error {
        self.held.lost().await
    }

    /// Returns the lease (deletes its node); the next waiter may take it.
    pub async fn release(self) -> Result<()> {
        self.held.delete().await
    }
}
