//! Leader election (ZooKeeper's recipe, Curator's `LeaderLatch`, etcd's
//! `concurrency.Election`): candidates queue as ephemeral-sequential nodes
//! carrying a value; the lowest is the leader, and anyone may read or follow
//! who leads.

use corral_core::tree::{ErrorCode, MultiOp, MultiOpResult};

use super::contender::{enter, first_in, wait_first};
use super::directory::retry_read;
use super::follow::Follow;
use super::held_node::HeldNode;
use super::sequence::{check_dir, child_path};
use crate::client::Client;
use crate::error::{Error, Result};

/// An election named by a directory path.
#[derive(Debug, Clone)]
pub struct Election {
    client: Client,
    dir: String,
}

/// Who leads an election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// The leader's candidate node.
    pub path: String,
    /// The value it campaigned with (or proclaimed since).
    pub value: Vec<u8>,
    /// A number that grows with every new leader (the zxid that created the
    /// leader's node): a fencing token for what the leader writes.
    pub term: i64,
}

impl Election {
    /// An election kept under `dir` (created, with its ancestors, on first
    /// campaign). Fails with `BadArguments` for the root or an invalid path.
    pub fn new(client: &Client, dir: &str) -> Result<Election> {
        check_dir(dir)?;
        Ok(Election {
            client: client.clone(),
            dir: dir.to_owned(),
        })
    }

    /// Stands as a candidate with `value` and waits until elected.
    ///
    /// Fails if the session ends meanwhile, or if the candidate's node is
    /// deleted by someone else ([`Error::NodeLost`]).
    ///
    /// Cancel safety: cancel-safe; a cancelled candidacy is withdrawn in the
    /// background.
    pub async fn campaign(&self, value: &[u8]) -> Result<Leadership> {
        let held = enter(&self.client, &self.dir, value).await?;
        wait_first(&held).await?;
        Ok(Leadership { held })
    }

    /// The current leader, if any candidate stands.
    pub async fn leader(&self) -> Result<Option<Leader>> {
        loop {
            let Some(first) = first_in(&self.client, &self.dir).await? else {
                return Ok(None);
            };
            let path = child_path(&self.dir, &first);
            match retry_read(|| self.client.get_data(&path)).await {
                Ok((value, stat)) => {
                    return Ok(Some(Leader {
                        path,
                        value,
                        term: stat.czxid,
                    }));
                }
                // It stepped down between the two reads: ask again.
                Err(e) if e.code() == Some(ErrorCode::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Follows the leadership: the observer's [`LeaderObserver::next`] gives
    /// the current leader first, then each change (a new leader, none, or a
    /// new value proclaimed).
    pub async fn observe(&self) -> Result<LeaderObserver> {
        Ok(LeaderObserver {
            election: self.clone(),
            follow: Follow::new(&self.client, &self.dir).await?,
        })
    }

    /// The directory the election lives in.
    pub fn path(&self) -> &str {
        &self.dir
    }
}

/// Leadership won by [`Election::campaign`]: [`Leadership::resign`] it when
/// done. Dropped without a resignation, it resigns from a background task.
///
/// Leadership also ends when the session expires (the node is ephemeral):
/// [`Leadership::lost`] resolves then.
#[derive(Debug)]
#[must_use = "dropping the leadership resigns it"]
pub struct Leadership {
    held: HeldNode,
}

impl Leadership {
    /// The leader's candidate node.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// This leadership's term: see [`Leader::term`].
    pub fn term(&self) -> i64 {
        self.held.czxid
    }

    /// Replaces the value observers see, without an election.
    pub async fn proclaim(&self, value: &[u8]) -> Result<()> {
        self.held.set_data(value).await
    }

    /// Applies `ops` atomically only while this leadership lasts (see
    /// [`LockGuard::multi`](super::LockGuard::multi)): a deposed leader's
    /// writes fail with [`Error::NodeLost`] and apply nothing.
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiOpResult>> {
        self.held.guarded_multi(ops).await
    }

    /// Resolves when leadership is lost without a resignation: the session
    /// expired or was closed, or someone deleted the node. Returns why.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn lost(&self) -> Error {
        self.held.lost().await
    }

    /// Steps down; the next candidate becomes leader.
    pub async fn resign(self) -> Result<()> {
        self.held.delete().await
    }
}

/// Follows an election's leader (see [`Election::observe`]).
///
/// It holds a persistent watch on the election and reads the leader after
/// each event; if the watch's buffer overflows, it sets a new one and reads
/// afresh, so no change is missed for good.
#[derive(Debug)]
pub struct LeaderObserver {
    election: Election,
    follow: Follow<Option<Leader>>,
}

impl LeaderObserver {
    /// The leader now on the first call; afterwards, waits for the leader (or
    /// its value) to differ from the one last returned and returns it.
    ///
    /// Fails when the session ends.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn next(&mut self) -> Result<Option<Leader>> {
        let election = &self.election;
        self.follow.next(|| election.leader()).await
    }
}
