//! A node this session holds for a recipe (a lock's or a candidate's
//! ephemeral-sequential node, a group member's ephemeral node): deleted when
//! the holder lets go, or in the background when it is dropped.

use corral_core::tree::{ErrorCode, EventType, MultiOp, MultiOpResult};

use super::directory::{LOSS_RETRIES_MAX, find_by_token};
use crate::client::Client;
use crate::error::{Error, Result};

/// Pause after a connection loss while waiting on a held node: the next call
/// waits for the session to resume anyway; this only keeps a flapping link
/// from spinning.
const LOSS_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// A node held for a recipe.
///
/// Dropping it without [`HeldNode::delete`] deletes the node from a
/// background task (when a tokio runtime is about): a cancelled `acquire` or
/// a forgotten guard does not block the others until the session ends.
#[derive(Debug)]
pub(crate) struct HeldNode {
    pub(crate) client: Client,
    /// The directory the node is in.
    pub(crate) dir: String,
    /// The prefix its name starts with when the server picked the rest (a
    /// sequential create): how to find it if its path never came back.
    pub(crate) token: Option<String>,
    /// Its path, once the create's reply (or a search) told it.
    pub(crate) path: Option<String>,
    /// Its creation zxid (0 until known).
    pub(crate) czxid: i64,
    /// Whether dropping it should delete the node.
    armed: bool,
}

impl HeldNode {
    /// A node about to be created in `dir` (`token`: see the field).
    pub(crate) fn new(client: &Client, dir: &str, token: Option<String>) -> HeldNode {
        HeldNode {
            client: client.clone(),
            dir: dir.to_owned(),
            token,
            path: None,
            czxid: 0,
            armed: true,
        }
    }

    /// The node's path (empty until it is known).
    pub(crate) fn path(&self) -> &str {
        self.path.as_deref().unwrap_or("")
    }

    /// Resolves when the node is gone: deleted by someone, or removed with
    /// its session (expired or closed). Returns why.
    ///
    /// Cancel safety: cancel-safe.
    pub(crate) async fn lost(&self) -> Error {
        let path = self.path();
        loop {
            match self.client.exists_watch(path).await {
                Ok((None, _)) => return node_lost(path),
                Ok((Some(_), fired)) => match fired.await {
                    Ok(event) if event.event_type == EventType::NodeDeleted => {
                        return node_lost(path);
                    }
                    // Its data changed (a proclaim): still held.
                    Ok(_) => {}
                    Err(e) => return e,
                },
                Err(e) if e.is_connection_loss() => tokio::time::sleep(LOSS_PAUSE).await,
                Err(e) => return e,
            }
        }
    }

    /// Replaces the node's data ([`Error::NodeLost`] if it is gone).
    pub(crate) async fn set_data(&self, data: &[u8]) -> Result<()> {
        match self.client.set_data(self.path(), data, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(ErrorCode::NoNode) => Err(node_lost(self.path())),
            Err(e) => Err(e),
        }
    }

    /// Applies `ops` atomically if, and only if, the node still exists: a
    /// multi whose first op checks it. [`Error::NodeLost`] (and nothing
    /// applied) if it is gone; else the results of `ops`, as `multi` gives them.
    pub(crate) async fn guarded_multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiOpResult>> {
        let mut guarded = Vec::with_capacity(ops.len() + 1);
        guarded.push(MultiOp::Check {
            path: self.path().to_owned(),
            version: -1,
        });
        guarded.extend(ops);
        let mut results = self.client.multi(guarded).await?;
        if results.first() == Some(&MultiOpResult::Error(ErrorCode::NoNode)) {
            return Err(node_lost(self.path()));
        }
        if !results.is_empty() {
            results.remove(0);
        }
        Ok(results)
    }

    /// Deletes the node. A node already gone, or a session already over
    /// (which took its ephemerals with it), counts as deleted.
    pub(crate) async fn delete(mut self) -> Result<()> {
        self.armed = false;
        let Some(path) = self.path.take() else {
            return Ok(());
        };
        let mut attempt = 0;
        loop {
            match self.client.delete(&path, None).await {
                Ok(()) => return Ok(()),
                Err(e) if e.code() == Some(ErrorCode::NoNode) || e.is_session_ended() => {
                    return Ok(());
                }
                Err(e) if e.is_connection_loss() && attempt < LOSS_RETRIES_MAX => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for HeldNode {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Without a runtime the session's end removes the node instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let client = self.client.clone();
        let dir = self.dir.clone();
        let token = self.token.take();
        let path = self.path.take();
        runtime.spawn(async move {
            let path = match (path, token) {
                (Some(path), _) => Some(path),
                // The create was cut short: it may still have made the node,
                // and this session's requests apply in order, so a search
                // sent now sees it.
                (None, Some(token)) => find_by_token(&client, &dir, &token).await.ok().flatten(),
                (None, None) => None,
            };
            if let Some(path) = path {
                if let Err(e) = client.delete(&path, None).await {
                    tracing::debug!(%path, error = %e, "a dropped recipe node was not deleted");
                }
            }
        });
    }
}

/// The error of a held node that is gone.
pub(crate) fn node_lost(path: &str) -> Error {
    Error::NodeLost {
        path: path.to_owned(),
    }
}
