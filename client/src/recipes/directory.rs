//! The directory a recipe keeps its children in: created with its missing
//! ancestors (persistent, empty, open ACL) the first time a create finds it
//! missing, listed, and searched for a child a lost create may have made.

use corral_core::tree::{CreateMode, CreateRequest, ErrorCode, Stat};

use super::sequence::child_path;
use crate::client::Client;
use crate::error::Result;

/// Retries of one step after a connection loss before the loss is returned.
pub(crate) const LOSS_RETRIES_MAX: usize = 10;

/// Creates `create` (a child of `dir`), making `dir` first if the create
/// finds it missing. After a connection loss, `recover` tells whether the
/// lost create took effect (the node's path and stat); if not, the create is
/// sent again, at most [`LOSS_RETRIES_MAX`] times.
pub(crate) async fn create_child<R, Fut>(
    client: &Client,
    dir: &str,
    create: CreateRequest,
    mut recover: R,
) -> Result<(String, Stat)>
where
    R: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<(String, Stat)>>>,
{
    let mut attempt = 0;
    let mut made_dir = false;
    loop {
        match client.create_with(create.clone()).await {
            Ok(made) => return Ok(made),
            // Made on first use only: the hot path is one create, not a read
            // and a create.
            Err(e) if e.code() == Some(ErrorCode::NoNode) && !made_dir => {
                made_dir = true;
                make_dir(client, dir).await?;
            }
            Err(e) if e.is_connection_loss() && attempt < LOSS_RETRIES_MAX => {
                attempt += 1;
                if let Some(made) = recover().await? {
                    return Ok(made);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates `dir` and its missing ancestors (a create found it missing).
///
/// Safe to repeat and to race with other clients: a node someone else made
/// first is as good as ours.
pub(crate) async fn make_dir(client: &Client, dir: &str) -> Result<()> {
    let mut upto = 0;
    while upto < dir.len() {
        upto = dir[upto + 1..]
            .find('/')
            .map_or(dir.len(), |slash| upto + 1 + slash);
        let ancestor = &dir[..upto];
        let mut attempt = 0;
        loop {
            match client.create(ancestor, b"", CreateMode::Persistent).await {
                Ok(_) => break,
                Err(e) if e.code() == Some(ErrorCode::NodeExists) => break,
                // Made or not, the next attempt tells: NodeExists if it was.
                Err(e) if e.is_connection_loss() && attempt < LOSS_RETRIES_MAX => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Runs a read again after a connection loss (a read changes nothing, so
/// repeating it is safe), at most [`LOSS_RETRIES_MAX`] times.
pub(crate) async fn retry_read<T, F, Fut>(mut read: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        match read().await {
            Err(e) if e.is_connection_loss() && attempt < LOSS_RETRIES_MAX => attempt += 1,
            other => return other,
        }
    }
}

/// The children of `dir` (none if `dir` does not exist).
pub(crate) async fn list_children(client: &Client, dir: &str) -> Result<Vec<String>> {
    match retry_read(|| client.get_children(dir)).await {
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(Vec::new()),
        listed => listed,
    }
}

/// The path of the child of `dir` whose name starts with `token`, if any.
pub(crate) async fn find_by_token(
    client: &Client,
    dir: &str,
    token: &str,
) -> Result<Option<String>> {
    Ok(list_children(client, dir)
        .await?
        .iter()
        .find(|name| name.starts_with(token))
        .map(|name| child_path(dir, name)))
}

/// The child of `dir` that a create named with `token` made, with its stat:
/// how a sequential create whose reply was lost finds its node.
pub(crate) async fn find_created(
    client: &Client,
    dir: &str,
    token: &str,
) -> Result<Option<(String, Stat)>> {
    let Some(path) = find_by_token(client, dir, token).await? else {
        return Ok(None);
    };
    Ok(retry_read(|| client.exists(&path))
        .await?
        .map(|stat| (path, stat)))
}
