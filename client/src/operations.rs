//! ZooKeeper's operations as typed async methods of [`Client`].
//!
//! Every method is built on [`Client::request`]; each says what it returns
//! and maps the server's answer to it. Versions are `Option<i32>` (`None`:
//! any version, ZooKeeper's -1). The `*_watch` reads also leave a one-shot
//! watch, returned as an [`OneShotWatch`] future; [`Client::watch`] leaves a
//! persistent one, returned as a [`PersistentWatch`] stream.

use std::time::Duration;

use corral_core::tree::{
    Acl, AddWatchMode, CreateMode, CreateRequest, MultiOp, MultiOpResult, ReadOp, ReadOpResult,
    Request, Response, Stat, WatcherType,
};

use crate::client::Client;
use crate::connection::PendingWatch;
use crate::error::Result;
use crate::watch::{OneShotWatch, PersistentWatch};

impl Client {
    /// Creates a node with `data`, open ACL and `mode` (not a TTL mode: see
    /// [`Client::create_ttl`]); returns the path created (with the sequence
    /// suffix for sequential modes).
    pub async fn create(&self, path: &str, data: &[u8], mode: CreateMode) -> Result<String> {
        self.create_with(CreateRequest {
            path: path.to_owned(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode,
            ttl_ms: None,
        })
        .await
        .map(|(path, _)| path)
    }

    /// Creates a node with a TTL (`mode` is `PersistentWithTtl` or
    /// `PersistentSequentialWithTtl`) and open ACL; returns its path and stat.
    pub async fn create_ttl(
        &self,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        ttl: Duration,
    ) -> Result<(String, Stat)> {
        self.create_with(CreateRequest {
            path: path.to_owned(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode,
            ttl_ms: Some(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        })
        .await
    }

    /// Creates a node as described (ACL, any mode, TTL); returns its path and stat.
    pub async fn create_with(&self, create: CreateRequest) -> Result<(String, Stat)> {
        match self.request(Request::Create(create)).await? {
            Response::Create { path, stat } => Ok((path, stat)),
            other => Err(self.unexpected("Create", &other)),
        }
    }

    /// Deletes a node if its version is `version` (`None`: any version).
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let request = Request::Delete {
            path: path.to_owned(),
            version: version.unwrap_or(-1),
        };
        match self.request(request).await? {
            Response::Delete => Ok(()),
            other => Err(self.unexpected("Delete", &other)),
        }
    }

    /// The node's stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>> {
        let request = Request::Exists {
            path: path.to_owned(),
            watch: false,
        };
        self.exists_answer(self.request(request).await?)
    }

    /// As [`Client::exists`], and a one-shot watch: on the node's data if it
    /// exists (fires on NodeDataChanged or NodeDeleted), else on its creation
    /// (fires on NodeCreated).
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, OneShotWatch)> {
        let (tx, watch) = OneShotWatch::new();
        let request = Request::Exists {
            path: path.to_owned(),
            watch: true,
        };
        let pending = PendingWatch::Exists {
            path: path.to_owned(),
            tx,
        };
        let (_, result) = self.call(request, false, Some(pending)).await?;
        Ok((self.exists_answer(result?)?, watch))
    }

    /// As [`Client::exists`], linearizable (see [`Client::request_linearizable`]).
    pub async fn exists_linearizable(&self, path: &str) -> Result<Option<Stat>> {
        let request = Request::Exists {
            path: path.to_owned(),
            watch: false,
        };
        self.exists_answer(self.request_linearizable(request).await?)
    }

    fn exists_answer(&self, response: Response) -> Result<Option<Stat>> {
        match response {
            Response::Exists { stat } => Ok(stat),
            other => Err(self.unexpected("Exists", &other)),
        }
    }

