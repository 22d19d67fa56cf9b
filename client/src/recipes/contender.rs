//! Taking a place among the contenders of one directory (the lock and
//! election recipes): an ephemeral-sequential child whose name starts with a
//! token unique to the entry, so that after a connection loss the entry can
//! tell whether its create took effect. The lowest sequence number holds;
//! every other contender watches only the one just before it, so a release
//! wakes one client, not the herd. A shared (read) contender, whose name
//! starts with [`SHARED`], waits only for the last exclusive one before it.

use std::sync::atomic::{AtomicU64, Ordering};

use corral_core::tree::{Acl, CreateMode, CreateRequest};

use super::directory::{create_child, find_created, list_children, retry_read};
use super::held_node::{HeldNode, node_lost};
use super::sequence::{by_sequence, child_path};
use crate::client::Client;
use crate::error::Result;

/// Entries made by this process, for unique tokens.
static ENTRIES: AtomicU64 = AtomicU64::new(0);

/// First letter of an exclusive contender's name (a lock's, a write lock's,
/// an election's).
pub(crate) const EXCLUSIVE: char = 'c';
/// First letter of a shared contender's name (a read lock's).
pub(crate) const SHARED: char = 'r';

/// Which earlier contender blocks the one at `at` among `names` (in sequence
/// order), if any: the one it watches.
pub(crate) type Blocker = fn(names: &[String], at: usize) -> Option<usize>;

/// An exclusive contender waits for the one just before it, of any kind.
pub(crate) fn exclusive(_names: &[String], at: usize) -> Option<usize> {
    at.checked_sub(1)
}

/// A shared contender waits only for the last exclusive one before it:
/// readers hold together, and a reader behind a queued writer waits for it.
pub(crate) fn shared(names: &[String], at: usize) -> Option<usize> {
    names
        .get(..at)?
        .iter()
        .rposition(|name| !name.starts_with(SHARED))
}

/// Where a contender stands.
enum Place {
    /// Nobody blocks it: it holds.
    First,
    /// Behind the contender at this path.
    Behind(String),
}

/// Creates this session's contender node in `dir` with `data`.
///
/// Cancel safety: cancel-safe; a node the cut-short create made is deleted
/// in the background.
pub(crate) async fn enter(client: &Client, dir: &str, data: &[u8]) -> Result<HeldNode> {
    enter_as(client, dir, data, EXCLUSIVE).await
}

/// [`enter`] as a contender of `kind` ([`EXCLUSIVE`] or [`SHARED`]).
///
/// Cancel safety: cancel-safe, as [`enter`].
pub(crate) async fn enter_as(
    client: &Client,
    dir: &str,
    data: &[u8],
    kind: char,
) -> Result<HeldNode> {
    let token = format!(
        "{kind}{:016x}{:06x}-",
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

/// Whether nothing blocks `held` now, by the rule `blocker`.
pub(crate) async fn holds(held: &HeldNode, blocker: Blocker) -> Result<bool> {
    Ok(matches!(place(held, blocker).await?, Place::First))
}

/// Waits until `held` is the lowest contender.
///
/// Cancel safety: cancel-safe (the node stays `held`'s).
pub(crate) async fn wait_first(held: &HeldNode) -> Result<()> {
    wait_unblocked(held, exclusive).await
}

/// Waits until nothing blocks `held`, by the rule `blocker`.
///
/// Cancel safety: cancel-safe (the node stays `held`'s).
pub(crate) async fn wait_unblocked(held: &HeldNode, blocker: Blocker) -> Result<()> {
    loop {
        let Place::Behind(predecessor) = place(held, blocker).await? else {
            return Ok(());
        };
        let (stat, fired) = retry_read(|| held.client.exists_watch(&predecessor)).await?;
        if stat.is_some() {
            // Deleted, or its data changed: either way, look again.
            fired.await?;
        }
    }
}

/// Where `held` stands among the contenders, by the rule `blocker`.
async fn place(held: &HeldNode, blocker: Blocker) -> Result<Place> {
    // Not among them (with the directory, if that went too): lost.
    let children = by_sequence(list_children(&held.client, &held.dir).await?);
    let ours = held.path().rsplit('/').next().unwrap_or_default();
    let at = children
        .iter()
        .position(|name| name == ours)
        .ok_or_else(|| node_lost(held.path()))?;
    Ok(match blocker(&children, at) {
        None => Place::First,
        Some(before) => Place::Behind(child_path(&held.dir, &children[before])),
    })
}

/// The lowest contender's name in `dir`, if any.
pub(crate) async fn first_in(client: &Client, dir: &str) -> Result<Option<String>> {
    Ok(by_sequence(list_children(client, dir).await?)
        .into_iter()
        .next())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kinds: &str) -> Vec<String> {
        kinds
            .chars()
            .enumerate()
            .map(|(i, kind)| format!("{kind}0000000000000001000000-{i:010}"))
            .collect()
    }

    #[test]
    fn an_exclusive_contender_waits_for_the_one_just_before_it() {
        let n = names("rcr");
        assert_eq!(exclusive(&n, 0), None);
        assert_eq!(exclusive(&n, 1), Some(0));
        assert_eq!(exclusive(&n, 2), Some(1));
    }

    #[test]
    fn a_shared_contender_waits_only_for_the_last_exclusive_one_before_it() {
        let n = names("rrcrrcr");
        assert_eq!(shared(&n, 0), None, "the first reader holds");
        assert_eq!(shared(&n, 1), None, "readers hold together");
        assert_eq!(shared(&n, 3), Some(2), "behind a queued writer");
        assert_eq!(shared(&n, 4), Some(2), "not behind the reader before it");
        assert_eq!(shared(&n, 6), Some(5));
    }
}
