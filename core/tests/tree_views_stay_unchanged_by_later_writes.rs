//! Proves a read view is a consistent, frozen copy of the tree: whatever apply
//! does afterwards (setData in place, stat updates of parents, deletes that
//! shift probe runs, creates that grow shard tables, ephemerals removed with a
//! session), every view taken earlier still reads and snapshots exactly as it
//! did when it was taken, and the tree's counts stay exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use corral_core::tree::*;

/// A tree applying client requests of one session, with views taken on the way.
struct Fixture {
    tree: Tree,
    zxid: i64,
    session: SessionId,
}

impl Fixture {
    fn new() -> Fixture {
        let mut f = Fixture {
            tree: Tree::new(Limits::default()),
            zxid: 0,
            session: 0,
        };
        let created = f.apply(Command::CreateSession {
            timeout_ms: 60_000,
            secret: [3; 16],
            identities: vec![],
        });
        let Ok(Response::SessionCreated { session, .. }) = created else {
            panic!("no session: {created:?}");
        };
        f.session = session;
        f
    }

    fn apply(&mut self, command: Command) -> Result<Response, ZkError> {
        self.zxid += 1;
        self.tree
            .apply(&Entry {
                zxid: self.zxid,
                time_ms: 1_000 + self.zxid,
                command,
            })
            .result
    }

    fn client(&mut self, request: Request) -> Result<Response, ZkError> {
        let session = self.session;
        self.apply(Command::Client { session, request })
    }

    fn create(&mut self, path: &str, data: &[u8], mode: CreateMode) {
        self.client(Request::Create(CreateRequest {
            path: path.into(),
            data: data.to_vec(),
            acl: Acl::open_unsafe(),
            mode,
            ttl_ms: None,
        }))
        .unwrap();
    }

    fn set(&mut self, path: &str, data: &[u8]) {
        self.client(Request::SetData {
            path: path.into(),
            data: data.to_vec(),
            version: -1,
        })
        .unwrap();
    }

    fn delete(&mut self, path: &str) {
        self.client(Request::Delete {
            path: path.into(),
            version: -1,
        })
        .unwrap();
    }
}

/// What a view shows: its snapshot bytes, its counts, and the data and stat
/// of `paths` as a reader sees them.
fn seen(view: &DataTree, session: SessionId, paths: &[String]) -> (Vec<u8>, String) {
    let reads: Vec<String> = paths
        .iter()
        .map(|p| match view.get_data_ref(session, p) {
            Ok((data, stat)) => format!("{p}={data:?}@{}/{}", stat.version, stat.num_children),
            Err(e) => format!("{p}:{:?}", e.code),
        })
        .collect();
    let counts = format!(
        "nodes {} bytes {} ephemerals {}",
        view.node_count(),
        view.data_bytes(),
        view.ephemeral_count()
    );
    (view.snapshot(), format!("{counts}\n{}", reads.join("\n")))
}

#[test]
fn views_are_frozen_while_apply_changes_every_kind_of_node() {
    let mut f = Fixture::new();
    let parents = 4;
    let per_parent = 150;
    let paths: Vec<String> = (0..parents)
        .flat_map(|g| (0..per_parent).map(move |i| format!("/g{g}/n{i}")))
        .collect();
    for g in 0..parents {
        f.create(&format!("/g{g}"), b"parent", CreateMode::Persistent);
    }
    for (i, p) in paths.iter().enumerate() {
        let mode = if i % 5 == 0 {
            CreateMode::Ephemeral
        } else {
            CreateMode::Persistent
        };
        f.create(p, format!("v0-{i}").as_bytes(), mode);
    }
    let mut probes = paths.clone();
    probes.extend((0..parents).map(|g| format!("/g{g}")));
    probes.push("/later/x".into());

    let mut views = Vec::new();
    let take = |f: &Fixture, views: &mut Vec<(DataTree, (Vec<u8>, String))>| {
        let view = f.tree.view();
        let before = seen(&view, f.session, &probes);
        views.push((view, before));
    };
    take(&f, &mut views);
    // setData in place on every node, twice, a view in between.
    for round in 1..=2 {
        for (i, p) in paths.iter().enumerate() {
            f.set(p, format!("v{round}-{i}-longer").as_bytes());
        }
        take(&f, &mut views);
    }
    // Deletes of every third node: backward shifts inside shard tables and
    // parent stat updates.
    for p in paths.iter().step_by(3) {
        f.delete(p);
    }
    take(&f, &mut views);
    // Creates that grow the tables again, then the session's ephemerals go.
    f.create("/later", b"", CreateMode::Persistent);
    for i in 0..500 {
        f.create(&format!("/later/x{i}"), b"new", CreateMode::Persistent);
    }
    take(&f, &mut views);
    // Closing the session removes its ephemerals from the live tree only:
    // every view still holds the session and reads through it.
    f.client(Request::Close).unwrap();
    for (k, (view, before)) in views.iter().enumerate() {
        let after = seen(view, f.session, &probes);
        assert_eq!(after.0, before.0, "view {k}: snapshot changed");
        assert_eq!(after.1, before.1, "view {k}: reads changed");
    }
    // The live tree's counts match a walk of its own snapshot.
    let live = f.tree.view();
    let restored = DataTree::restore(&live.snapshot()).unwrap();
    assert_eq!(restored.node_count(), live.node_count());
    assert_eq!(restored.data_bytes(), live.data_bytes());
    assert_eq!(live.ephemeral_count(), 0);
}