    /// The node's data and stat.
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        let request = Request::GetData {
            path: path.to_owned(),
            watch: false,
        };
        self.get_data_answer(self.request(request).await?)
    }

    /// As [`Client::get_data`], and a one-shot data watch (fires on
    /// NodeDataChanged or NodeDeleted).
    pub async fn get_data_watch(&self, path: &str) -> Result<(Vec<u8>, Stat, OneShotWatch)> {
        let (tx, watch) = OneShotWatch::new();
        let request = Request::GetData {
            path: path.to_owned(),
            watch: true,
        };
        let pending = PendingWatch::Data {
            path: path.to_owned(),
            tx,
        };
        let (_, result) = self.call(request, false, Some(pending)).await?;
        let (data, stat) = self.get_data_answer(result?)?;
        Ok((data, stat, watch))
    }

    /// As [`Client::get_data`], linearizable (see [`Client::request_linearizable`]).
    pub async fn get_data_linearizable(&self, path: &str) -> Result<(Vec<u8>, Stat)> {
        let request = Request::GetData {
            path: path.to_owned(),
            watch: false,
        };
        self.get_data_answer(self.request_linearizable(request).await?)
    }

    fn get_data_answer(&self, response: Response) -> Result<(Vec<u8>, Stat)> {
        match response {
            Response::GetData { data, stat } => Ok((data, stat)),
            other => Err(self.unexpected("GetData", &other)),
        }
    }

    /// Replaces the node's data if its version is `version` (`None`: any);
    /// returns the new stat.
    pub async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> Result<Stat> {
        let request = Request::SetData {
            path: path.to_owned(),
            data: data.to_vec(),
            version: version.unwrap_or(-1),
        };
        match self.request(request).await? {
            Response::SetData { stat } => Ok(stat),
            other => Err(self.unexpected("SetData", &other)),
        }
    }

    /// The node's children, sorted.
    pub async fn get_children(&self, path: &str) -> Result<Vec<String>> {
        self.get_children2(path).await.map(|(children, _)| children)
    }

    /// The node's children, sorted, and its stat (ZooKeeper's getChildren2).
    pub async fn get_children2(&self, path: &str) -> Result<(Vec<String>, Option<Stat>)> {
        self.get_children_answer(self.request(children_request(path, false)).await?)
    }

    /// As [`Client::get_children2`], and a one-shot child watch (fires on
    /// NodeChildrenChanged or NodeDeleted).
    pub async fn get_children_watch(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, Option<Stat>, OneShotWatch)> {
        let (tx, watch) = OneShotWatch::new();
        let pending = PendingWatch::Child {
            path: path.to_owned(),
            tx,
        };
        let (_, result) = self
            .call(children_request(path, true), false, Some(pending))
            .await?;
        let (children, stat) = self.get_children_answer(result?)?;
        Ok((children, stat, watch))
    }

    /// As [`Client::get_children2`], linearizable (see [`Client::request_linearizable`]).
    pub async fn get_children_linearizable(
        &self,
        path: &str,
    ) -> Result<(Vec<String>, Option<Stat>)> {
        self.get_children_answer(
            self.request_linearizable(children_request(path, false))
                .await?,
        )
    }

    fn get_children_answer(&self, response: Response) -> Result<(Vec<String>, Option<Stat>)> {
        match response {
            Response::GetChildren { children, stat } => Ok((children, stat)),
            other => Err(self.unexpected("GetChildren", &other)),
        }
    }

    /// The number of all the node's descendants.
    pub async fn get_all_children_number(&self, path: &str) -> Result<i32> {
        let request = Request::GetAllChildrenNumber {
            path: path.to_owned(),
        };
        match self.request(request).await? {
            Response::AllChildrenNumber { count } => Ok(count),
            other => Err(self.unexpected("GetAllChildrenNumber", &other)),
        }
    }

    /// This session's ephemerals whose path starts with `prefix` (`/` for all), sorted.
    pub async fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        let request = Request::GetEphemerals {
            prefix: prefix.to_owned(),
        };
        match self.request(request).await? {
            Response::Ephemerals { paths } => Ok(paths),
            other => Err(self.unexpected("GetEphemerals", &other)),
        }
    }

    /// The node's ACL and stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let request = Request::GetAcl {
            path: path.to_owned(),
        };
        match self.request(request).await? {
            Response::GetAcl { acl, stat } => Ok((acl, stat)),
            other => Err(self.unexpected("GetAcl", &other)),
        }
    }

    /// Replaces the node's ACL if its aversion is `aversion` (`None`: any).
    pub async fn set_acl(&self, path: &str, acl: Vec<Acl>, aversion: Option<i32>) -> Result<Stat> {
        let request = Request::SetAcl {
            path: path.to_owned(),
            acl,
            aversion: aversion.unwrap_or(-1),
        };
        match self.request(request).await? {
            Response::SetAcl { stat } => Ok(stat),
            other => Err(self.unexpected("SetAcl", &other)),
        }
    }

    /// Applies `ops` atomically; on failure, the per-op results say which op
    /// failed (ZooKeeper's multi; [`Response::multi_error`] finds the code).
    pub async fn multi(&self, ops: Vec<MultiOp>) -> Result<Vec<MultiOpResult>> {
        match self.request(Request::Multi(ops)).await? {
            Response::Multi { results } => Ok(results),
            other => Err(self.unexpected("Multi", &other)),
        }
    }

    /// Runs `ops` (getData, getChildren), each answered on its own.
    pub async fn multi_read(&self, ops: Vec<ReadOp>) -> Result<Vec<ReadOpResult>> {
        match self.request(Request::MultiRead(ops)).await? {
            Response::MultiRead { results } => Ok(results),
            other => Err(self.unexpected("MultiRead", &other)),
        }
    }

    /// Waits until the server has applied every write committed before the call.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let request = Request::Sync {
            path: path.to_owned(),
        };
        match self.request(request).await? {
            Response::Sync { .. } => Ok(()),
            other => Err(self.unexpected("Sync", &other)),
        }
    }

    /// Adds a persistent watch on `path` (`recursive`: on `path` and every
    /// descendant, data events only) and returns its stream.
    ///
    /// The stream's buffer is bounded; see [`PersistentWatch`].
    pub async fn watch(&self, path: &str, recursive: bool) -> Result<PersistentWatch> {
        let mode = if recursive {
            AddWatchMode::PersistentRecursive
        } else {
            AddWatchMode::Persistent
        };
        self.add_watch(path, mode).await
    }

    /// Adds a persistent watch of `mode` on `path` (ZooKeeper's addWatch) and
    /// returns its stream.
    pub async fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<PersistentWatch> {
        let (sink, stream) = PersistentWatch::new(path, self.session().config.watch_buffer_max);
        let request = Request::AddWatch {
            path: path.to_owned(),
            mode,
        };
        let pending = PendingWatch::Persistent {
            path: path.to_owned(),
            recursive: mode == AddWatchMode::PersistentRecursive,
            sink,
        };
        let (_, result) = self.call(request, false, Some(pending)).await?;
        match result? {
            Response::AddWatch => Ok(stream),
            other => Err(self.unexpected("AddWatch", &other)),
        }
    }

    /// Removes this session's watches of `watcher_type` on `path`, on the
    /// server and here; the local watchers end with
    /// [`Error::WatchRemoved`](crate::Error::WatchRemoved).
    pub async fn remove_watches(&self, path: &str, watcher_type: WatcherType) -> Result<()> {
        let request = Request::RemoveWatches {
            path: path.to_owned(),
            watcher_type,
        };
        match self.request(request).await? {
            Response::RemoveWatches => {
                self.session().watches().remove(path, watcher_type);
                Ok(())
            }
            other => Err(self.unexpected("RemoveWatches", &other)),
        }
    }

    /// Adds an identity to the session (`scheme` `digest`, `auth`
    /// `user:password`), on top of its certificate's x509 name.
    pub async fn add_auth(&self, scheme: &str, auth: &[u8]) -> Result<()> {
        let request = Request::AddAuth {
            scheme: scheme.to_owned(),
            auth: auth.to_vec(),
        };
        match self.request(request).await? {
            Response::AddAuth => Ok(()),
            other => Err(self.unexpected("AddAuth", &other)),
        }
    }
}

fn children_request(path: &str, watch: bool) -> Request {
    Request::GetChildren {
        path: path.to_owned(),
        watch,
        with_stat: true,
    }
}
