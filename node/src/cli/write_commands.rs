//! `create`, `set`, `delete`, `setacl` and `sync`: writes.

use clap::Args;
use corral_client::{Acl, Client, CreateMode, CreateRequest, SessionState};
use serde::Serialize;

use super::acl_text::parse_acl;
use super::connection_args::SessionArgs;
use super::data_text::read_data;
use super::failure::{CliResult, session_ended};
use super::output::{print_json, print_line};
use super::read_commands::{PathArgs, print_stat_json};
use super::stat_text::StatJson;
use super::stop_signals::StopSignals;
use super::subtree::delete_subtree;

/// `corral create [-e] [-s] [-c] [--ttl MS] [--acl ACL] PATH [DATA]`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Ephemeral: the node lives as long as this command's session, so the
    /// command keeps it open until Ctrl-C or SIGTERM.
    #[arg(short = 'e', long)]
    ephemeral: bool,
    /// Sequential: a 10-digit counter is appended to the name.
    #[arg(short = 's', long)]
    sequential: bool,
    /// Container: deleted by the server once its last child is gone.
    #[arg(short = 'c', long, conflicts_with_all = ["ephemeral", "sequential", "ttl"])]
    container: bool,
    /// Time to live in ms: deleted once unmodified and childless that long.
    #[arg(long, value_name = "MS", conflicts_with = "ephemeral")]
    ttl: Option<i64>,
    /// The ACL in ZooKeeper's text form (default `world:anyone:cdrwa`).
    #[arg(long, value_name = "ACL")]
    acl: Option<String>,
    /// The znode.
    path: String,
    /// The data; `-` reads it from stdin; empty if absent.
    #[arg(allow_hyphen_values = true)]
    data: Option<String>,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// `corral set [-v VERSION] PATH DATA`.
#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// Only if the data version is VERSION.
    #[arg(short = 'v', long, value_name = "VERSION")]
    version: Option<i32>,
    /// The znode.
    path: String,
    /// The data; `-` reads it from stdin.
    #[arg(allow_hyphen_values = true)]
    data: String,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// `corral delete [-v VERSION] [-R] PATH`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Only if the data version is VERSION.
    #[arg(
        short = 'v',
        long,
        value_name = "VERSION",
        conflicts_with = "recursive"
    )]
    version: Option<i32>,
    /// Delete everything under PATH too (children first).
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The znode.
    path: String,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// `corral setacl [-v ACL_VERSION] PATH ACL`.
#[derive(Debug, Args)]
pub(crate) struct SetaclArgs {
    /// Only if the ACL version is ACL_VERSION.
    #[arg(short = 'v', long, value_name = "ACL_VERSION")]
    version: Option<i32>,
    /// The znode.
    path: String,
    /// The ACL in ZooKeeper's text form, e.g. `world:anyone:r,x509:client-dev:cdrwa`.
    acl: String,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Serialize)]
struct CreatedJson<'a> {
    path: &'a str,
    stat: StatJson,
}

impl CreateArgs {
    /// The mode the flags ask for; clap has refused the impossible mixes.
    fn mode(&self) -> CreateMode {
        match (self.ephemeral, self.sequential, self.container, self.ttl) {
            (_, _, true, _) => CreateMode::Container,
            (true, false, ..) => CreateMode::Ephemeral,
            (true, true, ..) => CreateMode::EphemeralSequential,
            (false, false, false, Some(_)) => CreateMode::PersistentWithTtl,
            (false, true, false, Some(_)) => CreateMode::PersistentSequentialWithTtl,
            (false, false, false, None) => CreateMode::Persistent,
            (false, true, false, None) => CreateMode::PersistentSequential,
        }
    }
}

/// Runs `create`; prints the path created (with its sequence suffix).
pub(crate) async fn create(client: &Client, args: &CreateArgs) -> CliResult {
    let acl = match &args.acl {
        Some(text) => parse_acl(text)?,
        None => Acl::open_unsafe(),
    };
    let request = CreateRequest {
        path: args.path.clone(),
        data: read_data(args.data.as_deref())?,
        acl,
        mode: args.mode(),
        ttl_ms: args.ttl,
    };
    let (path, stat) = client.create_with(request).await?;
    if args.session.json {
        print_json(&CreatedJson {
            path: &path,
            stat: StatJson::from(&stat),
        })?;
    } else {
        print_line(&path)?;
    }
    if args.ephemeral {
        hold_session(client).await?;
    }
    Ok(())
}

