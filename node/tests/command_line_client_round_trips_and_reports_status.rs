//! Proves the `corral` command-line client works as a user runs it, against
//! a 3-node cluster of real `corral serve` processes: every command is the
//! real binary (CARGO_BIN_EXE_corral) in its own process, connected through
//! the CORRAL_* variables (or the flags), and its stdout is parsed.
//!
//! One cluster for the whole file (CI has 2 cores); the checks run in order:
//! create/get/set/ls -R/stat/getacl/setacl/sync/delete -R round trip with
//! `--json` parsed and checked, text output (escaped binary data, the stat
//! lines), errors (`NoNode: PATH` on stderr, exit 1; a bad ACL, exit 2), an
//! ephemeral node held by `create -e` until its process is stopped, `lock`
//! running a command under a lock and `elect` handing leadership on, `watch
//! -R`, `get -w` and `ls -w` printing the events of changes made by other
//! commands, in order, and `status` listing 3 nodes with one leader, then,
//! once the node serving a running `watch` is killed, still answering with
//! that node marked unreachable while the watch resumes elsewhere and prints
//! the next change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cli_support::{COMMAND_TIMEOUT, Cli, serving_cluster, spawn_ephemeral, wait_output};
use corral_tests::cluster::Cluster;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

fn round_trip(cli: &Cli) {
    // create, with data from an argument and from stdin, sequential.
    let created = cli.json(&["create", "/cli", "v1"]);
    assert_eq!(created["path"], "/cli");
    assert_eq!(created["stat"]["version"], 0);
    assert_eq!(created["stat"]["data_length"], 2);
    let seq = cli.json(&["create", "-s", "/cli/seq-"]);
    let seq_path = seq["path"].as_str().unwrap().to_owned();
    let suffix = seq_path.strip_prefix("/cli/seq-").unwrap();
    assert!(
        suffix.len() == 10 && suffix.bytes().all(|b| b.is_ascii_digit()),
        "{seq_path}"
    );
    assert_eq!(cli.ok(&["create", "/cli/a"]), "/cli/a\n");
    let binary_data: &[u8] = b"bin\x1b[31m\xff\x00\n";
    let output = cli.run_with_stdin(&["create", "/cli/a/b", "-"], binary_data);
    assert!(output.status.success(), "{output:?}");

    // get: JSON keeps the bytes, text escapes them, --raw writes them as they are.
    let got = cli.json(&["get", "/cli/a/b"]);
    assert_eq!(got["path"], "/cli/a/b");
    assert_eq!(got["data"], Value::Null, "not UTF-8, so no text");
    assert_eq!(got["data_base64"], "YmluG1szMW3/AAo=");
    assert_eq!(got["stat"]["data_length"], binary_data.len());
    assert_eq!(cli.ok(&["get", "/cli/a/b"]), "bin\\x1b[31m\\xff\\x00\\n\n");
    assert_eq!(cli.run(&["get", "--raw", "/cli/a/b"]).stdout, binary_data);
    assert_eq!(cli.json(&["get", "/cli"])["data"], "v1");

    // set with a version; a stale version is refused with BadVersion.
    let set = cli.json(&["set", "-v", "0", "/cli", "v2"]);
    assert_eq!(
        (set["path"].as_str(), set["stat"]["version"].as_i64()),
        (Some("/cli"), Some(1))
    );
    assert_eq!(
        cli.ok(&["set", "/cli", "v3"]),
        "",
        "set prints nothing without --json"
    );
    let stderr = cli.fails(&["set", "-v", "1", "/cli", "v4"], 1);
    assert_eq!(stderr.trim(), "BadVersion: /cli");
    assert_eq!(cli.ok(&["get", "/cli"]), "v3\n");

    // ls and ls -R.
    let ls = cli.json(&["ls", "/cli"]);
    let seq_name = seq_path.strip_prefix("/cli/").unwrap();
    assert_eq!(ls["children"], serde_json::json!(["a", seq_name]));
    let tree = cli.json(&["ls", "-R", "/cli"]);
    assert_eq!(
        tree["paths"],
        serde_json::json!(["/cli", "/cli/a", "/cli/a/b", seq_path])
    );
    assert_eq!(
        cli.ok(&["ls", "-R", "/cli/a"]),
        "/cli/a\n/cli/a/b\n",
        "text: one path per line"
    );

    // stat.
    let stat = cli.json(&["stat", "/cli"])["stat"].clone();
    assert_eq!(stat["version"], 2);
    assert_eq!(stat["num_children"], 2);
    assert_eq!(stat["data_length"], 2);
    assert_eq!(stat["ephemeral_owner"], 0);
    assert!(stat["mzxid"].as_i64().unwrap() > stat["czxid"].as_i64().unwrap());
    let text = cli.ok(&["stat", "/cli"]);
    assert!(text.contains("\ndataVersion = 2\n"), "{text}");
    assert!(text.contains("\nnumChildren = 2\n"), "{text}");

    // getacl / setacl: the client certificate's identity is x509:dev.
    let acl = cli.json(&["getacl", "/cli"]);
    assert_eq!(
        acl["acl"],
        serde_json::json!([{"scheme": "world", "id": "anyone", "perms": "cdrwa"}])
    );
    assert_eq!(cli.ok(&["getacl", "/cli"]), "world:anyone:cdrwa\n");
    let set_acl = cli.json(&["setacl", "/cli/a", "world:anyone:r,x509:dev:cdrwa"]);
    assert_eq!(set_acl["stat"]["aversion"], 1);
    assert_eq!(
        cli.ok(&["getacl", "/cli/a"]),
        "world:anyone:r\nx509:dev:cdrwa\n"
    );
    cli.ok(&["set", "/cli/a", "allowed for x509:dev"]);
    cli.ok(&["setacl", "/cli/a/b", "world:anyone:r"]);
    let stderr = cli.fails(&["set", "/cli/a/b", "refused"], 1);
    assert_eq!(stderr.trim(), "NoAuth: /cli/a/b");
    let stderr = cli.fails(&["setacl", "/cli/a", "world:anyone:rx"], 2);
    assert!(stderr.contains("world:anyone:rx"), "{stderr}");

    // sync prints nothing and succeeds.
    assert_eq!(cli.ok(&["sync", "/cli"]), "");

    // delete: not empty is refused; -R removes the subtree.
    let stderr = cli.fails(&["delete", "/cli"], 1);
    assert_eq!(stderr.trim(), "NotEmpty: /cli");
    cli.fails(&["delete", "-v", "7", &seq_path], 1);
    cli.ok(&["delete", "-v", "0", &seq_path]);
    assert_eq!(cli.ok(&["delete", "-R", "/cli"]), "");
    let stderr = cli.fails(&["stat", "/cli"], 1);
    assert_eq!(stderr.trim(), "NoNode: /cli");
    let stderr = cli.fails(&["get", "/cli/a/b"], 1);
    assert_eq!(stderr.trim(), "NoNode: /cli/a/b");
}

