//! A distributed FIFO queue (ZooKeeper's queue recipe, Curator's
//! `DistributedQueue`): each item is a persistent-sequential node under the
//! queue's directory; a consumer takes the lowest by reading and then
//! deleting it, and the one whose delete succeeds has it.
//!
//! Delivery: a push is made exactly once (its name carries a token, so a
//! push cut by a connection loss finds its own item instead of pushing it
//! twice). A take is at least once: if the connection is lost during the
//! delete and the item is gone afterwards, this consumer cannot tell whether
//! its delete or another consumer's took it, and returns it rather than lose
//! it; consumers that must not see an item twice dedup by
//! [`Item::path`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use corral_core::tree::{Acl, CreateMode, CreateRequest, ErrorCode};

use super::directory::{
    LOSS_RETRIES_MAX, create_child, find_created, list_children, make_dir, retry_read,
};
use super::sequence::{by_sequence, check_dir, child_path};
use crate::client::Client;
use crate::error::Result;

/// Pushes made by this process, for unique tokens.
static PUSHES: AtomicU64 = AtomicU64::new(0);

/// Item names a consumer remembers from one listing, so a drain does not list
/// the directory once per item.
const KNOWN_ITEMS_MAX: usize = 1024;

/// A FIFO queue named by a directory path; any number of producers and
/// consumers may share it, each through its own `Queue` on the same path.
#[derive(Debug)]
pub struct Queue {
    client: Client,
    dir: String,
    /// Items seen in the last listing, lowest first, not yet tried.
    known: Mutex<VecDeque<String>>,
}

/// An item taken from a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The item's node (unique for the queue's life).
    pub path: String,
    /// Its data.
    pub data: Vec<u8>,
}

/// What trying to take one item did.
enum Take {
    Taken(Item),
    /// Another consumer had it first.
    Gone,
}

impl Queue {
    /// A queue kept under `dir` (created, with its ancestors, on first use).
    /// Fails with `BadArguments` for the root or an invalid path.
    pub fn new(client: &Client, dir: &str) -> Result<Queue> {
        check_dir(dir)?;
        Ok(Queue {
            client: client.clone(),
            dir: dir.to_owned(),
            known: Mutex::new(VecDeque::new()),
        })
    }

    /// Appends an item with `data`; returns its node's path.
    ///
    /// Cancel safety: not cancel-safe: a cancelled push may still be made.
    pub async fn push(&self, data: &[u8]) -> Result<String> {
        let token = format!(
            "q{:016x}{:06x}-",
            self.client.session_id(),
            PUSHES.fetch_add(1, Ordering::Relaxed) & 0xff_ffff
        );
        let create = CreateRequest {
            path: child_path(&self.dir, &token),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::PersistentSequential,
            ttl_ms: None,
        };
        let recover = || find_created(&self.client, &self.dir, &token);
        let (path, _) = create_child(&self.client, &self.dir, create, recover).await?;
        Ok(path)
    }

    /// Takes the oldest item, waiting for one if the queue is empty.
    ///
    /// Cancel safety: cancelling while it waits for an item loses nothing;
    /// cancelling while it takes one (its delete sent, the reply not yet in)
    /// may take the item with no consumer receiving it.
    pub async fn pop(&self) -> Result<Item> {
        loop {
            if let Some(item) = self.take_known().await? {
                return Ok(item);
            }
            // Nothing known: list with a watch, and wait only if still empty.
            match retry_read(|| self.client.get_children_watch(&self.dir)).await {
                Ok((children, _, changed)) => {
                    if !self.remember(children) {
                        changed.await?;
                    }
                }
                Err(e) if e.code() == Some(ErrorCode::NoNode) => {
                    make_dir(&self.client, &self.dir).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Takes the oldest item, or returns `None` at once if the queue is empty.
    ///
    /// Cancel safety: as [`Queue::pop`].
    pub async fn try_pop(&self) -> Result<Option<Item>> {
        if let Some(item) = self.take_known().await? {
            return Ok(Some(item));
        }
        self.remember(list_children(&self.client, &self.dir).await?);
        self.take_known().await
    }

    /// The number of items queued now.
    pub async fn len(&self) -> Result<usize> {
        match retry_read(|| self.client.exists(&self.dir)).await? {
            Some(stat) => Ok(usize::try_from(stat.num_children).unwrap_or(0)),
            None => Ok(0),
        }
    }

    /// Whether the queue is empty now.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// The directory the queue lives in.
    pub fn path(&self) -> &str {
        &self.dir
    }

    fn known(&self) -> std::sync::MutexGuard<'_, VecDeque<String>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the lowest items of a listing; whether there were any.
    fn remember(&self, children: Vec<String>) -> bool {
        let mut known = self.known();
        known.clear();
        known.extend(by_sequence(children).into_iter().take(KNOWN_ITEMS_MAX));
        !known.is_empty()
    }

    /// Takes the first item of the last listing that no other consumer has
    /// taken first; `None` once none is left.
    async fn take_known(&self) -> Result<Option<Item>> {
        loop {
            let next = self.known().pop_front();
            let Some(name) = next else {
                return Ok(None);
            };
            if let Take::Taken(item) = self.take(child_path(&self.dir, &name)).await? {
                return Ok(Some(item));
            }
        }
    }

    /// Reads the item at `path` and deletes it: taken if the delete was ours.
    async fn take(&self, path: String) -> Result<Take> {
        let (data, stat) = match retry_read(|| self.client.get_data(&path)).await {
            Ok(read) => read,
            Err(e) if e.code() == Some(ErrorCode::NoNode) => return Ok(Take::Gone),
            Err(e) => return Err(e),
        };
        let mut attempt = 0;
        loop {
            match self.client.delete(&path, Some(stat.version)).await {
                Ok(()) => return Ok(Take::Taken(Item { path, data })),
                Err(e) if e.code() == Some(ErrorCode::NoNode) && attempt == 0 => {
                    return Ok(Take::Gone);
                }
                // After a loss: gone now may be our delete (at least once).
                Err(e) if e.code() == Some(ErrorCode::NoNode) => {
                    return Ok(Take::Taken(Item { path, data }));
                }
                Err(e) if e.is_connection_loss() && attempt < LOSS_RETRIES_MAX => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
