//! Proves the tree agrees with a simple reference model on random operation sequences:
//! every result, every Stat of every node, and every watch notification.
//!
//! The model below is a direct transcription of ZooKeeper's rules over a `BTreeMap` of
//! paths, written independently of the tree's code (no shared helpers beyond the public
//! vocabulary types), so a divergence in either shows up as a failing case.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The model passes ZooKeeper's txn fields (session, zxid, time, ...) one by one, as DataTree does.
#![allow(clippy::too_many_arguments)]

use std::collections::{BTreeMap, BTreeSet};

use corral_core::tree::*;
use proptest::prelude::*;

const PATHS: [&str; 10] = [
    "/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z", "/a/", "a", "/a//x", "/",
];
const SESSIONS: usize = 3;

#[derive(Clone, Debug)]
enum MOp {
    Create { path: usize, mode: u8 },
    Delete { path: usize, version: i32 },
    Set { path: usize, version: i32 },
    Check { path: usize, version: i32 },
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        s: usize,
        path: usize,
        mode: u8,
        data: u8,
        locked: bool,
    },
    Delete {
        s: usize,
        path: usize,
        version: i32,
    },
    Set {
        s: usize,
        path: usize,
        data: u8,
        version: i32,
    },
    GetData {
        s: usize,
        path: usize,
        watch: bool,
    },
    Exists {
        s: usize,
        path: usize,
        watch: bool,
    },
    RemoveWatches {
        s: usize,
        path: usize,
        kind: u8,
    },
    AllChildren {
        s: usize,
        path: usize,
    },
    Ephemerals {
        s: usize,
        under_a: bool,
    },
    Children {
        s: usize,
        path: usize,
        watch: bool,
    },
    AddWatch {
        s: usize,
        path: usize,
        recursive: bool,
    },
    SetAcl {
        s: usize,
        path: usize,
        locked: bool,
        aversion: i32,
    },
    Multi {
        s: usize,
        ops: Vec<MOp>,
    },
    Close {
        s: usize,
    },
    Reap,
}

fn version() -> impl Strategy<Value = i32> {
    prop_oneof![Just(-1), 0..3i32]
}

