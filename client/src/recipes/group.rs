//! Group membership and service registration (ZooKeeper's group recipe,
//! Curator's `GroupMember` and service discovery): each member is an
//! ephemeral node named for it under the group's directory, carrying its
//! data (an address, say), gone when its session ends.

use corral_core::tree::path::validate_path;
use corral_core::tree::{Acl, CreateMode, CreateRequest, ErrorCode, ReadOp, ReadOpResult, ZkError};

use super::directory::{create_child, list_children, retry_read};
use super::follow::Follow;
use super::held_node::HeldNode;
use super::sequence::{check_dir, child_path};
use crate::client::Client;
use crate::error::{Error, Result};

/// Members read in one multiRead: keeps each reply well under a frame.
const MEMBERS_PER_READ_MAX: usize = 256;

/// A group named by a directory path.
#[derive(Debug, Clone)]
pub struct Group {
    client: Client,
    dir: String,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its name (the node's name under the group).
    pub name: String,
    /// Its data.
    pub data: Vec<u8>,
}

impl Group {
    /// A group kept under `dir` (created, with its ancestors, on first join).
    /// Fails with `BadArguments` for the root or an invalid path.
    pub fn new(client: &Client, dir: &str) -> Result<Group> {
        check_dir(dir)?;
        Ok(Group {
            client: client.clone(),
            dir: dir.to_owned(),
        })
    }

    /// Joins as `name` with `data`, until [`Membership::leave`], the
    /// membership's drop, or the session's end. Fails with `NodeExists` if
    /// the name is taken, `BadArguments` if it is not one path segment.
    pub async fn join(&self, name: &str, data: &[u8]) -> Result<Membership> {
        let path = child_path(&self.dir, name);
        if name.is_empty() || name.contains('/') || validate_path(&path).is_err() {
            return Err(Error::Zk(ZkError::new(ErrorCode::BadArguments, path)));
        }
        let mut held = HeldNode::new(&self.client, &self.dir, None);
        let create = CreateRequest {
            path: path.clone(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Ephemeral,
            ttl_ms: None,
        };
        // After a loss: ours if it exists and this session owns it; another
        // owner means the name is taken, which the create sent again reports.
        let session = self.client.session_id();
        let recover = || async {
            let stat = retry_read(|| self.client.exists(&path)).await?;
            Ok(stat
                .filter(|stat| stat.ephemeral_owner == session)
                .map(|stat| (path.clone(), stat)))
        };
        let (path, stat) = create_child(&self.client, &self.dir, create, recover).await?;
        held.path = Some(path);
        held.czxid = stat.czxid;
        Ok(Membership { held })
    }

    /// The members now, by name.
    pub async fn members(&self) -> Result<Vec<Member>> {
        let mut names = list_children(&self.client, &self.dir).await?;
        names.sort_unstable();
        let mut members = Vec::with_capacity(names.len());
        for chunk in names.chunks(MEMBERS_PER_READ_MAX) {
            let reads: Vec<ReadOp> = chunk
                .iter()
                .map(|name| ReadOp::GetData {
                    path: child_path(&self.dir, name),
                })
                .collect();
            let results = retry_read(|| self.client.multi_read(reads.clone())).await?;
            for (name, result) in chunk.iter().zip(results) {
                match result {
                    ReadOpResult::GetData { data, .. } => members.push(Member {
                        name: name.clone(),
                        data,
                    }),
                    // It left between the two reads.
                    ReadOpResult::Error(ErrorCode::NoNode) => {}
                    ReadOpResult::Error(code) => {
                        return Err(Error::Zk(ZkError::new(code, child_path(&self.dir, name))));
                    }
                    ReadOpResult::GetChildren { .. } => {
                        return Err(Error::Protocol {
                            server: self.client.server(),
                            what: format!("a GetData of {name} in a multiRead answered children"),
                        });
                    }
                }
            }
        }
        Ok(members)
    }

    /// Follows the membership: the watch's [`GroupWatch::next`] gives the
    /// members now first, then the whole list after each change (a join, a
    /// leave, or a member's new data).
    pub async fn watch(&self) -> Result<GroupWatch> {
        Ok(GroupWatch {
            group: self.clone(),
            follow: Follow::new(&self.client, &self.dir).await?,
        })
    }

    /// The directory the group lives in.
    pub fn path(&self) -> &str {
        &self.dir
    }
}

/// Membership of a group: [`Membership::leave`] when done. Dropped without
/// leaving, it leaves from a background task.
#[derive(Debug)]
#[must_use = "dropping the membership leaves the group"]
pub struct Membership {
    held: HeldNode,
}

impl Membership {
    /// The member's node.
    pub fn path(&self) -> &str {
        self.held.path()
    }

    /// Replaces the member's data.
    pub async fn update(&self, data: &[u8]) -> Result<()> {
        self.held.set_data(data).await
    }

    /// Resolves when the membership ends without a leave: the session expired
    /// or was closed, or someone deleted the node. Returns why.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn lost(&self) -> Error {
        self.held.lost().await
    }

    /// Leaves the group.
    pub async fn leave(self) -> Result<()> {
        self.held.delete().await
    }
}

/// Follows a group's members (see [`Group::watch`]).
///
/// If its persistent watch's buffer overflows, it sets a new one and reads
/// the members afresh, so no change is missed for good.
#[derive(Debug)]
pub struct GroupWatch {
    group: Group,
    follow: Follow<Vec<Member>>,
}

impl GroupWatch {
    /// The members now on the first call; afterwards, waits until they differ
    /// from those last returned and returns them.
    ///
    /// Fails when the session ends.
    ///
    /// Cancel safety: cancel-safe.
    pub async fn next(&mut self) -> Result<Vec<Member>> {
        let group = &self.group;
        self.follow.next(|| group.members()).await
    }
}
