//! Following what a recipe's directory holds (an election's leader, a
//! group's members): one persistent recursive watch on the directory, a
//! fresh read after each event, and only changes handed on.

use std::future::Future;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::watch::{PersistentWatch, WatchItem};

/// Follows the state read from one directory.
///
/// If the watch's buffer overflows, a new watch is set and the state read
/// afresh, so no change is missed for good.
#[derive(Debug)]
pub(crate) struct Follow<T> {
    client: Client,
    dir: String,
    watch: PersistentWatch,
    /// The state last handed on (`None` before the first).
    last: Option<T>,
    /// Whether to read before waiting for an event: at first, and after an
    /// event was taken but its read was cut short.
    stale: bool,
}

impl<T: PartialEq + Clone> Follow<T> {
    /// Sets the watch on `dir` (which need not exist yet).
    pub(crate) async fn new(client: &Client, dir: &str) -> Result<Follow<T>> {
        Ok(Follow {
            client: client.clone(),
            dir: dir.to_owned(),
            watch: client.watch(dir, true).await?,
            last: None,
            stale: true,
        })
    }

    /// The state now on the first call; afterwards, waits until `read` gives
    /// a state other than the one last returned and returns it.
    ///
    /// Cancel safety: cancel-safe if `read` is.
    pub(crate) async fn next<F, Fut>(&mut self, mut read: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        loop {
            if !self.stale {
                match self.watch.next().await {
                    Some(Ok(WatchItem::Event(_) | WatchItem::ResyncNeeded { .. })) => {}
                    Some(Err(Error::WatchOverflow { .. })) => {
                        self.watch = self.client.watch(&self.dir, true).await?;
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err(Error::Closed),
                }
                self.stale = true;
            }
            let now = read().await?;
            self.stale = false;
            if self.last.as_ref() != Some(&now) {
                self.last = Some(now.clone());
                return Ok(now);
            }
        }
    }
}
