//! `corral lock` and `corral elect`: the client's lock and election recipes
//! from the shell (as `etcdctl lock` and `etcdctl elect`), for cron jobs that
//! must run once in a fleet and for scripts that need one leader.
//!
//! `corral lock PATH -- COMMAND...` runs COMMAND while holding the lock, with
//! `CORRAL_LOCK_PATH` and `CORRAL_FENCING_TOKEN` in its environment, and
//! exits with its exit code. Without a command it prints the holder's node
//! and holds the lock until Ctrl-C or SIGTERM. If the lock is lost while held
//! (the session expired, or someone deleted the node), a running command gets
//! SIGTERM and `corral` exits 3. With `--read` it takes a shared (read)
//! lock: `--read` holders of one path run together, and a plain `corral
//! lock` on it waits for them all (and they for it).

use std::process::ExitStatus;
use std::time::Duration;

use clap::Args;
use corral_client::recipes::{Election, Leader, RwLock};
use corral_client::{Client, Error};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use super::connection_args::SessionArgs;
use super::data_text::data_text;
use super::failure::{CliResult, EXIT_REFUSED, Failure};
use super::output::{print_json, print_line};
use super::stop_signals::StopSignals;

/// `corral lock [--read] [--wait-ms MS] PATH [-- COMMAND [ARG...]]`.
#[derive(Debug, Args)]
pub(crate) struct LockArgs {
    /// Take a shared (read) lock: other `--read` holders run at the same
    /// time; a plain `corral lock` on the path excludes them all.
    #[arg(long)]
    read: bool,
    /// Give up (exit 1) if the lock is not taken within MS milliseconds; 0
    /// tries once. Without it, waits as long as it takes.
    #[arg(long, value_name = "MS")]
    wait_ms: Option<u64>,
    /// The lock's directory (created if missing).
    path: String,
    /// The command to run while holding the lock.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// `corral elect [-l] PATH [VALUE]`.
#[derive(Debug, Args)]
pub(crate) struct ElectArgs {
    /// Do not campaign: print the leader now and after each change, until
    /// Ctrl-C.
    #[arg(short = 'l', long)]
    listen: bool,
    /// The election's directory (created if missing).
    path: String,
    /// The value to campaign with (what observers see as the leader's).
    #[arg(required_unless_present = "listen")]
    value: Option<String>,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// A held lock in JSON (field names are part of the CLI's interface).
#[derive(Serialize)]
struct LockJson<'a> {
    path: &'a str,
    fencing_token: i64,
}

/// A leadership won, in JSON.
#[derive(Serialize)]
struct LeadershipJson<'a> {
    path: &'a str,
    term: i64,
}

/// A leader in JSON (`null` when there is none).
#[derive(Serialize)]
struct LeaderJson<'a> {
    leader: Option<LeaderFields<'a>>,
}

#[derive(Serialize)]
struct LeaderFields<'a> {
    path: &'a str,
    value: String,
    term: i64,
}

/// Runs `lock`.
pub(crate) async fn lock(client: &Client, args: &LockArgs) -> CliResult {
    let mut stop = StopSignals::new()?;
    // A plain lock is the write side of the read-write lock (the same
    // contender kind and rule as `Lock`); `--read` takes the read side.
    let lock = RwLock::new(client, &args.path)?;
    let acquire = || async {
        if args.read {
            lock.read().await
        } else {
            lock.write().await
        }
    };
    let acquired = match args.wait_ms {
        Some(0) if args.read => lock.try_read().await?,
        Some(0) => lock.try_write().await?,
        Some(ms) => {
            tokio::select! {
                () = stop.recv() => return Ok(()),
                taken = tokio::time::timeout(Duration::from_millis(ms), acquire()) => {
                    taken.ok().transpose()?
                }
            }
        }
        None => {
            tokio::select! {
                () = stop.recv() => return Ok(()),
                taken = acquire() => Some(taken?),
            }
        }
    };
    let Some(guard) = acquired else {
        return Err(Failure {
            message: format!(
                "error: the lock {} is {} (waited {} ms)",
                args.path,
                if args.read {
                    "held, or waited for, by a writer"
                } else {
                    "held by another session"
                },
                args.wait_ms.unwrap_or(0)
            ),
            exit_code: EXIT_REFUSED,
        });
    };
    let outcome = match args.command.split_first() {
        None => {
            let json = LockJson {
                path: guard.path(),
                fencing_token: guard.fencing_token(),
            };
            let held = guard.path();
            announce_and_hold(
                held,
                &json,
                args.session.json,
                &mut stop,
                guard.lost(),
                &args.path,
            )
            .await
            .map(|()| None)
        }
        Some((program, arguments)) => {
            run_holding(
                (program, arguments),
                (guard.path(), guard.fencing_token()),
                &mut stop,
                guard.lost(),
            )
            .await
        }
    };
    // Released whatever happened; a lost lock has nothing left to release.
    let released = guard.release().await;
    let exit = outcome?;
    released?;
    exit.map_or(Ok(()), Err)
}

