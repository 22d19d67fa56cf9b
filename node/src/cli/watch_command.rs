//! `corral watch [-R] PATH` and the one-shot `-w` of `get` and `ls`: events,
//! one line each.
//!
//! An event prints as `TYPE PATH` (`NodeDataChanged /app`), or in JSON as
//! `{"event": TYPE, "path", "zxid"}`. When a persistent watch resumes after a
//! disconnection on a node whose event history no longer reaches back, it
//! prints `ResyncNeeded PATH` (JSON: `{"event": "ResyncNeeded", "path",
//! "last_zxid_seen", "oldest_zxid"}`): events were missed, re-read.

use clap::Args;
use corral_client::{Client, OneShotWatch, SessionState, WatchItem, WatchedEvent};
use serde::Serialize;

use super::connection_args::SessionArgs;
use super::data_text::data_text;
use super::failure::{CliResult, Failure, session_ended};
use super::output::{print_json, print_line};
use super::stop_signals::StopSignals;

/// `corral watch [-R] PATH`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Watch PATH and every node under it (data events: created, changed,
    /// deleted); without it, PATH's own events, children changes included.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The znode (it need not exist).
    path: String,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// One watch item in JSON (field names are part of the CLI's interface).
#[derive(Serialize)]
struct EventJson<'a> {
    event: String,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    zxid: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_zxid_seen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_zxid: Option<i64>,
}

/// Prints one watch item as a line of text or JSON.
fn print_item(item: &WatchItem, json: bool) -> CliResult {
    match item {
        WatchItem::Event(event) => print_event(event, json),
        WatchItem::ResyncNeeded {
            path,
            last_zxid_seen,
            oldest_zxid,
        } => {
            if json {
                print_json(&EventJson {
                    event: "ResyncNeeded".into(),
                    path,
                    zxid: None,
                    last_zxid_seen: Some(*last_zxid_seen),
                    oldest_zxid: Some(*oldest_zxid),
                })
            } else {
                print_line(&format!("ResyncNeeded {}", data_text(path.as_bytes())))
            }
        }
    }
}

/// Prints one event as a line of text or JSON.
fn print_event(event: &WatchedEvent, json: bool) -> CliResult {
    let event_type = format!("{:?}", event.event_type);
    if json {
        print_json(&EventJson {
            event: event_type,
            path: &event.path,
            zxid: Some(event.zxid),
            last_zxid_seen: None,
            oldest_zxid: None,
        })
    } else {
        print_line(&format!(
            "{event_type} {}",
            data_text(event.path.as_bytes())
        ))
    }
}

/// Runs `watch`: prints every event until Ctrl-C or SIGTERM (exit 0), or
/// until the session ends (exit 3).
///
/// Once the watch is registered it says so on stderr (`corral: watching
/// PATH`), so a script knows from when on changes are seen.
pub(crate) async fn watch(client: &Client, args: &WatchArgs) -> CliResult {
    let mut stop = StopSignals::new()?;
    let mut stream = client.watch(&args.path, args.recursive).await?;
    let mode = if args.recursive {
        "recursively"
    } else {
        "persistently"
    };
    eprintln!("corral: watching {} {mode}; Ctrl-C stops", args.path);
    let mut states = client.state_changes();
    let mut states_open = true;
    loop {
        tokio::select! {
            () = stop.recv() => return Ok(()),
            item = stream.next() => match item {
                Some(Ok(item)) => print_item(&item, args.session.json)?,
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Failure::unreachable(format!("error: the watch on {} ended", args.path))),
            },
            state = states.next(), if states_open => match state {
                Some(state) => report_state(state)?,
                None => states_open = false,
            },
        }
    }
}

/// Waits for a one-shot watch (of `get -w` or `ls -w`) and prints its event;
/// Ctrl-C or SIGTERM ends the wait (exit 0).
pub(crate) async fn await_one_shot(
    client: &Client,
    watch: OneShotWatch,
    stop: &mut StopSignals,
    json: bool,
) -> CliResult {
    let mut states = client.state_changes();
    let mut states_open = true;
    tokio::pin!(watch);
    loop {
        tokio::select! {
            () = stop.recv() => return Ok(()),
            event = &mut watch => return print_event(&event?, json),
            state = states.next(), if states_open => match state {
                Some(state) => report_state(state)?,
                None => states_open = false,
            },
        }
    }
}

/// Says on stderr that the session is resuming; fails once it has ended.
fn report_state(state: SessionState) -> CliResult {
    match state {
        SessionState::Disconnected => {
            eprintln!("corral: connection lost; resuming the session on another node");
            Ok(())
        }
        state if state.is_terminal() => Err(session_ended(state)),
        _ => Ok(()),
    }
}