fn mop() -> impl Strategy<Value = MOp> {
    prop_oneof![
        (0..PATHS.len(), 0..5u8).prop_map(|(path, mode)| MOp::Create { path, mode }),
        (0..PATHS.len(), version()).prop_map(|(path, version)| MOp::Delete { path, version }),
        (0..PATHS.len(), version()).prop_map(|(path, version)| MOp::Set { path, version }),
        (0..PATHS.len(), version()).prop_map(|(path, version)| MOp::Check { path, version }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SESSIONS;
    let p = 0..PATHS.len();
    prop_oneof![
        6 => (s.clone(), p.clone(), 0..5u8, any::<u8>(), prop::bool::weighted(0.15))
            .prop_map(|(s, path, mode, data, locked)| Op::Create { s, path, mode, data, locked }),
        3 => (s.clone(), p.clone(), version()).prop_map(|(s, path, version)| Op::Delete { s, path, version }),
        3 => (s.clone(), p.clone(), any::<u8>(), version())
            .prop_map(|(s, path, data, version)| Op::Set { s, path, data, version }),
        2 => (s.clone(), p.clone(), any::<bool>()).prop_map(|(s, path, watch)| Op::GetData { s, path, watch }),
        2 => (s.clone(), p.clone(), any::<bool>()).prop_map(|(s, path, watch)| Op::Exists { s, path, watch }),
        2 => (s.clone(), p.clone(), any::<bool>()).prop_map(|(s, path, watch)| Op::Children { s, path, watch }),
        1 => (s.clone(), p.clone(), any::<bool>()).prop_map(|(s, path, recursive)| Op::AddWatch { s, path, recursive }),
        1 => (s.clone(), p.clone(), any::<bool>(), version())
            .prop_map(|(s, path, locked, aversion)| Op::SetAcl { s, path, locked, aversion }),
        2 => (s.clone(), prop::collection::vec(mop(), 0..4)).prop_map(|(s, ops)| Op::Multi { s, ops }),
        1 => Just(Op::Reap),
        1 => s.clone().prop_map(|s| Op::Close { s }),
        1 => (s.clone(), p.clone(), 0..5u8).prop_map(|(s, path, kind)| Op::RemoveWatches { s, path, kind }),
        1 => (s.clone(), p.clone()).prop_map(|(s, path)| Op::AllChildren { s, path }),
        1 => (s, any::<bool>()).prop_map(|(s, under_a)| Op::Ephemerals { s, under_a }),
    ]
}

fn mode(m: u8) -> CreateMode {
    [
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
    ][m as usize]
}

/// Session k's identities: session 1 is x509 "alice", the others anonymous.
fn identities(k: usize) -> Vec<Id> {
    if k == 1 {
        vec![Id::x509("alice")]
    } else {
        vec![]
    }
}

fn acl(locked: bool) -> Vec<Acl> {
    if locked {
        vec![Acl::new(Perms::ALL, Id::x509("alice"))]
    } else {
        Acl::open_unsafe()
    }
}

// ---------------------------------------------------------------- the model

#[derive(Clone, Debug)]
struct MNode {
    data: Vec<u8>,
    acl: Vec<Acl>,
    stat: Stat,
}

#[derive(Clone, Debug, Default)]
struct Model {
    nodes: BTreeMap<String, MNode>,
    live: BTreeMap<i64, Vec<Id>>,
    /// (path, session) -> one-shot data watch / one-shot child watch / persistent / recursive.
    data_w: BTreeSet<(String, i64)>,
    child_w: BTreeSet<(String, i64)>,
    pers_w: BTreeSet<(String, i64)>,
    rec_w: BTreeSet<(String, i64)>,
}

type Ev = (EventType, String, Vec<Acl>);

fn valid(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    p.starts_with('/')
        && !p.ends_with('/')
        && p[1..]
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn parent(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].into(),
    }
}

fn may(acl: &[Acl], perm: Perms, ids: &[Id]) -> bool {
    acl.iter()
        .any(|a| a.perms.0 & perm.0 != 0 && (a.id == Id::anyone() || ids.contains(&a.id)))
}

fn e(code: ErrorCode, p: &str) -> ZkError {
    ZkError::new(code, p)
}

impl Model {
    fn new() -> Model {
        let mut m = Model::default();
        let root = MNode {
            data: vec![],
            acl: Acl::open_unsafe(),
            stat: Stat::default(),
        };
        m.nodes.insert("/".into(), root);
        m
    }

    fn children(&self, p: &str) -> Vec<String> {
        let prefix = if p == "/" {
            "/".to_string()
        } else {
            format!("{p}/")
        };
        self.nodes
            .keys()
            .filter(|k| {
                k.starts_with(&prefix) && k.len() > prefix.len() && !k[prefix.len()..].contains('/')
            })
            .map(|k| k[prefix.len()..].to_string())
            .collect()
    }

    fn create(
        &mut self,
        s: i64,
        ids: &[Id],
        path: &str,
        m: CreateMode,
        data: &[u8],
        acl: Vec<Acl>,
        z: i64,
        t: i64,
        ev: &mut Vec<Ev>,
    ) -> Result<(String, Stat), ZkError> {
        let checked = if m.is_sequential() {
            format!("{path}1")
        } else {
            path.to_string()
        };
        if !valid(&checked) {
            return Err(e(ErrorCode::BadArguments, path));
        }
        let pp = parent(path);
        let par = self
            .nodes
            .get(&pp)
            .ok_or_else(|| e(ErrorCode::NoNode, path))?;
        if !may(&par.acl, Perms::CREATE, ids) {
            return Err(e(ErrorCode::NoAuth, path));
        }
        let full = if m.is_sequential() {
            format!("{path}{:010}", par.stat.cversion)
        } else {
            path.to_string()
        };
        if self.nodes.contains_key(&full) {
            return Err(e(ErrorCode::NodeExists, &full));
        }
        if par.stat.ephemeral_owner > 0 {
            return Err(e(ErrorCode::NoChildrenForEphemerals, &full));
        }
        let owner = if m.is_ephemeral() {
            s
        } else if m.is_container() {
            i64::MIN
        } else {
            0
        };
        let stat = Stat {
            czxid: z,
            mzxid: z,
            ctime: t,
            mtime: t,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            data_length: data.len() as i32,
            num_children: 0,
            pzxid: z,
        };
        let par = self.nodes.get_mut(&pp).unwrap();
        par.stat.cversion += 1;
        par.stat.pzxid = z;
        par.stat.num_children += 1;
        let pacl = par.acl.clone();
        self.nodes.insert(
            full.clone(),
            MNode {
                data: data.to_vec(),
                acl: acl.clone(),
                stat,
            },
        );
        ev.push((EventType::NodeCreated, full.clone(), acl));
        ev.push((EventType::NodeChildrenChanged, pp, pacl));
        Ok((full, stat))
    }

    fn remove(&mut self, path: &str, z: i64, ev: &mut Vec<Ev>) {
        let n = self.nodes.remove(path).unwrap();
        let pp = parent(path);
        let par = self.nodes.get_mut(&pp).unwrap();
        par.stat.num_children -= 1;
        par.stat.pzxid = par.stat.pzxid.max(z);
        ev.push((EventType::NodeDeleted, path.into(), n.acl));
        ev.push((EventType::NodeChildrenChanged, pp, par.acl.clone()));
    }

    fn delete(
        &mut self,
        ids: &[Id],
        path: &str,
        version: i32,
        z: i64,
        ev: &mut Vec<Ev>,
    ) -> Result<(), ZkError> {
        if !valid(path) || path == "/" {
            return Err(e(ErrorCode::BadArguments, path));
        }
        let par = self
            .nodes
            .get(&parent(path))
            .ok_or_else(|| e(ErrorCode::NoNode, path))?;
        if !may(&par.acl, Perms::DELETE, ids) {
            return Err(e(ErrorCode::NoAuth, path));
        }
        let n = self
            .nodes
            .get(path)
            .ok_or_else(|| e(ErrorCode::NoNode, path))?;
        if version != -1 && version != n.stat.version {
            return Err(e(ErrorCode::BadVersion, path));
        }
        if n.stat.num_children > 0 {
            return Err(e(ErrorCode::NotEmpty, path));
        }
        self.remove(path, z, ev);
        Ok(())
    }

    fn node(&self, ids: &[Id], path: &str, perm: Perms) -> Result<&MNode, ZkError> {
        if !valid(path) {
            return Err(e(ErrorCode::BadArguments, path));
        }
        let n = self
            .nodes
            .get(path)
            .ok_or_else(|| e(ErrorCode::NoNode, path))?;
        if !may(&n.acl, perm, ids) {
            return Err(e(ErrorCode::NoAuth, path));
        }
        Ok(n)
    }

    fn set(
        &mut self,
        ids: &[Id],
        path: &str,
        data: &[u8],
        version: i32,
        z: i64,
        t: i64,
        ev: &mut Vec<Ev>,
    ) -> Result<Stat, ZkError> {
        let n = self.node(ids, path, Perms::WRITE)?;
        if version != -1 && version != n.stat.version {
            return Err(e(ErrorCode::BadVersion, path));
        }
        let n = self.nodes.get_mut(path).unwrap();
        n.data = data.to_vec();
        n.stat.version += 1;
        n.stat.mzxid = z;
        n.stat.mtime = t;
        n.stat.data_length = data.len() as i32;
        ev.push((EventType::NodeDataChanged, path.into(), n.acl.clone()));
        Ok(n.stat)
    }

    fn multi(
        &mut self,
        s: i64,
        ids: &[Id],
        ops: &[MOp],
        z: i64,
        t: i64,
        ev: &mut Vec<Ev>,
    ) -> Response {
        let saved = self.clone();
        let mut local = Vec::new();
        let mut results = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                MOp::Create { path, mode: m } => self
                    .create(
                        s,
                        ids,
                        PATHS[*path],
                        mode(*m),
                        b"",
                        Acl::open_unsafe(),
                        z,
                        t,
                        &mut local,
                    )
                    .map(|(path, stat)| MultiOpResult::Create { path, stat }),
                MOp::Delete { path, version } => self
                    .delete(ids, PATHS[*path], *version, z, &mut local)
                    .map(|()| MultiOpResult::Delete),
                MOp::Set { path, version } => self
                    .set(ids, PATHS[*path], b"m", *version, z, t, &mut local)
                    .map(|stat| MultiOpResult::SetData { stat }),
                MOp::Check { path, version } => {
                    self.node(ids, PATHS[*path], Perms::READ).and_then(|n| {
                        if *version != -1 && *version != n.stat.version {
                            Err(e(ErrorCode::BadVersion, PATHS[*path]))
                        } else {
                            Ok(MultiOpResult::Check)
                        }
                    })
                }
            };
            match r {
                Ok(r) => results.push(r),
                Err(err) => {
                    *self = saved;
                    let mut out = vec![MultiOpResult::Error(ErrorCode::Ok); i];
                    out.push(MultiOpResult::Error(err.code));
                    out.resize(
                        ops.len(),
                        MultiOpResult::Error(ErrorCode::RuntimeInconsistency),
                    );
                    return Response::Multi { results: out };
                }
            }
        }
        ev.extend(local);
        Response::Multi { results }
    }

    fn close(&mut self, s: i64, z: i64, ev: &mut Vec<Ev>) {
        let mine: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.stat.ephemeral_owner == s)
            .map(|(p, _)| p.clone())
            .collect();
        for p in mine {
            self.remove(&p, z, ev);
        }
        self.live.remove(&s);
        for set in [
            &mut self.data_w,
            &mut self.child_w,
            &mut self.pers_w,
            &mut self.rec_w,
        ] {
            set.retain(|(_, x)| *x != s);
        }
    }

    fn reap(&mut self, z: i64, ev: &mut Vec<Ev>) -> Vec<String> {
        let c: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.stat.ephemeral_owner == i64::MIN
                    && n.stat.cversion > 0
                    && n.stat.num_children == 0
            })
            .map(|(p, _)| p.clone())
            .collect();
        for p in &c {
            self.remove(p, z, ev);
        }
        c
    }

    /// ZooKeeper's WatchManager, written out plainly.
    fn fire(&mut self, evs: Vec<Ev>, z: i64) -> Vec<Notification> {
        let mut out = Vec::new();
        for (t, p, acl) in evs {
            let at = |set: &BTreeSet<(String, i64)>, q: &str| -> Vec<i64> {
                set.iter()
                    .filter(|(x, _)| x == q)
                    .map(|(_, s)| *s)
                    .collect()
            };
            let mut who = BTreeSet::new();
            let data_like = t != EventType::NodeChildrenChanged;
            if data_like {
                who.extend(at(&self.data_w, &p));
                who.extend(at(&self.pers_w, &p));
                let mut q = Some(p.clone());
                while let Some(cur) = q {
                    who.extend(at(&self.rec_w, &cur));
                    q = if cur == "/" { None } else { Some(parent(&cur)) };
                }
                self.data_w.retain(|(x, _)| *x != p);
            }
            if t == EventType::NodeDeleted || t == EventType::NodeChildrenChanged {
                who.extend(at(&self.child_w, &p));
                who.extend(at(&self.pers_w, &p));
                self.child_w.retain(|(x, _)| *x != p);
            }
            for s in who {
                if self
                    .live
                    .get(&s)
                    .is_some_and(|ids| may(&acl, Perms::READ, ids))
                {
                    out.push(Notification {
                        session: s,
                        event: WatchedEvent {
                            event_type: t,
                            path: p.clone(),
                            zxid: z,
                        },
                    });
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------- the run

struct Run {
    tree: Tree,
    model: Model,
    sessions: Vec<i64>,
    zxid: i64,
    now: i64,
}

impl Run {
    fn new() -> Run {
        let mut r = Run {
            tree: Tree::new(Limits::default()),
            model: Model::new(),
            sessions: vec![],
            zxid: 0,
            now: 1000,
        };
        for k in 0..SESSIONS {
            let c = Command::CreateSession {
                timeout_ms: 1_000_000,
                secret: [k as u8; 16],
                identities: identities(k),
            };
            let a = r.entry(c);
            let Ok(Response::SessionCreated { session, .. }) = a.result else {
                panic!("{a:?}")
            };
            r.model.live.insert(session, identities(k));
            r.sessions.push(session);
        }
        r
    }

    fn entry(&mut self, command: Command) -> Applied {
        self.zxid += 1;
        self.now += 7;
        self.tree.apply(&Entry {
            zxid: self.zxid,
            time_ms: self.now,
            command,
        })
    }

    fn write(&mut self, s: usize, request: Request) -> Applied {
        let session = self.sessions[s];
        self.entry(Command::Client { session, request })
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let (z, t) = (self.zxid + 1, self.now + 7);
        let mut ev = Vec::new();
        let sid = |s: &usize| self.sessions[*s];
        let live = |m: &Model, s: i64| m.live.get(&s).cloned();
        let expired = |s: i64| e(ErrorCode::SessionExpired, &format!("session 0x{s:x}"));
        let (got, want, got_n): (
            Result<Response, ZkError>,
            Result<Response, ZkError>,
            Vec<Notification>,
        ) = match op {
            Op::Create {
                s,
                path,
                mode: m,
                data,
                locked,
            } => {
                let sess = sid(s);
                let req = CreateRequest {
                    path: PATHS[*path].into(),
                    data: vec![*data],
                    acl: acl(*locked),
                    mode: mode(*m),
                    ttl_ms: None,
                };
                let a = self.write(*s, Request::Create(req));
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(ids) => self
                        .model
                        .create(
                            sess,
                            &ids,
                            PATHS[*path],
                            mode(*m),
                            &[*data],
                            acl(*locked),
                            z,
                            t,
                            &mut ev,
                        )
                        .map(|(path, stat)| Response::Create { path, stat }),
                };
                (a.result.clone(), want, a.notifications())
            }
            Op::Delete { s, path, version } => {
                let sess = sid(s);
                let a = self.write(
                    *s,
                    Request::Delete {
                        path: PATHS[*path].into(),
                        version: *version,
                    },
                );
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(ids) => self
                        .model
                        .delete(&ids, PATHS[*path], *version, z, &mut ev)
                        .map(|()| Response::Delete),
                };
                (a.result.clone(), want, a.notifications())
            }
            Op::Set {
                s,
                path,
                data,
                version,
            } => {
                let sess = sid(s);
                let a = self.write(
                    *s,
                    Request::SetData {
                        path: PATHS[*path].into(),
                        data: vec![*data; 3],
                        version: *version,
                    },
                );
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(ids) => self
                        .model
                        .set(&ids, PATHS[*path], &[*data; 3], *version, z, t, &mut ev)
                        .map(|stat| Response::SetData { stat }),
                };
                (a.result.clone(), want, a.notifications())
            }
            Op::SetAcl {
                s,
                path,
                locked,
                aversion,
            } => {
                let sess = sid(s);
                let a = self.write(
                    *s,
                    Request::SetAcl {
                        path: PATHS[*path].into(),
                        acl: acl(*locked),
                        aversion: *aversion,
                    },
                );
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(ids) => self
                        .model
                        .node(&ids, PATHS[*path], Perms::ADMIN)
                        .map(|n| n.stat.aversion)
                        .and_then(|av| {
                            if *aversion != -1 && *aversion != av {
                                return Err(e(ErrorCode::BadVersion, PATHS[*path]));
                            }
                            let n = self.model.nodes.get_mut(PATHS[*path]).unwrap();
                            n.acl = acl(*locked);
                            n.stat.aversion += 1;
                            Ok(Response::SetAcl { stat: n.stat })
                        }),
                };
                (a.result.clone(), want, a.notifications())
            }
            Op::Multi { s, ops } => {
                let sess = sid(s);
                let req: Vec<MultiOp> = ops
                    .iter()
                    .map(|o| match o {
                        MOp::Create { path, mode: m } => MultiOp::Create(CreateRequest {
                            path: PATHS[*path].into(),
                            data: vec![],
                            acl: Acl::open_unsafe(),
                            mode: mode(*m),
                            ttl_ms: None,
                        }),
                        MOp::Delete { path, version } => MultiOp::Delete {
                            path: PATHS[*path].into(),
                            version: *version,
                        },
                        MOp::Set { path, version } => MultiOp::SetData {
                            path: PATHS[*path].into(),
                            data: b"m".to_vec(),
                            version: *version,
                        },
                        MOp::Check { path, version } => MultiOp::Check {
                            path: PATHS[*path].into(),
                            version: *version,
                        },
                    })
                    .collect();
                let a = self.write(*s, Request::Multi(req));
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(ids) => Ok(self.model.multi(sess, &ids, ops, z, t, &mut ev)),
                };
                (a.result.clone(), want, a.notifications())
            }
            Op::Close { s } => {
                let sess = sid(s);
                let a = self.write(*s, Request::Close);
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(_) => {
                        self.model.close(sess, z, &mut ev);
                        Ok(Response::Close)
                    }
                };
                (a.result.clone(), want, a.notifications())
            }
            Op::Reap => {
                let candidates = self.tree.data().containers_to_reap(self.now);
                let a = self.entry(Command::ReapContainers { paths: candidates });
                let paths = self.model.reap(z, &mut ev);
                (
                    a.result.clone(),
                    Ok(Response::Housekeeping {
                        sessions: vec![],
                        paths,
                    }),
                    a.notifications(),
                )
            }
            Op::GetData { s, path, watch }
            | Op::Exists { s, path, watch }
            | Op::Children { s, path, watch } => {
                let sess = sid(s);
                let p = PATHS[*path];
                let req = match op {
                    Op::GetData { .. } => Request::GetData {
                        path: p.into(),
                        watch: *watch,
                    },
                    Op::Exists { .. } => Request::Exists {
                        path: p.into(),
                        watch: *watch,
                    },
                    _ => Request::GetChildren {
                        path: p.into(),
                        watch: *watch,
                        with_stat: true,
                    },
                };
                let got = self.tree.read(sess, &req);
                let want = self.model_read(sess, op, p, *watch);
                (got, want, vec![])
            }
            Op::RemoveWatches { s, path, kind } => {
                let (sess, p) = (sid(s), PATHS[*path]);
                let types = [
                    WatcherType::Data,
                    WatcherType::Children,
                    WatcherType::Any,
                    WatcherType::Persistent,
                    WatcherType::PersistentRecursive,
                ];
                let req = Request::RemoveWatches {
                    path: p.into(),
                    watcher_type: types[*kind as usize],
                };
                let got = self.tree.read(sess, &req);
                let want = self.model_remove_watches(sess, p, *kind);
                (got, want, vec![])
            }
            Op::AllChildren { s, path } => {
                let (sess, p) = (sid(s), PATHS[*path]);
                let got = self
                    .tree
                    .read(sess, &Request::GetAllChildrenNumber { path: p.into() });
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(ids) => self.model.node(&ids, p, Perms::READ).map(|_| {
                        let prefix = if p == "/" {
                            "/".to_string()
                        } else {
                            format!("{p}/")
                        };
                        let count = self
                            .model
                            .nodes
                            .keys()
                            .filter(|k| k.starts_with(&prefix) && k.len() > prefix.len())
                            .count();
                        Response::AllChildrenNumber {
                            count: count as i32,
                        }
                    }),
                };
                (got, want, vec![])
            }
            Op::Ephemerals { s, under_a } => {
                let sess = sid(s);
                let prefix = if *under_a { "/a" } else { "/" };
                let got = self.tree.read(
                    sess,
                    &Request::GetEphemerals {
                        prefix: prefix.into(),
                    },
                );
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(_) => {
                        let paths = self
                            .model
                            .nodes
                            .iter()
                            .filter(|(k, n)| {
                                n.stat.ephemeral_owner == sess && k.starts_with(prefix)
                            })
                            .map(|(k, _)| k.clone())
                            .collect();
                        Ok(Response::Ephemerals { paths })
                    }
                };
                (got, want, vec![])
            }
            Op::AddWatch { s, path, recursive } => {
                let sess = sid(s);
                let p = PATHS[*path];
                let mode = if *recursive {
                    AddWatchMode::PersistentRecursive
                } else {
                    AddWatchMode::Persistent
                };
                let got = self.tree.read(
                    sess,
                    &Request::AddWatch {
                        path: p.into(),
                        mode,
                    },
                );
                let want = match live(&self.model, sess) {
                    None => Err(expired(sess)),
                    Some(_) if !valid(p) => Err(e(ErrorCode::BadArguments, p)),
                    Some(_) => {
                        let set = if *recursive {
                            &mut self.model.rec_w
                        } else {
                            &mut self.model.pers_w
                        };
                        set.insert((p.into(), sess));
                        Ok(Response::AddWatch)
                    }
                };
                (got, want, vec![])
            }
        };
        prop_assert_eq!(got, want, "result of {:?}", op);
        let want_n = self.model.fire(ev, z);
        prop_assert_eq!(got_n, want_n, "notifications of {:?}", op);
        self.compare()
    }

    fn model_read(
        &mut self,
        sess: i64,
        op: &Op,
        p: &str,
        watch: bool,
    ) -> Result<Response, ZkError> {
        let Some(ids) = self.model.live.get(&sess).cloned() else {
            return Err(e(ErrorCode::SessionExpired, &format!("session 0x{sess:x}")));
        };
        match op {
            Op::Exists { .. } => {
                if !valid(p) {
                    return Err(e(ErrorCode::BadArguments, p));
                }
                if watch {
                    self.model.data_w.insert((p.into(), sess));
                }
                Ok(Response::Exists {
                    stat: self.model.nodes.get(p).map(|n| n.stat),
                })
            }
            Op::GetData { .. } => {
                let n = self.model.node(&ids, p, Perms::READ)?.clone();
                if watch {
                    self.model.data_w.insert((p.into(), sess));
                }
                Ok(Response::GetData {
                    data: n.data,
                    stat: n.stat,
                })
            }
            _ => {
                let n = self.model.node(&ids, p, Perms::READ)?.clone();
                if watch {
                    self.model.child_w.insert((p.into(), sess));
                }
                Ok(Response::GetChildren {
                    children: self.model.children(p),
                    stat: Some(n.stat),
                })
            }
        }
    }

    /// removeWatches as ZooKeeper's DataTree.removeWatch: path first, then the session,
    /// then NoWatcher unless a watch of that type was there.
    fn model_remove_watches(&mut self, sess: i64, p: &str, kind: u8) -> Result<Response, ZkError> {
        if !valid(p) {
            return Err(e(ErrorCode::BadArguments, p));
        }
        if !self.model.live.contains_key(&sess) {
            return Err(e(ErrorCode::SessionExpired, &format!("session 0x{sess:x}")));
        }
        let key = (p.to_string(), sess);
        let m = &mut self.model;
        let removed = match kind {
            0 => m.data_w.remove(&key),
            1 => m.child_w.remove(&key),
            2 => {
                let a = m.data_w.remove(&key);
                let b = m.child_w.remove(&key);
                let c = m.pers_w.remove(&key);
                let d = m.rec_w.remove(&key);
                a || b || c || d
            }
            3 => m.pers_w.remove(&key),
            _ => m.rec_w.remove(&key),
        };
        if removed {
            Ok(Response::RemoveWatches)
        } else {
            Err(e(ErrorCode::NoWatcher, p))
        }
    }

    /// Every node's data, ACL and Stat, and the live sessions, agree.
    fn compare(&self) -> Result<(), TestCaseError> {
        let d = self.tree.data();
        let paths = d.paths();
        let model_paths: Vec<&String> = self.model.nodes.keys().collect();
        let mut sorted = paths.clone();
        sorted.sort();
        prop_assert_eq!(sorted.iter().collect::<Vec<_>>(), model_paths);
        for p in &paths {
            let (data, stat) = d.get(p).unwrap();
            let m = &self.model.nodes[p];
            prop_assert_eq!(&stat, &m.stat, "stat of {}", p);
            prop_assert_eq!(data, &m.data[..], "data of {}", p);
            prop_assert_eq!(d.acl(p).unwrap(), &m.acl[..], "acl of {}", p);
            prop_assert_eq!(d.children(p), self.model.children(p), "children of {}", p);
        }
        let live: Vec<i64> = d.sessions().map(|s| s.id).collect();
        prop_assert_eq!(live, self.model.live.keys().copied().collect::<Vec<_>>());
        self.tree.check_invariants().map_err(TestCaseError::fail)?;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_agree_with_the_reference_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut run = Run::new();
        for op in &ops {
            run.step(op)?;
        }
    }
}
