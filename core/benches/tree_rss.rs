//! Resident memory of a tree of 1M znodes with 100-byte values, read from
//! /proc/self/status (VmRSS) before and after building it.
//!
//! Run: `cargo bench -p corral-core --bench tree_rss`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use corral_core::tree::{
    Acl, Command, CreateMode, CreateRequest, Entry, Limits, Request, Response, Tree,
};

/// The node binary's allocator, so the figure is the one a node gets.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench target
    }
    let before = rss_kib();
    let mut t = Tree::new(Limits::default());
    let mut zxid = 0;
    let mut apply = |t: &mut Tree, command| {
        zxid += 1;
        t.apply(&Entry {
            zxid,
            time_ms: zxid,
            command,
        })
    };
    let c = Command::CreateSession {
        timeout_ms: 60_000,
        secret: [1; 16],
        identities: vec![],
    };
    let Ok(Response::SessionCreated { session, .. }) = apply(&mut t, c).result else {
        panic!()
    };
    let groups = 1000;
    let total = 1_000_000;
    for i in 0..total {
        let path = if i < groups {
            format!("/g{i}")
        } else {
            format!("/g{}/n{i}", i % groups)
        };
        let request = Request::Create(CreateRequest {
            path,
            data: vec![7; 100],
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            ttl_ms: None,
        });
        apply(&mut t, Command::Client { session, request })
            .result
            .unwrap();
    }
    let after = rss_kib();
    println!(
        "tree_rss: {} znodes with 100-byte values: RSS {:.1} MiB (process {:.1} MiB, baseline {:.1} MiB)",
        t.data().node_count(),
        (after - before) as f64 / 1024.0,
        after as f64 / 1024.0,
        before as f64 / 1024.0
    );
}
