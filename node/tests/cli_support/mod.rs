//! The `corral` binary run as a user runs it, for the command-line tests:
//! each command in its own process, connected to a test cluster through the
//! CORRAL_* variables, killed (by its PID) if it outlives its limit.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use corral_tests::cluster::{Cluster, ClusterOptions};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// Limit on one CLI command (it connects, runs one operation, exits).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// Runs `corral` commands with a cluster's connection variables.
pub(crate) struct Cli {
    /// The CORRAL_* variables of the cluster.
    pub(crate) env: Vec<(&'static str, String)>,
}

impl Cli {
    pub(crate) fn new(cluster: &Cluster) -> Self {
        let manifest = cluster.manifest();
        let endpoints: Vec<String> = manifest
            .nodes
            .iter()
            .map(|n| n.listen.to_string())
            .collect();
        let path = |p: &Path| p.display().to_string();
        Self {
            env: vec![
                ("CORRAL_ENDPOINTS", endpoints.join(",")),
                ("CORRAL_CA", path(&manifest.client.ca)),
                ("CORRAL_CERT", path(&manifest.client.cert)),
                ("CORRAL_KEY", path(&manifest.client.key)),
            ],
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command.args(args);
        for (name, _) in &self.env {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command
    }

    /// Runs `corral ARGS` with `stdin`, killing it past [`COMMAND_TIMEOUT`].
    pub(crate) fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).unwrap();
        drop(input);
        wait_output(child, args)
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, b"")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "corral {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command with `--json` that must succeed; returns its one JSON line.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        assert_eq!(
            stdout.lines().count(),
            1,
            "one JSON line from {args:?}: {stdout}"
        );
        serde_json::from_str(&stdout).unwrap()
    }

    /// Runs a command that must fail with `exit_code`; returns its stderr.
    pub(crate) fn fails(&self, args: &[&str], exit_code: i32) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            output.status.code(),
            Some(exit_code),
            "corral {args:?}: stderr {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "corral {args:?} printed on stdout"
        );
        stderr
    }
}

/// Waits for `child`'s output, killing it (by its PID) past [`COMMAND_TIMEOUT`].
pub(crate) fn wait_output(child: Child, args: &[&str]) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(COMMAND_TIMEOUT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            panic!("corral {args:?} did not finish within {COMMAND_TIMEOUT:?}");
        }
    }
}

/// A 3-node cluster of `corral serve` processes that has elected a leader.
pub(crate) async fn serving_cluster() -> Cluster {
    let cluster = Cluster::start_serving(binary(), ClusterOptions::new(3))
        .await
        .unwrap();
    let ids = cluster.ids();
    cluster
        .wait_leader(&ids, Duration::from_secs(10))
        .await
        .unwrap();
    cluster
}

/// Starts `corral create -e PATH DATA`, which holds its session (and the
/// ephemeral) until stopped; returns the process and the first line it
/// printed, killing it (by its PID) if none comes within [`COMMAND_TIMEOUT`].
pub(crate) fn spawn_ephemeral(cli: &Cli, path: &str, data: &str) -> (Child, String) {
    let mut holder = cli
        .command(&["create", "-e", path, data])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(holder.id() as i32);
    let stdout = holder.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(COMMAND_TIMEOUT).unwrap_or_else(|_| {
        let _ = kill(pid, Signal::SIGKILL);
        panic!("create -e printed nothing within {COMMAND_TIMEOUT:?}");
    });
    (holder, line)
}
