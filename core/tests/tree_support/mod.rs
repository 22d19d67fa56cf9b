//! Shared harness for the tree tests: a tree with a clock and a zxid counter.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use corral_core::tree::*;

/// A tree plus the leader's clock and zxid, and one default session.
pub struct H {
    pub t: Tree,
    pub zxid: i64,
    pub now: i64,
    pub s: SessionId,
}

pub const T0: i64 = 1_700_000_000_000;

impl H {
    pub fn new() -> H {
        H::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> H {
        let mut h = H {
            t: Tree::new(limits),
            zxid: 0,
            now: T0,
            s: 0,
        };
        h.s = h.session(vec![]);
        h
    }

    /// Applies `command` as the next entry, 10 ms after the previous one.
    pub fn cmd(&mut self, command: Command) -> Applied {
        self.zxid += 1;
        self.now += 10;
        self.t.apply(&Entry {
            zxid: self.zxid,
            time_ms: self.now,
            command,
        })
    }

    pub fn session(&mut self, identities: Vec<Id>) -> SessionId {
        let c = Command::CreateSession {
            timeout_ms: 10_000,
            secret: [7; 16],
            identities,
        };
        match self.cmd(c).result {
            Ok(Response::SessionCreated { session, .. }) => session,
            r => panic!("session not created: {r:?}"),
        }
    }

    pub fn req_as(&mut self, session: SessionId, request: Request) -> Applied {
        self.cmd(Command::Client { session, request })
    }

    pub fn req(&mut self, request: Request) -> Applied {
        let s = self.s;
        self.req_as(s, request)
    }

    pub fn create_as(
        &mut self,
        session: SessionId,
        path: &str,
        data: &[u8],
        mode: CreateMode,
        ttl_ms: Option<i64>,
        acl: Vec<Acl>,
    ) -> Result<(String, Stat), ZkError> {
        let r = CreateRequest {
            path: path.into(),
            data: data.to_vec(),
            acl,
            mode,
            ttl_ms,
        };
        match self.req_as(session, Request::Create(r)).result {
            Ok(Response::Create { path, stat }) => Ok((path, stat)),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => Err(e),
        }
    }

    /// Creates with the default session, open ACL; returns the path or the error code.
    pub fn mk(&mut self, path: &str, mode: CreateMode) -> Result<String, ErrorCode> {
        let s = self.s;
        self.create_as(s, path, b"", mode, None, Acl::open_unsafe())
            .map(|(p, _)| p)
            .map_err(|e| e.code)
    }

    /// Creates a persistent node with `data`, which must succeed.
    pub fn put(&mut self, path: &str, data: &[u8]) -> Stat {
        let s = self.s;
        self.create_as(
            s,
            path,
            data,
            CreateMode::Persistent,
            None,
            Acl::open_unsafe(),
        )
        .unwrap()
        .1
    }

    pub fn ttl(
        &mut self,
        path: &str,
        mode: CreateMode,
        ttl: Option<i64>,
    ) -> Result<String, ErrorCode> {
        let s = self.s;
        self.create_as(s, path, b"", mode, ttl, Acl::open_unsafe())
            .map(|(p, _)| p)
            .map_err(|e| e.code)
    }

    pub fn stat(&self, path: &str) -> Stat {
        self.t
            .data()
            .stat(path)
            .unwrap_or_else(|| panic!("{path} missing"))
    }

    pub fn exists(&self, path: &str) -> bool {
        self.t.data().stat(path).is_some()
    }

    pub fn set(&mut self, path: &str, data: &[u8], version: i32) -> Result<Stat, ErrorCode> {
        let r = Request::SetData {
            path: path.into(),
            data: data.to_vec(),
            version,
        };
        match self.req(r).result {
            Ok(Response::SetData { stat }) => Ok(stat),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => Err(e.code),
        }
    }

    pub fn del(&mut self, path: &str, version: i32) -> Result<(), ErrorCode> {
        match self
            .req(Request::Delete {
                path: path.into(),
                version,
            })
            .result
        {
            Ok(_) => Ok(()),
            Err(e) => Err(e.code),
        }
    }

    /// Serves a read outside the log for `session`.
    pub fn read_as(&mut self, session: SessionId, request: Request) -> Result<Response, ZkError> {
        self.t.read(session, &request)
    }

    pub fn read(&mut self, request: Request) -> Result<Response, ZkError> {
        let s = self.s;
        self.read_as(s, request)
    }

    pub fn watch_data(&mut self, session: SessionId, path: &str) {
        self.read_as(
            session,
            Request::GetData {
                path: path.into(),
                watch: true,
            },
        )
        .unwrap();
    }

    pub fn watch_children(&mut self, session: SessionId, path: &str) {
        let r = Request::GetChildren {
            path: path.into(),
            watch: true,
            with_stat: false,
        };
        self.read_as(session, r).unwrap();
    }

    pub fn watch_exists(&mut self, session: SessionId, path: &str) {
        self.read_as(
            session,
            Request::Exists {
                path: path.into(),
                watch: true,
            },
        )
        .unwrap();
    }

    pub fn add_watch(&mut self, session: SessionId, path: &str, mode: AddWatchMode) {
        self.read_as(
            session,
            Request::AddWatch {
                path: path.into(),
                mode,
            },
        )
        .unwrap();
    }

    /// Everything that tells one state of the nodes from another (not session clocks).
    pub fn fingerprint(&self) -> Vec<(String, Vec<u8>, Stat, Vec<Acl>)> {
        let d = self.t.data();
        d.paths()
            .into_iter()
            .map(|p| {
                let (data, stat) = d.get(&p).unwrap();
                let acl = d.acl(&p).unwrap().to_vec();
                (p, data.to_vec(), stat, acl)
            })
            .collect()
    }
}

/// The error code of an applied entry, `Ok` if it succeeded.
pub fn code(a: &Applied) -> ErrorCode {
    match &a.result {
        Ok(_) => ErrorCode::Ok,
        Err(e) => e.code,
    }
}

/// Notifications as (session, type, path) triples.
pub fn events(a: &Applied) -> Vec<(SessionId, EventType, String)> {
    a.notifications()
        .iter()
        .map(|n| (n.session, n.event.event_type, n.event.path.clone()))
        .collect()
}