/// The flags work without the variables, and a missing setting is named.
fn flags_and_missing_settings(cli: &Cli) {
    let value = |name: &str| cli.env.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    let mut command = cli.command(&["ls", "/"]);
    for (name, _) in &cli.env {
        command.env_remove(name);
    }
    let output = command
        .args(["--endpoints", &value("CORRAL_ENDPOINTS")])
        .args(["--ca", &value("CORRAL_CA")])
        .args(["--cert", &value("CORRAL_CERT")])
        .args(["--key", &value("CORRAL_KEY")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_output(output, &["ls", "/", "(flags)"]);
    assert!(output.status.success(), "{output:?}");

    let mut command = cli.command(&["ls", "/"]);
    command.env_remove("CORRAL_ENDPOINTS");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_output(child, &["ls", "/", "(no endpoints)"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CORRAL_ENDPOINTS"), "{stderr}");
}

/// `create -e` holds its session, so the node lives until the command is
/// stopped; then the session is closed and the node is gone.
fn ephemeral_lives_as_long_as_its_command(cli: &Cli) {
    let (mut holder, line) = spawn_ephemeral(cli, "/held", "mine");
    let pid = Pid::from_raw(holder.id() as i32);
    assert_eq!(line, "/held\n");
    let stat = cli.json(&["stat", "/held"]);
    assert_ne!(
        stat["stat"]["ephemeral_owner"], 0,
        "an ephemeral has an owner"
    );
    assert!(
        holder.try_wait().unwrap().is_none(),
        "create -e holds its session"
    );

    kill(pid, Signal::SIGTERM).unwrap();
    let status = wait_output(holder, &["create", "-e", "(after SIGTERM)"]).status;
    assert!(
        status.success(),
        "create -e ends cleanly on SIGTERM: {status}"
    );
    let stderr = cli.fails(&["stat", "/held"], 1);
    assert_eq!(
        stderr.trim(),
        "NoNode: /held",
        "the closed session took its ephemeral"
    );
}

/// A running `corral` whose output lines are read as they come; killed
/// (by its PID) if dropped while it runs.
struct Running {
    child: Option<Child>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Running {
    fn start(cli: &Cli, args: &[&str]) -> Self {
        let mut child = cli
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Self {
            child: Some(child),
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().map_or(0, Child::id) as i32)
    }

    /// The next stdout line, within [`COMMAND_TIMEOUT`].
    fn next_line(&mut self) -> String {
        match self.stdout.recv_timeout(COMMAND_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                panic!("no line on stdout within {COMMAND_TIMEOUT:?}: {e}");
            }
        }
    }

    /// Waits for a stderr line containing `text`.
    fn wait_stderr(&mut self, text: &str) {
        loop {
            match self.stderr.recv_timeout(COMMAND_TIMEOUT) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => {
                    panic!("no {text:?} on stderr within {COMMAND_TIMEOUT:?}: {e}");
                }
            }
        }
    }

    /// Waits for the process to exit by itself; returns whether it succeeded.
    fn wait_success(mut self, what: &str) -> bool {
        let child = self.child.take().unwrap();
        wait_output(child, &[what]).status.success()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// `lock -- COMMAND` runs the command holding the lock (its environment
/// names the lock and the fencing token) and passes its exit code on; while
/// `lock` without a command holds it until SIGTERM, `--wait-ms` gives up
/// with exit 1; `lock --read` holders hold together and exclude a plain
/// `lock`, and a writer excludes them; `elect` wins when the leader before
/// it resigns, and `elect -l` prints each leader in turn.
fn lock_and_elect_from_the_shell(cli: &Cli) {
    let script = "echo \"$CORRAL_LOCK_PATH $CORRAL_FENCING_TOKEN\"; exit 7";
    let output = cli.run(&["lock", "/locks/job", "--", "sh", "-c", script]);
    assert_eq!(output.status.code(), Some(7), "the command's exit code");
    let line = String::from_utf8(output.stdout).unwrap();
    let (path, token) = line.trim().split_once(' ').unwrap();
    assert!(path.starts_with("/locks/job/"), "{line}");
    let token: i64 = token.parse().unwrap();

    let mut holder = Running::start(cli, &["lock", "/locks/job", "--json"]);
    let held: Value = serde_json::from_str(&holder.next_line()).unwrap();
    let held_path = held["path"].as_str().unwrap().to_owned();
    assert!(held["fencing_token"].as_i64().unwrap() > token, "{held}");
    for wait in ["0", "200"] {
        let stderr = cli.fails(&["lock", "--wait-ms", wait, "/locks/job", "--", "true"], 1);
        assert!(stderr.contains("is held by another session"), "{stderr}");
    }
    let queued = cli.ok(&["ls", "/locks/job"]);
    assert_eq!(
        format!("/locks/job/{}", queued.trim()),
        held_path,
        "only the holder is queued"
    );
    kill(holder.pid(), Signal::SIGTERM).unwrap();
    assert!(holder.wait_success("lock"), "lock ends cleanly on SIGTERM");
    assert_eq!(cli.ok(&["ls", "/locks/job"]), "", "released");

    let mut readers: Vec<Running> = (0..2)
        .map(|_| Running::start(cli, &["lock", "--read", "/locks/shared"]))
        .collect();
    for reader in &mut readers {
        assert!(
            reader.next_line().starts_with("/locks/shared/"),
            "readers hold together"
        );
    }
    let stderr = cli.fails(
        &["lock", "--wait-ms", "0", "/locks/shared", "--", "true"],
        1,
    );
    assert!(stderr.contains("is held by another session"), "{stderr}");
    for reader in readers {
        kill(reader.pid(), Signal::SIGTERM).unwrap();
        assert!(reader.wait_success("lock --read"));
    }
    let mut writer = Running::start(cli, &["lock", "/locks/shared"]);
    writer.next_line();
    let read = [
        "lock",
        "--read",
        "--wait-ms",
        "0",
        "/locks/shared",
        "--",
        "true",
    ];
    let stderr = cli.fails(&read, 1);
    assert!(stderr.contains("by a writer"), "{stderr}");
    kill(writer.pid(), Signal::SIGTERM).unwrap();
    assert!(writer.wait_success("lock"));
    let output = cli.run(&read);
    assert!(output.status.success(), "a read lock once the writer left");
    assert_eq!(cli.ok(&["ls", "/locks/shared"]), "", "released");

    let mut listener = Running::start(cli, &["elect", "-l", "/elections/x"]);
    assert_eq!(listener.next_line(), "(no leader)");
    let mut alpha = Running::start(cli, &["elect", "/elections/x", "alpha"]);
    let alpha_path = alpha.next_line();
    assert_eq!(listener.next_line(), format!("{alpha_path} alpha"));
    let mut beta = Running::start(cli, &["elect", "/elections/x", "beta"]);
    while cli.ok(&["ls", "/elections/x"]).lines().count() < 2 {
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(alpha.pid(), Signal::SIGTERM).unwrap();
    assert!(
        alpha.wait_success("elect"),
        "elect resigns cleanly on SIGTERM"
    );
    let beta_path = beta.next_line();
    assert_eq!(listener.next_line(), format!("{beta_path} beta"));
    kill(beta.pid(), Signal::SIGTERM).unwrap();
    assert!(beta.wait_success("elect"));
    assert_eq!(listener.next_line(), "(no leader)");
    kill(listener.pid(), Signal::SIGTERM).unwrap();
    assert!(listener.wait_success("elect -l"));
}

/// `watch -R` prints every change under its path, in order, as the changes
/// are made by other commands; `get -w` and `ls -w` print their read, then
/// the one event of their one-shot watch, and exit.
fn watches_print_events_in_order(cli: &Cli) {
    cli.ok(&["create", "/w"]);
    cli.ok(&["create", "/w/first"]);
    let mut watch = Running::start(cli, &["watch", "-R", "/w", "--json"]);
    watch.wait_stderr("corral: watching /w");
    let mut get_w = Running::start(cli, &["get", "-w", "/w", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&get_w.next_line()).unwrap()["data"],
        ""
    );
    let mut ls_w = Running::start(cli, &["ls", "-w", "/w"]);
    assert_eq!(ls_w.next_line(), "first", "ls -w prints the children first");
    let changes: [&[&str]; 6] = [
        &["create", "/w/a", "x"],
        &["set", "/w/a", "y"],
        &["create", "/w/a/b"],
        &["delete", "/w/a/b"],
        &["delete", "/w/a"],
        &["set", "/w", "z"],
    ];
    for change in changes {
        cli.ok(change);
    }
    let expected = [
        ("NodeCreated", "/w/a"),
        ("NodeDataChanged", "/w/a"),
        ("NodeCreated", "/w/a/b"),
        ("NodeDeleted", "/w/a/b"),
        ("NodeDeleted", "/w/a"),
        ("NodeDataChanged", "/w"),
    ];
    let mut zxid_before = 0;
    for (event, path) in expected {
        let line = watch.next_line();
        let item: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (item["event"].as_str(), item["path"].as_str()),
            (Some(event), Some(path)),
            "{line}"
        );
        let zxid = item["zxid"].as_i64().unwrap();
        assert!(zxid > zxid_before, "events in zxid order: {line}");
        zxid_before = zxid;
    }
    kill(watch.pid(), Signal::SIGTERM).unwrap();
    assert!(
        watch.wait_success("watch (after SIGTERM)"),
        "watch ends cleanly on SIGTERM"
    );

    let event: Value = serde_json::from_str(&get_w.next_line()).unwrap();
    assert_eq!(
        (event["event"].as_str(), event["path"].as_str()),
        (Some("NodeDataChanged"), Some("/w"))
    );
    assert!(get_w.wait_success("get -w"), "get -w exits after its event");
    assert_eq!(ls_w.next_line(), "NodeChildrenChanged /w");
    assert!(ls_w.wait_success("ls -w"), "ls -w exits after its event");
    cli.ok(&["delete", "-R", "/w"]);
}

/// `status` lists every node with one leader. Then the node serving a
/// running `watch -R` is killed: `status` still answers and marks it
/// unreachable, and the watch resumes on another node and prints the next
/// change.
fn status_and_watch_outlive_a_killed_node(cli: &Cli, cluster: &mut Cluster) {
    let status = cli.json(&["status"]);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n["reachable"] == true), "{status}");
    let mut ids: Vec<u64> = nodes.iter().map(|n| n["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    let leaders: Vec<&Value> = nodes.iter().filter(|n| n["role"] == "leader").collect();
    assert_eq!(leaders.len(), 1, "{status}");
    for node in nodes {
        assert!(node["lag"].is_u64(), "{node}");
        assert!(
            node["applied"].as_u64() <= node["committed"].as_u64(),
            "{node}"
        );
    }
    let table = cli.ok(&["status"]);
    assert!(table.starts_with("ENDPOINT"), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");

    cli.ok(&["create", "/f"]);
    let mut watch = Running::start(cli, &["watch", "-R", "/f", "--json"]);
    watch.wait_stderr("corral: watching /f");
    let dead = node_with_the_only_session(cli);
    let dead_endpoint = cluster.node(dead).unwrap().listen.to_string();
    cluster.kill9(dead).unwrap();

    let status = cli.json(&["status", "--timeout-ms", "1500"]);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    for node in nodes {
        let is_dead = node["endpoint"] == dead_endpoint.as_str();
        assert_eq!(node["reachable"], !is_dead, "{status}");
        if is_dead {
            assert!(node["error"].is_string(), "{status}");
            assert_eq!(node["id"], Value::Null);
        } else {
            assert_ne!(node["id"].as_u64(), Some(dead));
        }
    }
    let table = cli.ok(&["status", "--timeout-ms", "1500"]);
    let dead_line = table
        .lines()
        .find(|l| l.starts_with(&dead_endpoint))
        .unwrap();
    assert!(dead_line.contains("unreachable"), "{table}");

    cli.ok(&["create", "--connect-timeout-ms", "2000", "/f/after-kill"]);
    watch.wait_stderr("corral: connection lost; resuming the session");
    let item: Value = serde_json::from_str(&watch.next_line()).unwrap();
    assert_eq!(
        (item["event"].as_str(), item["path"].as_str()),
        (Some("NodeCreated"), Some("/f/after-kill")),
        "the watch resumed on another node"
    );
    kill(watch.pid(), Signal::SIGTERM).unwrap();
    assert!(watch.wait_success("watch (after SIGTERM)"));
}

/// The id of the node serving the running watch's session: the one node
/// with one session more than the others, once the sessions of earlier
/// commands are gone (a node may count the status query itself).
fn node_with_the_only_session(cli: &Cli) -> u64 {
    let mut last = Value::Null;
    for _ in 0..100 {
        let status = cli.json(&["status"]);
        let nodes = status["nodes"].as_array().unwrap();
        let counts: Vec<u64> = nodes
            .iter()
            .map(|n| n["sessions"].as_u64().unwrap())
            .collect();
        let least = counts.iter().copied().min().unwrap();
        let above: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > least).collect();
        if let [busy] = above[..] {
            if counts[busy] == least + 1 {
                return nodes[busy]["id"].as_u64().unwrap();
            }
        }
        last = status;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no single node with one session more than the others: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_client_round_trips_and_reports_status() {
    let mut cluster = serving_cluster().await;
    let cli = Cli::new(&cluster);
    round_trip(&cli);
    flags_and_missing_settings(&cli);
    ephemeral_lives_as_long_as_its_command(&cli);
    lock_and_elect_from_the_shell(&cli);
    watches_print_events_in_order(&cli);
    status_and_watch_outlive_a_killed_node(&cli, &mut cluster);
}
