//! The directory a recipe keeps its children in: created with its missing
//! ancestors (persistent, empty, open ACL) the first time a recipe needs it.

use corral_core::tree::{CreateMode, ErrorCode};

use crate::client::Client;
use crate::error::Result;

/// Retries of one step after a connection loss before the loss is returned.
pub(crate) const LOSS_RETRIES_MAX: usize = 10;

/// Makes sure `dir` exists, creating it and its missing ancestors.
///
/// Safe to repeat and to race with other clients: a node someone else made
/// first is as good as ours.
pub(crate) async fn ensure_dir(client: &Client, dir: &str) -> Result<()> {
    if retry_read(|| client.exists(dir)).await?.is_some() {
        return Ok(());
    }
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
