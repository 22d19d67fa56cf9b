//! Rates of the tree's hot paths on a 1M-znode tree, per second of CPU time on one core
//! (from /proc/thread-self/schedstat) and per second of wall time. CPU time is the honest
//! "one core" figure on a shared machine, where wall time also counts time spent waiting
//! for the CPU.
//!
//! Run: `cargo bench -p corral-core --bench tree_throughput`
//! For profiling the creates alone under `perf`, `TREE_BENCH_ONLY_CREATE=1` stops after
//! them; `TREE_BENCH_ONLY_SPARSE=1` runs only the sparse-tree writes (the last line).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use corral_core::tree::{
    Acl, Command, CreateMode, CreateRequest, Entry, Limits, Request, Response, SessionId, Tree,
};

/// The node binary's allocator (mimalloc, with transparent huge pages), so the
/// figures are the ones a node gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NODES: usize = 1_000_000;
const GROUPS: usize = 1000;

/// CPU time this thread has run, in ns.
fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// Runs `f` `n` times and prints its rate per CPU second and per wall second.
fn rate(name: &str, n: usize, mut f: impl FnMut(usize)) {
    let (cpu0, wall0) = (cpu_ns(), Instant::now());
    for i in 0..n {
        f(i);
    }
    let cpu_s = (cpu_ns() - cpu0) as f64 / 1e9;
    let wall_s = wall0.elapsed().as_secs_f64();
    println!(
        "{name:<16} {n:>9} ops  {:>10.0} ops/s per CPU second  {:>10.0} ops/s wall  ({:.0} ns CPU/op)",
        n as f64 / cpu_s,
        n as f64 / wall_s,
        cpu_s * 1e9 / n as f64
    );
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

struct Bench {
    tree: Tree,
    session: SessionId,
    zxid: i64,
}

impl Bench {
    /// An empty tree with one session open.
    fn with_session() -> Bench {
        let mut b = Bench {
            tree: Tree::new(Limits::default()),
            session: 0,
            zxid: 0,
        };
        let c = Command::CreateSession {
            timeout_ms: 60_000,
            secret: [1; 16],
            identities: vec![],
        };
        let Ok(Response::SessionCreated { session, .. }) = b.apply(c) else {
            panic!()
        };
        b.session = session;
        b
    }

    fn apply(&mut self, command: Command) -> Result<Response, corral_core::tree::ZkError> {
        self.zxid += 1;
        let e = Entry {
            zxid: self.zxid,
            time_ms: 1_000 + self.zxid,
            command,
        };
        self.tree.apply(&e).result
    }

    fn client(&mut self, request: Request) -> Result<Response, corral_core::tree::ZkError> {
        let session = self.session;
        self.apply(Command::Client { session, request })
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var("TREE_BENCH_ONLY_SPARSE").is_ok() {
        sparse_writes_between_views();
        return;
    }
    let mut b = Bench::with_session();
    let session = b.session;
    for g in 0..GROUPS {
        b.client(create(format!("/g{g}"))).unwrap();
    }
    let existing = NODES - GROUPS;
    rate("apply_create", existing, |i| {
        b.client(create(path(i))).unwrap();
    });
    println!("tree has {} znodes", b.tree.data().node_count());
    if std::env::var("TREE_BENCH_ONLY_CREATE").is_ok() {
        return;
    }
    // Random order over every node, so lookups touch the whole tree, not a cached subset.
    let probes: Vec<String> = (0..existing)
        .map(|k| path((k * 7_919_111 + 13) % existing))
        .collect();
    let view = b.tree.view();
    rate("get_data", existing, |i| {
        let r = view.read(
            session,
            &Request::GetData {
                path: probes[i].clone(),
                watch: false,
            },
        );
        black_box(r.result.unwrap());
    });
    rate("get_data_ref", existing, |i| {
        black_box(view.get_data_ref(session, &probes[i]).unwrap());
    });
    // The same lookups cycling over the first `hot` probes: with 1 to 256 nodes the
    // code runs from cache, which is its own cost; from a few thousand nodes on, each
    // lookup pays this machine's cache and TLB misses (a few dependent ones per lookup).
    for hot in [1usize, 256, 4096] {
        rate(&format!("get_data_hot{hot}"), existing, |i| {
            black_box(view.get_data_ref(session, &probes[i % hot]).unwrap());
        });
    }
    // Calibration: the same random lookups in a plain std HashMap of the same paths, to
    // show how much of the cost is this machine's memory latency.
    let plain: std::collections::HashMap<String, Box<[u8]>> = (0..existing)
        .map(|i| (path(i), vec![7u8; 100].into_boxed_slice()))
        .collect();
    rate("std_hashmap_get", existing, |i| {
        black_box(plain.get(probes[i].as_str()).unwrap());
    });
    drop(plain);
    drop(view);
    rate("apply_set_data", existing, |i| {
        let request = Request::SetData {
            path: probes[i].clone(),
            data: vec![9; 100],
            version: -1,
        };
        b.client(request).unwrap();
    });
    // A replica publishes a read view after each applied batch; the first write after
    // one copies what it touches. Batches of 100 entries, a view held across each.
    let mut view = b.tree.view();
    rate("set_data_view/100", existing, |i| {
        if i % 100 == 0 {
            view = b.tree.view();
        }
        let request = Request::SetData {
            path: probes[i].clone(),
            data: vec![5; 100],
            version: -1,
        };
        b.client(request).unwrap();
    });
    drop(view);
    rate("apply_multi_2ops", existing / 4, |i| {
        let ops = vec![
            corral_core::tree::MultiOp::Check {
                path: probes[i].clone(),
                version: -1,
            },
            corral_core::tree::MultiOp::SetData {
                path: probes[i].clone(),
                data: vec![3; 100],
                version: -1,
            },
        ];
        b.client(Request::Multi(ops)).unwrap();
    });
    rate("take_read_view", 1_000_000, |_| {
        black_box(b.tree.view());
    });
    drop(b);
    sparse_writes_between_views();
}

/// Writes spread over 256 znodes of an otherwise empty tree, a view taken
/// every 150 (what a replica does under `corral-bench compare`'s write load):
/// nearly every write is the first to its part of the map since the view, so
/// this is the price of copy-on-write in a sparse tree.
fn sparse_writes_between_views() {
    const HOT: usize = 256;
    const BATCH: usize = 150;
    let mut b = Bench::with_session();
    b.client(create("/sparse".to_owned())).unwrap();
    let paths: Vec<String> = (0..HOT).map(|i| format!("/sparse/k{i:04}")).collect();
    for p in &paths {
        b.client(create(p.clone())).unwrap();
    }
    let mut view = b.tree.view();
    rate(
        &format!("sparse{HOT}_set_data_view/{BATCH}"),
        1_000_000,
        |i| {
            if i % BATCH == 0 {
                view = b.tree.view();
            }
            let request = Request::SetData {
                path: paths[(i * 7) % HOT].clone(),
                data: vec![5; 100],
                version: -1,
            };
            b.client(request).unwrap();
        },
    );
    drop(view);
}
