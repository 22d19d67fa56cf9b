//! Taking a place among the contenders of one directory (the lock and
//! election recipes): an ephemeral-sequential child whose name starts with a
//! token unique to the entry, so that after a connection loss the entry can
//! tell whether its create took effect. The lowest sequence number holds;
//! every other contender watches only the one just before it, so a release
//! wakes one client, not the herd.

use std::sync::atomic::{AtomicU64, Ordering};

use corral_core::tree::{Acl, CreateMode, CreateRequest};

use super::directory::{create_child, find_created, list_children, retry_read};
use super::held_node::{HeldNode, node_lost};
use super::sequence::{by_sequence, child_path};
use crate::client::Client;
use crate::error::Result;

/// Entries made by this process, for unique tokens.
static ENTRIES: AtomicU64 = AtomicU64::new(0);

/// Where a contender stands.
enum Place {
    /// Lowest: it holds.
    First,
    /// Behind the contender at this path.
    Behind(String),
}

/// Creates this session's contender node in `dir` with `data`.
///
/// Cancel safety: cancel-safe; a node the cut-short create made is deleted
/// in the background.
pub(crate) async fn enter(client: &Client, dir: &str, data: &[u8]) -> Result<HeldNode> {
    let token = format!(
        "c{:016x}{:06x}-",
        client.session_id(),
        ENTRIES.fetch_add(1, Ordering::Relaxed) & 0xff_ffff
    );
    let mut held = HeldNode::new(client, dir, Some(token.clone()));
    let create = CreateRequest {
        path: child_path(dir, &token),
        data: data.to_vec(),
        acl: Acl::open_unsafe(),
        mode: CreateMode::EphemeralSequential,
        ttl_ms: None,
    };
    let (path, stat) =
        create_child(client, dir, create, || find_created(client, dir, &token)).await?;
    held.path = Some(path);
    held.czxid = stat.czxid;
    Ok(held)
}

/// Whether `held` is the lowest contender now.
pub(crate) async fn is_first(held: &HeldNode) -> Result<bool> {
    Ok(matches!(place(held).await?, Place::First))
}

/// Waits until `held` is the lowest contender.
///
/// Cancel safety: cancel-safe (the node stays `held`'s).
pub(crate) async fn wait_first(held: &HeldNode) -> Result<()> {
    loop {
        let Place::Behind(predecessor) = place(held).await? else {
            return Ok(());
        };
        let (stat, fired) = retry_read(|| held.client.exists_watch(&predecessor)).await?;
        if stat.is_some() {
            // Deleted, or its data changed: either way, look again.
            fired.await?;
        }
    }
}

/// Where `held` stands among the contenders.
async fn place(held: &HeldNode) -> Result<Place> {
    // Not among them (with the directory, if that went too): lost.
    let children = by_sequence(list_children(&held.client, &held.dir).await?);
    let ours = held.path().rsplit('/').next().unwrap_or_default();
    match children.iter().position(|name| name == ours) {
        Some(0) => Ok(Place::First),
        Some(at) => Ok(Place::Behind(child_path(&held.dir, &children[at - 1]))),
        None => Err(node_lost(held.path())),
    }
}

/// The lowest contender's name in `dir`, if any.
pub(crate) async fn first_in(client: &Client, dir: &str) -> Result<Option<String>> {
    Ok(by_sequence(list_children(client, dir).await?)
        .into_iter()
        .next())
}
