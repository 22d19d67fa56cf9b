//! Throughput of the tree's hot paths on a 1M-znode tree: getData lookups, apply of
//! setData and create, and taking a read view.
//!
//! Run: `cargo bench -p corral-core --bench tree_ops`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use corral_core::tree::{
    Acl, Command, CreateMode, CreateRequest, Entry, Limits, Request, Response, SessionId, Tree,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const NODES: usize = 1_000_000;
const GROUPS: usize = 1000;

/// A tree of `NODES` znodes with 100-byte values under `/g<k>` parents, and its session.
fn big_tree() -> (Tree, SessionId, i64) {
    let mut t = Tree::new(Limits::default());
    let mut zxid = 0;
    let mut next = |t: &mut Tree, command| {
        zxid += 1;
        t.apply(&Entry {
            zxid,
            time_ms: 1_000 + zxid,
            command,
        })
    };
    let c = Command::CreateSession {
        timeout_ms: 60_000,
        secret: [1; 16],
        identities: vec![],
    };
    let Ok(Response::SessionCreated { session, .. }) = next(&mut t, c).result else {
        panic!()
    };
    for g in 0..GROUPS {
        let request = create(format!("/g{g}"));
        next(&mut t, Command::Client { session, request })
            .result
            .unwrap();
    }
    for i in 0..NODES - GROUPS {
        let request = create(path(i));
        next(&mut t, Command::Client { session, request })
            .result
            .unwrap();
    }
    (t, session, zxid)
}

fn path(i: usize) -> String {
    format!("/g{}/n{i}", i % GROUPS)
}

fn create(path: String) -> Request {
    Request::Create(CreateRequest {
        path,
        data: vec![7; 100],
        acl: Acl::open_unsafe(),
        mode: CreateMode::Persistent,
        ttl_ms: None,
    })
}

fn benches(c: &mut Criterion) {
    let (mut tree, session, mut zxid) = big_tree();
    let existing = NODES - GROUPS;
    // A fixed pseudo-random walk over existing paths, so lookups miss the CPU cache.
    let probes: Vec<String> = (0..4096)
        .map(|k| path((k * 7_919_111) % existing))
        .collect();

    let mut g = c.benchmark_group("tree_1M");
    g.throughput(Throughput::Elements(1));
    let view = tree.view();
    let mut k = 0;
    g.bench_function("get_data", |b| {
        b.iter(|| {
            k = (k + 1) % probes.len();
            let r = view.read(
                session,
                &Request::GetData {
                    path: probes[k].clone(),
                    watch: false,
                },
            );
            black_box(r)
        })
    });
    g.bench_function("take_read_view", |b| b.iter(|| black_box(tree.view())));
    drop(view);
    let mut k = 0;
    g.bench_function("apply_set_data", |b| {
        b.iter(|| {
            k = (k + 1) % probes.len();
            zxid += 1;
            let request = Request::SetData {
                path: probes[k].clone(),
                data: vec![9; 100],
                version: -1,
            };
            let e = Entry {
                zxid,
                time_ms: 10_000 + zxid,
                command: Command::Client { session, request },
            };
            black_box(tree.apply(&e))
        })
    });
    let mut n = 0usize;
    g.bench_function("apply_create", |b| {
        b.iter(|| {
            n += 1;
            zxid += 1;
            let request = create(format!("/g{}/new{n}", n % GROUPS));
            let e = Entry {
                zxid,
                time_ms: 10_000 + zxid,
                command: Command::Client { session, request },
            };
            black_box(tree.apply(&e))
        })
    });
    g.finish();
}

criterion_group! {
    name = tree;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(tree);
