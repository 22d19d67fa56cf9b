//! Proves no request a client can send makes apply panic, and a refused request leaves
//! the tree exactly as it was: random paths (any characters), data around the size
//! limit, ACLs with any scheme and id, TTLs and versions anywhere in their ranges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use corral_core::tree::*;
use proptest::prelude::*;

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["/", "/a", "/a/b", "/a/b/c", "/e", "/e/x", "/c", "/c/k", "/t"]).prop_map(String::from),
        2 => "(/[a-c.]{0,3}){0,4}/?",
        1 => any::<String>(),
        1 => "/[\\x00-\\x20\\u{7f}-\\u{a0}\\u{d7ff}-\\u{e001}\\u{fff0}-\\u{ffff}\\u{10000}]{1,3}",
    ]
}

fn acl() -> impl Strategy<Value = Vec<Acl>> {
    let id = prop_oneof![
        Just(Id::anyone()),
        Just(Id::x509("me")),
        Just(Id::digest("u:p")),
        Just(Id::new("auth", "")),
        ("[a-z]{0,6}", ".{0,12}").prop_map(|(s, i)| Id::new(s, i)),
    ];
    prop::collection::vec(
        (any::<u32>(), id).prop_map(|(p, id)| Acl::new(Perms(p), id)),
        0..4,
    )
}

fn mode() -> impl Strategy<Value = CreateMode> {
    (0..7i32).prop_map(|f| CreateMode::from_flag(f).unwrap())
}

fn ttl() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(-5)),
        Just(Some(TTL_MS_MAX + 1)),
        Just(Some(i64::MAX)),
        (1..10_000i64).prop_map(Some)
    ]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..16),
        (60..70usize).prop_map(|n| vec![1; n])
    ]
}

fn version() -> impl Strategy<Value = i32> {
    prop_oneof![Just(-1), Just(i32::MIN), Just(i32::MAX), -2..3i32]
}

fn create() -> impl Strategy<Value = CreateRequest> {
    (path(), data(), acl(), mode(), ttl()).prop_map(|(path, data, acl, mode, ttl_ms)| {
        CreateRequest {
            path,
            data,
            acl,
            mode,
            ttl_ms,
        }
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        4 => create().prop_map(Request::Create),
        2 => (path(), version()).prop_map(|(path, version)| Request::Delete { path, version }),
        2 => (path(), data(), version()).prop_map(|(path, data, version)| Request::SetData { path, data, version }),
        1 => (path(), acl(), version()).prop_map(|(path, acl, aversion)| Request::SetAcl { path, acl, aversion }),
        1 => (path(), any::<bool>()).prop_map(|(path, watch)| Request::GetData { path, watch }),
        1 => (path(), any::<bool>(), any::<bool>()).prop_map(|(path, watch, with_stat)| Request::GetChildren { path, watch, with_stat }),
        1 => path().prop_map(|path| Request::GetAllChildrenNumber { path }),
        1 => path().prop_map(|prefix| Request::GetEphemerals { prefix }),
        1 => path().prop_map(|path| Request::GetAcl { path }),
        1 => path().prop_map(|path| Request::RemoveWatches { path, watcher_type: WatcherType::Any }),
        1 => (path(), any::<bool>()).prop_map(|(path, r)| Request::AddWatch { path, mode: if r { AddWatchMode::PersistentRecursive } else { AddWatchMode::Persistent } }),
        1 => ("[a-z]{0,6}", prop::collection::vec(any::<u8>(), 0..10)).prop_map(|(scheme, auth)| Request::AddAuth { scheme, auth }),
        2 => prop::collection::vec(prop_oneof![
            create().prop_map(MultiOp::Create),
            (path(), version()).prop_map(|(path, version)| MultiOp::Delete { path, version }),
            (path(), data(), version()).prop_map(|(path, data, version)| MultiOp::SetData { path, data, version }),
            (path(), version()).prop_map(|(path, version)| MultiOp::Check { path, version }),
        ], 0..5).prop_map(Request::Multi),
        1 => prop::collection::vec(path().prop_map(|path| ReadOp::GetData { path }), 0..4).prop_map(Request::MultiRead),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        12 => request().prop_map(|request| Command::Client { session: 1, request }),
        1 => request().prop_map(|request| Command::Client { session: 99, request }),
        1 => (any::<i64>(), prop::collection::vec(Just(Id::x509("me")), 0..80)).prop_map(|(timeout_ms, identities)| Command::CreateSession { timeout_ms, secret: [0; 16], identities }),
        1 => prop::collection::vec(any::<i64>(), 0..3).prop_map(|sessions| Command::ExpireSessions { sessions }),
        1 => prop::collection::vec(path(), 0..3).prop_map(|paths| Command::ReapContainers { paths }),
        1 => prop::collection::vec(path(), 0..3).prop_map(|paths| Command::ReapTtl { paths }),
    ]
}

/// Data, ACL and Stat of every node.
fn nodes(t: &Tree) -> Vec<(String, Vec<u8>, Stat, Vec<Acl>)> {
    let d = t.data();
    d.paths()
        .into_iter()
        .map(|p| {
            let (data, stat) = d.get(&p).unwrap();
            let acl = d.acl(&p).unwrap().to_vec();
            (p, data.to_vec(), stat, acl)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn hostile_requests_never_panic_and_refusals_change_nothing(commands in prop::collection::vec(command(), 1..40)) {
        let limits = Limits { data_bytes_max: 64, ..Limits::default() };
        let mut t = Tree::new(limits);
        let c = Command::CreateSession { timeout_ms: 10_000, secret: [1; 16], identities: vec![Id::x509("me")] };
        t.apply(&Entry { zxid: 1, time_ms: 0, command: c }).result.unwrap();
        for (i, command) in commands.into_iter().enumerate() {
            let before = nodes(&t);
            let a = t.apply(&Entry { zxid: i as i64 + 2, time_ms: i as i64 * 1000, command: command.clone() });
            let failed = a.result.is_err() || a.result.as_ref().ok().and_then(Response::multi_error).is_some();
            if failed {
                prop_assert_eq!(nodes(&t), before, "refused {:?} changed the tree", command);
                prop_assert!(a.fired.firings.is_empty());
            }
            if let Err(e) = &a.result {
                // Every error names its subject; only an empty path names the empty string.
                let subject_ok = !e.path.is_empty() || e.code == ErrorCode::BadArguments;
                prop_assert!(subject_ok, "error without a subject: {:?}", e);
            }
            t.check_invariants().map_err(TestCaseError::fail)?;
        }
    }
}

#[test]
fn a_replayed_entry_changes_nothing() {
    let mut t = Tree::new(Limits::default());
    let c = Command::CreateSession {
        timeout_ms: 10_000,
        secret: [1; 16],
        identities: vec![],
    };
    t.apply(&Entry {
        zxid: 1,
        time_ms: 0,
        command: c,
    })
    .result
    .unwrap();
    let create = Request::Create(CreateRequest {
        path: "/s".into(),
        data: vec![],
        acl: Acl::open_unsafe(),
        mode: CreateMode::PersistentSequential,
        ttl_ms: None,
    });
    let e = Entry {
        zxid: 2,
        time_ms: 0,
        command: Command::Client {
            session: 1,
            request: create,
        },
    };
    assert!(t.apply(&e).result.is_ok());
    let before = t.data().clone();
    assert_eq!(t.apply(&e).result.unwrap_err().code, ErrorCode::SystemError);
    assert_eq!(t.data(), &before);
}
