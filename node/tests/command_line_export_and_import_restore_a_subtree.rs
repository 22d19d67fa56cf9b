//! Proves that `corral export` and `corral import` restore a subtree as it
//! was, against a 3-node cluster of real `corral serve` processes: every
//! mode an export keeps (persistent, container, TTL), binary data, x509 and
//! digest ACLs, a sequential name; an ephemeral left out and counted; a
//! znode that cannot be read, or whose digest comes back hidden, stopping
//! the export with its path; a second import finding everything unchanged;
//! a changed znode stopping the import unless `--overwrite`; a bad line
//! stopping it with its number after the lines before it were created; a
//! hand-written file seeding a tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use cli_support::{Cli, serving_cluster, spawn_ephemeral};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// The digest identity some znodes are locked to.
const AUTH: &str = "ops:secret";

/// `digest:ops:HASH:cdrwa`, the ACL entry of [`AUTH`] (learnt from the
/// server: `auth::` grants every identity of the session, its x509 one too).
fn digest_entry(cli: &Cli) -> String {
    cli.ok(&["create", "--auth", AUTH, "--acl", "auth::cdrwa", "/digest"]);
    let acl = cli.ok(&["getacl", "/digest", "--auth", AUTH]);
    cli.ok(&["delete", "/digest"]);
    acl.lines()
        .find(|entry| entry.starts_with("digest:ops:"))
        .unwrap_or_else(|| panic!("no digest entry in {acl}"))
        .to_owned()
}

/// Builds /src with one znode of each kind an export keeps.
fn build_tree(cli: &Cli) -> String {
    cli.ok(&["create", "/src", "top"]);
    cli.ok(&["create", "/src/config", "v=1\nline two"]);
    let output = cli.run_with_stdin(&["create", "/src/bin", "-"], b"\x00\xff\x1b\n");
    assert!(output.status.success(), "{output:?}");
    cli.ok(&["create", "-c", "/src/jobs"]);
    cli.ok(&["create", "/src/jobs/j1", "job"]);
    cli.ok(&["create", "--ttl", "3600000", "/src/lease", "held"]);
    cli.ok(&[
        "create",
        "--acl",
        "x509:dev:cdrwa,world:anyone:r",
        "/src/private",
        "mine",
    ]);
    cli.ok(&["create", "/src/dig", "d"]);
    let digest = digest_entry(cli);
    cli.ok(&["setacl", "/src/dig", &digest]);
    cli.ok(&["create", "-s", "/src/seq-", "s"])
        .trim()
        .to_owned()
}

/// The records of an export (with the digest identity), and its stderr.
fn export(cli: &Cli, path: &str) -> (Vec<Value>, String) {
    let output = cli.run(&["export", path, "--auth", AUTH]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "export {path}: {stderr}");
    let records = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    (records, stderr)
}

/// Imports `file` from stdin with the digest identity; the exit code and stderr.
fn import(cli: &Cli, file: &[u8], extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["import", "--auth", AUTH];
    args.extend_from_slice(extra);
    let output = cli.run_with_stdin(&args, file);
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn lines_of(records: &[Value]) -> Vec<u8> {
    let mut file = Vec::new();
    for record in records {
        file.extend_from_slice(serde_json::to_string(record).unwrap().as_bytes());
        file.push(b'\n');
    }
    file
}

fn record<'a>(records: &'a [Value], path: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no record of {path} in {records:?}"))
}

fn export_keeps_every_kind_and_leaves_ephemerals_out(cli: &Cli, seq_path: &str) -> Vec<Value> {
    // An ephemeral under /src, held by a running `create -e`.
    let (mut holder, line) = spawn_ephemeral(cli, "/src/eph", "e");
    assert_eq!(line.trim(), "/src/eph");
    let (records, stderr) = export(cli, "/src");
    kill(Pid::from_raw(holder.id() as i32), Signal::SIGTERM).unwrap();
    holder.wait().unwrap();
    assert!(
        stderr.contains("9 znodes from /src (1 ephemerals left out"),
        "{stderr}"
    );
    let paths: Vec<&str> = records
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/src",
            "/src/bin",
            "/src/config",
            "/src/dig",
            "/src/jobs",
            "/src/jobs/j1",
            "/src/lease",
            "/src/private",
            seq_path
        ],
        "pre-order, siblings sorted, no ephemeral"
    );
    let bin = record(&records, "/src/bin");
    assert_eq!(bin["data"], Value::Null, "not UTF-8: no text");
    assert_eq!(bin["data_base64"], "AP8bCg==");
    assert_eq!(record(&records, "/src/config")["data"], "v=1\nline two");
    assert_eq!(record(&records, "/src/jobs")["mode"], "container");
    let lease = record(&records, "/src/lease");
    assert_eq!(
        (&lease["mode"], &lease["ttl_ms"]),
        (&"ttl".into(), &3_600_000.into())
    );
    assert_eq!(
        record(&records, "/src/private")["acl"],
        serde_json::json!(["x509:dev:cdrwa", "world:anyone:r"])
    );
    let dig_acl = record(&records, "/src/dig")["acl"].to_string();
    assert_eq!(
        dig_acl,
        format!("[{:?}]", digest_entry(cli)),
        "the digest with its hash"
    );
    assert_eq!(record(&records, "/src")["mode"], "persistent");
    records
}