/// Runs `command` until it exits, the lock is lost, or a stop signal comes
/// (passed on to it as SIGTERM). `Ok(Some(failure))` carries a non-zero
/// exit of the command.
async fn run_holding(
    (program, arguments): (&String, &[String]),
    (path, token): (&str, i64),
    stop: &mut StopSignals,
    lost_lock: impl std::future::Future<Output = Error>,
) -> CliResult<Option<Failure>> {
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .env("CORRAL_LOCK_PATH", path)
        .env("CORRAL_FENCING_TOKEN", token.to_string())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::usage(format!("error: cannot run {program}: {e}")))?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let terminate = || {
        if let Some(pid) = pid {
            let _ = kill(pid, Signal::SIGTERM);
        }
    };
    tokio::pin!(lost_lock);
    let status = tokio::select! {
        status = child.wait() => status,
        () = stop.recv() => {
            terminate();
            child.wait().await
        }
        why = &mut lost_lock => {
            terminate();
            let _ = child.wait().await;
            return Err(lost(path, why));
        }
    };
    let status =
        status.map_err(|e| Failure::usage(format!("error: waiting for {program}: {e}")))?;
    Ok(exit_failure(status))
}

/// The failure that passes on a command's non-zero exit (128 + N for signal N).
fn exit_failure(status: ExitStatus) -> Option<Failure> {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    (code != 0).then(|| Failure {
        message: String::new(),
        exit_code: u8::try_from(code).unwrap_or(1),
    })
}

/// Runs `elect`.
pub(crate) async fn elect(client: &Client, args: &ElectArgs) -> CliResult {
    let mut stop = StopSignals::new()?;
    let election = Election::new(client, &args.path)?;
    if args.listen {
        let mut observer = election.observe().await?;
        loop {
            tokio::select! {
                () = stop.recv() => return Ok(()),
                leader = observer.next() => print_leader(leader?.as_ref(), args.session.json)?,
            }
        }
    }
    let value = args.value.as_deref().unwrap_or_default();
    let leadership = tokio::select! {
        () = stop.recv() => return Ok(()),
        won = election.campaign(value.as_bytes()) => won?,
    };
    let json = LeadershipJson {
        path: leadership.path(),
        term: leadership.term(),
    };
    let outcome = announce_and_hold(
        leadership.path(),
        &json,
        args.session.json,
        &mut stop,
        leadership.lost(),
        &args.path,
    )
    .await;
    let resigned = leadership.resign().await;
    outcome?;
    resigned.map_err(Failure::from)
}

/// Prints what is held (its node's `path`, or `held` as JSON with
/// `--json`), then holds it until Ctrl-C or SIGTERM (`Ok`) or until it is lost.
async fn announce_and_hold<T: Serialize>(
    path: &str,
    held: &T,
    json: bool,
    stop: &mut StopSignals,
    lost_it: impl std::future::Future<Output = Error>,
    dir: &str,
) -> CliResult {
    if json {
        print_json(held)?;
    } else {
        print_line(path)?;
    }
    tokio::select! {
        () = stop.recv() => Ok(()),
        why = lost_it => Err(lost(dir, why)),
    }
}

fn print_leader(leader: Option<&Leader>, json: bool) -> CliResult {
    match (leader, json) {
        (None, true) => print_json(&LeaderJson { leader: None }),
        (None, false) => print_line("(no leader)"),
        (Some(leader), true) => print_json(&LeaderJson {
            leader: Some(LeaderFields {
                path: &leader.path,
                value: data_text(&leader.value).into_owned(),
                term: leader.term,
            }),
        }),
        (Some(leader), false) => {
            print_line(&format!("{} {}", leader.path, data_text(&leader.value)))
        }
    }
}

/// The failure of a lock or leadership lost while held.
fn lost(path: &str, why: Error) -> Failure {
    Failure::unreachable(format!("error: lost {path} while holding it: {why}"))
}
