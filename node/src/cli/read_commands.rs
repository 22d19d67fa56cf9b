//! `get`, `ls`, `stat` and `getacl`: reads, printed as text or JSON.

use clap::Args;
use corral_client::{Client, ErrorCode, Stat, ZkError};
use serde::Serialize;

use super::acl_text::{AclJson, acl_entry_text};
use super::connection_args::SessionArgs;
use super::data_text::{data_base64, data_text, data_utf8};
use super::failure::CliResult;
use super::output::{print_json, print_line, write_stdout};
use super::stat_text::{StatJson, stat_text};
use super::stop_signals::StopSignals;
use super::subtree::list_subtree;
use super::watch_command::await_one_shot;

/// `corral get [--raw] [-w] PATH`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The znode.
    path: String,
    /// Write the data's bytes exactly, without a newline (no escaping).
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// Then wait for the node's next change (a one-shot watch) and print it.
    #[arg(short = 'w', long, conflicts_with = "raw")]
    watch: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// `corral ls [-R] [-w] PATH`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The znode.
    path: String,
    /// Every path under PATH (PATH first, parents before children, sorted).
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Then wait for the next change of the children (a one-shot watch) and print it.
    #[arg(short = 'w', long, conflicts_with = "recursive")]
    watch: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// The arguments of commands that take only a path (`stat`, `getacl`, `sync`).
#[derive(Debug, Args)]
pub(crate) struct PathArgs {
    /// The znode.
    pub(crate) path: String,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

#[derive(Serialize)]
struct GetJson<'a> {
    path: &'a str,
    data: Option<&'a str>,
    data_base64: String,
    stat: StatJson,
}

#[derive(Serialize)]
struct ChildrenJson<'a> {
    path: &'a str,
    children: &'a [String],
}

#[derive(Serialize)]
struct PathsJson<'a> {
    path: &'a str,
    paths: &'a [String],
}

/// `{"path", "stat"}`: what `stat`, `set` and `setacl` print in JSON.
#[derive(Serialize)]
struct StatOfJson<'a> {
    /// The znode.
    path: &'a str,
    /// Its stat.
    stat: StatJson,
}

/// Prints the stat of the znode at `path` as [`StatOfJson`].
pub(crate) fn print_stat_json(path: &str, stat: &Stat) -> CliResult {
    print_json(&StatOfJson {
        path,
        stat: StatJson::from(stat),
    })
}

#[derive(Serialize)]
struct AclOfJson<'a> {
    path: &'a str,
    acl: Vec<AclJson>,
    stat: StatJson,
}

/// Runs `get` (with `-w`, then waits for the event).
pub(crate) async fn get(client: &Client, args: &GetArgs) -> CliResult {
    if !args.watch {
        let (data, stat) = client.get_data(&args.path).await?;
        return print_data(args, &data, &stat);
    }
    let mut stop = StopSignals::new()?;
    let (data, stat, watch) = client.get_data_watch(&args.path).await?;
    print_data(args, &data, &stat)?;
    await_one_shot(client, watch, &mut stop, args.session.json).await
}

fn print_data(args: &GetArgs, data: &[u8], stat: &Stat) -> CliResult {
    if args.session.json {
        print_json(&GetJson {
            path: &args.path,
            data: data_utf8(data),
            data_base64: data_base64(data),
            stat: StatJson::from(stat),
        })
    } else if args.raw {
        write_stdout(data)
    } else {
        print_line(&data_text(data))
    }
}

/// Runs `ls`.
pub(crate) async fn ls(client: &Client, args: &LsArgs) -> CliResult {
    let json = args.session.json;
    if args.recursive {
        let paths = list_subtree(client, &args.path).await?;
        if json {
            return print_json(&PathsJson {
                path: &args.path,
                paths: &paths,
            });
        }
        for path in &paths {
            print_line(&data_text(path.as_bytes()))?;
        }
        return Ok(());
    }
    let mut stop = if args.watch {
        Some(StopSignals::new()?)
    } else {
        None
    };
    let (children, watch) = if args.watch {
        let (children, _, watch) = client.get_children_watch(&args.path).await?;
        (children, Some(watch))
    } else {
        (client.get_children(&args.path).await?, None)
    };
    if json {
        print_json(&ChildrenJson {
            path: &args.path,
            children: &children,
        })?;
    } else {
        for child in &children {
            print_line(&data_text(child.as_bytes()))?;
        }
    }
    match (watch, stop.as_mut()) {
        (Some(watch), Some(stop)) => await_one_shot(client, watch, stop, json).await,
        _ => Ok(()),
    }
}

/// Runs `stat`.
pub(crate) async fn stat(client: &Client, args: &PathArgs) -> CliResult {
    let Some(stat) = client.exists(&args.path).await? else {
        return Err(ZkError::new(ErrorCode::NoNode, args.path.clone()).into());
    };
    if args.session.json {
        print_stat_json(&args.path, &stat)
    } else {
        write_stdout(stat_text(&stat).as_bytes())
    }
}

/// Runs `getacl`.
pub(crate) async fn getacl(client: &Client, args: &PathArgs) -> CliResult {
    let (acl, stat) = client.get_acl(&args.path).await?;
    if args.session.json {
        return print_json(&AclOfJson {
            path: &args.path,
            acl: acl.iter().map(AclJson::from).collect(),
            stat: StatJson::from(&stat),
        });
    }
    for entry in &acl {
        print_line(&data_text(acl_entry_text(entry).as_bytes()))?;
    }
    Ok(())
}