fn export_stops_at_what_it_cannot_copy_whole(cli: &Cli) {
    // No READ on /src/dig without the digest identity (what comes before it
    // is printed: the exit code and stderr say the copy is not whole).
    let output = cli.run(&["export", "/src"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("NoAuth: /src/dig"), "{stderr}");
    // Readable by anyone, but its digest is hidden from a reader without ADMIN.
    let digest = digest_entry(cli);
    cli.ok(&[
        "create",
        "--acl",
        &format!("{digest},world:anyone:r"),
        "/hidden",
    ]);
    let stderr = cli.fails(&["export", "/hidden"], 1);
    assert!(
        stderr.contains("NoAuth: /hidden") && stderr.contains("without its digest"),
        "{stderr}"
    );
}

fn import_restores_and_is_idempotent(cli: &Cli, records: &[Value]) {
    let file = lines_of(records);
    cli.ok(&["delete", "-R", "/src", "--auth", AUTH]);
    let (code, stderr) = import(cli, &file, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("9 created, 0 unchanged, 0 replaced"),
        "{stderr}"
    );
    let (again, _) = export(cli, "/src");
    assert_eq!(again, records, "the restored subtree exports the same");

    // From a file this time: everything is there already.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.jsonl");
    std::fs::write(&path, &file).unwrap();
    let output = cli.run(&["import", path.to_str().unwrap(), "--auth", AUTH]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("0 created, 9 unchanged, 0 replaced"),
        "{stderr}"
    );
}

fn a_changed_znode_needs_overwrite(cli: &Cli, records: &[Value]) {
    let file = lines_of(records);
    cli.ok(&["set", "/src/config", "changed"]);
    let (code, stderr) = import(cli, &file, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("NodeExists: /src/config: it exists with other data")
            && stderr.contains("(line 3)"),
        "{stderr}"
    );
    assert_eq!(
        cli.ok(&["get", "/src/config"]),
        "changed\n",
        "left as it was"
    );
    let (code, stderr) = import(cli, &file, &["--overwrite"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("0 created, 8 unchanged, 1 replaced"),
        "{stderr}"
    );
    assert_eq!(cli.ok(&["get", "/src/config"]), "v=1\nline two\n");
}

fn bad_lines_stop_the_import_with_their_number(cli: &Cli) {
    let (code, stderr) = import(
        cli,
        b"{\"path\":\"/bad\"}\n\nnot json\n{\"path\":\"/bad/x\"}\n",
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("line 3: not a znode record"), "{stderr}");
    assert!(stderr.contains("1 created"), "{stderr}");
    assert_eq!(cli.ok(&["ls", "/bad"]), "", "/bad made, /bad/x never sent");
    let (code, stderr) = import(cli, b"{\"path\":\"/bad/t\",\"mode\":\"ttl\"}\n", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("line 1: /bad/t: mode ttl needs ttl_ms"),
        "{stderr}"
    );
}

fn a_hand_written_file_seeds_a_tree(cli: &Cli) {
    let file = b"{\"path\":\"/seeded\",\"data\":\"v=1\"}\n{\"path\":\"/seeded/ro\",\"acl\":[\"world:anyone:r\"]}\n";
    let (code, stderr) = import(cli, file, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(cli.ok(&["get", "/seeded"]), "v=1\n");
    assert_eq!(cli.ok(&["getacl", "/seeded"]), "world:anyone:cdrwa\n");
    assert_eq!(cli.ok(&["getacl", "/seeded/ro"]), "world:anyone:r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_export_and_import_restore_a_subtree() {
    let cluster = serving_cluster().await;
    let cli = Cli::new(&cluster);
    let seq_path = build_tree(&cli);
    let records = export_keeps_every_kind_and_leaves_ephemerals_out(&cli, &seq_path);
    export_stops_at_what_it_cannot_copy_whole(&cli);
    import_restores_and_is_idempotent(&cli, &records);
    a_changed_znode_needs_overwrite(&cli, &records);
    bad_lines_stop_the_import_with_their_number(&cli);
    a_hand_written_file_seeds_a_tree(&cli);
}
