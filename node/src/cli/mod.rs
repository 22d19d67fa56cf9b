//! The command-line client: `corral create|get|set|ls|stat|delete|watch|
//! getacl|setacl|sync|status|lock|elect|export|import`.
//!
//! Each command opens one session (except `status`, which asks every node
//! without one), runs one operation, prints the result as text or, with
//! `--json`, as one JSON object per line, closes the session and exits.
//! The commands that wait (`watch`, `get -w`, `ls -w`, `create -e`, `lock`,
//! `elect`) keep the
//! session until their event, Ctrl-C or SIGTERM; the client resumes it on
//! another node if its node is lost.
//!
//! ```text
//!  flags / CORRAL_* ─► ConnectionArgs ─► Client::connect ─► operation ─► stdout (text | JSON)
//!                                                              └─ error ─► stderr "NoNode: /a", exit 1
//! ```
//!
//! Exit codes: 0 success, 1 the server refused (ZooKeeper's error name and
//! the path on stderr), 2 bad usage or input, 3 the cluster could not be
//! reached or the connection was lost.

mod acl_text;
mod connection_args;
mod data_text;
mod export_command;
mod failure;
mod import_command;
mod output;
mod read_commands;
mod recipe_commands;
mod stat_text;
mod status_command;
mod stop_signals;
mod subtree;
mod watch_command;
mod write_commands;
mod znode_record;

use std::process::ExitCode;

use clap::Subcommand;
use corral_client::Client;

use failure::{CliResult, Failure};

/// The client subcommands of `corral`.
#[derive(Debug, Subcommand)]
pub(crate) enum ClientCommand {
    /// Create a znode and print its path (with the sequence suffix, if any).
    Create(write_commands::CreateArgs),
    /// Print a znode's data.
    Get(read_commands::GetArgs),
    /// Replace a znode's data.
    Set(write_commands::SetArgs),
    /// List a znode's children (or, with -R, every path under it).
    Ls(read_commands::LsArgs),
    /// Print a znode's stat.
    Stat(read_commands::PathArgs),
    /// Delete a znode (with -R, everything under it too).
    Delete(write_commands::DeleteArgs),
    /// Print every change of a znode (with -R, of its subtree), one line each, until Ctrl-C.
    Watch(watch_command::WatchArgs),
    /// Print a znode's ACL, one `scheme:id:perms` per line.
    Getacl(read_commands::PathArgs),
    /// Replace a znode's ACL.
    Setacl(write_commands::SetaclArgs),
    /// Wait until the connected node has applied every write committed before.
    Sync(read_commands::PathArgs),
    /// Print every node's id, role, term, commit and applied index and lag.
    Status(status_command::StatusArgs),
    /// Take a distributed lock, run COMMAND holding it (or hold it until Ctrl-C), release it.
    Lock(recipe_commands::LockArgs),
    /// Campaign in a leader election and hold leadership until Ctrl-C (or, with -l, follow the leader).
    Elect(recipe_commands::ElectArgs),
    /// Print a subtree as JSON lines (path, mode, ACL, data; parents first), for `import`.
    Export(export_command::ExportArgs),
    /// Create the znodes of an `export` file (or stdin), parents first.
    Import(import_command::ImportArgs),
}

/// Runs a client command and returns the process's exit code.
pub(crate) fn run(command: ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Failure::usage(format!("error: cannot start the runtime: {e}")).report(),
    };
    match runtime.block_on(dispatch(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn dispatch(command: ClientCommand) -> CliResult {
    use ClientCommand as C;
    let session = match &command {
        C::Create(args) => &args.session,
        C::Get(args) => &args.session,
        C::Set(args) => &args.session,
        C::Ls(args) => &args.session,
        C::Delete(args) => &args.session,
        C::Setacl(args) => &args.session,
        C::Watch(args) => &args.session,
        C::Lock(args) => &args.session,
        C::Elect(args) => &args.session,
        C::Export(args) => &args.session,
        C::Import(args) => &args.session,
        C::Stat(args) | C::Getacl(args) | C::Sync(args) => &args.session,
        C::Status(args) => return status_command::status(args).await,
    };
    let client = session.connect().await?;
    let result = match &command {
        C::Create(args) => write_commands::create(&client, args).await,
        C::Get(args) => read_commands::get(&client, args).await,
        C::Set(args) => write_commands::set(&client, args).await,
        C::Ls(args) => read_commands::ls(&client, args).await,
        C::Stat(args) => read_commands::stat(&client, args).await,
        C::Delete(args) => write_commands::delete(&client, args).await,
        C::Getacl(args) => read_commands::getacl(&client, args).await,
        C::Setacl(args) => write_commands::setacl(&client, args).await,
        C::Sync(args) => write_commands::sync(&client, args).await,
        C::Watch(args) => watch_command::watch(&client, args).await,
        C::Lock(args) => recipe_commands::lock(&client, args).await,
        C::Elect(args) => recipe_commands::elect(&client, args).await,
        C::Export(args) => export_command::export(&client, args).await,
        C::Import(args) => import_command::import(&client, args).await,
        C::Status(_) => Ok(()),
    };
    close_session(client, result).await
}

/// Closes the session (its ephemerals go with it) whatever the command's
/// outcome, and returns that outcome.
async fn close_session(client: Client, result: CliResult) -> CliResult {
    let closed = client.close().await;
    result?;
    // The command succeeded; a failed close only leaves the session to expire
    // on its own.
    if let Err(e) = closed {
        eprintln!("corral: closing the session failed ({e}); it expires after its timeout");
    }
    Ok(())
}