/// Keeps the session (and its ephemeral nodes) until Ctrl-C or SIGTERM.
async fn hold_session(client: &Client) -> CliResult {
    let mut stop = StopSignals::new()?;
    let mut states = client.state_changes();
    eprintln!("corral: holding the session; Ctrl-C ends it and deletes the ephemeral node");
    loop {
        tokio::select! {
            () = stop.recv() => return Ok(()),
            state = states.next() => match state {
                Some(SessionState::Disconnected) => {
                    eprintln!("corral: connection lost; resuming the session on another node");
                }
                Some(state) if state.is_terminal() => return Err(session_ended(state)),
                Some(_) => {}
                None => return Err(session_ended(client.state())),
            },
        }
    }
}

/// Runs `set`; prints the new stat with `--json`, nothing otherwise.
pub(crate) async fn set(client: &Client, args: &SetArgs) -> CliResult {
    let data = read_data(Some(&args.data))?;
    let stat = client.set_data(&args.path, &data, args.version).await?;
    if args.session.json {
        print_stat_json(&args.path, &stat)?;
    }
    Ok(())
}

/// Runs `delete`; prints nothing.
pub(crate) async fn delete(client: &Client, args: &DeleteArgs) -> CliResult {
    if args.recursive {
        delete_subtree(client, &args.path).await
    } else {
        Ok(client.delete(&args.path, args.version).await?)
    }
}

/// Runs `setacl`; prints the new stat with `--json`, nothing otherwise.
pub(crate) async fn setacl(client: &Client, args: &SetaclArgs) -> CliResult {
    let acl = parse_acl(&args.acl)?;
    let stat = client.set_acl(&args.path, acl, args.version).await?;
    if args.session.json {
        print_stat_json(&args.path, &stat)?;
    }
    Ok(())
}

/// Runs `sync`; prints nothing.
pub(crate) async fn sync(client: &Client, args: &PathArgs) -> CliResult {
    Ok(client.sync(&args.path).await?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Line {
        #[command(subcommand)]
        command: crate::cli::ClientCommand,
    }

    fn create_mode(args: &[&str]) -> Result<CreateMode, clap::Error> {
        let line = Line::try_parse_from(
            ["corral", "create"]
                .iter()
                .chain(args)
                .chain(&["--endpoints", "h:1"]),
        )?;
        match line.command {
            crate::cli::ClientCommand::Create(create) => Ok(create.mode()),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn create_flags_map_to_zookeepers_modes() {
        let cases: [(&[&str], CreateMode); 7] = [
            (&["/a"], CreateMode::Persistent),
            (&["-s", "/a"], CreateMode::PersistentSequential),
            (&["-e", "/a"], CreateMode::Ephemeral),
            (&["-e", "-s", "/a"], CreateMode::EphemeralSequential),
            (&["-c", "/a"], CreateMode::Container),
            (&["--ttl", "500", "/a"], CreateMode::PersistentWithTtl),
            (
                &["-s", "--ttl", "500", "/a", "-"],
                CreateMode::PersistentSequentialWithTtl,
            ),
        ];
        for (args, mode) in cases {
            assert_eq!(create_mode(args).unwrap(), mode, "{args:?}");
        }
    }

    #[test]
    fn impossible_mixes_are_refused_by_the_parser() {
        for args in [
            &["-c", "-e", "/a"][..],
            &["-c", "-s", "/a"],
            &["-e", "--ttl", "5", "/a"],
            &["-c", "--ttl", "5", "/a"],
        ] {
            assert!(create_mode(args).is_err(), "{args:?}");
        }
        let delete = Line::try_parse_from(["corral", "delete", "-R", "-v", "1", "/a"]);
        assert!(delete.is_err(), "-R with -v");
        let get = Line::try_parse_from(["corral", "get", "-w", "--raw", "/a"]);
        assert!(get.is_err(), "-w with --raw");
    }

    #[test]
    fn data_may_start_with_a_hyphen() {
        let line = Line::try_parse_from(["corral", "set", "/a", "-1"]).unwrap();
        match line.command {
            crate::cli::ClientCommand::Set(set) => assert_eq!(set.data, "-1"),
            other => panic!("parsed as {other:?}"),
        }
    }
}
