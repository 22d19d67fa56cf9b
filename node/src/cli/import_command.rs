//! `corral import [FILE] [--overwrite]`: creates the znodes of a `corral
//! export` file (or a hand-written one: see [`ZnodeRecord`]), in file order,
//! parents before children.
//!
//! Creates are pipelined on the session, up to [`IMPORT_IN_FLIGHT`] at a time;
//! a session's requests are applied in the order sent, so a parent is always
//! created before its children. A znode that already exists with the same
//! data and ACL counts as unchanged, so an import can be run again (and the
//! root of an exported subtree, which usually exists, imports cleanly). One
//! that exists with other data or another ACL stops the import, unless
//! `--overwrite` replaces its data and ACL (its mode stays). On the first
//! failure no further line is read; the creates already in flight (lines
//! after it, sent before its answer came) finish and are counted, and stderr
//! names the failed line and the tally: nothing is lost silently, and a run
//! again after the fix skips what it finds unchanged.
//!
//! Sequential names are restored as they were, but a parent's sequence
//! counter is not: it restarts from the children created, so a later
//! sequential create there may meet an imported name (NodeExists), as it
//! would in ZooKeeper. Creating under a znode takes its CREATE permission:
//! import with an identity the imported ACLs allow.

use std::path::PathBuf;

use clap::Args;
use corral_client::{Client, CreateRequest, Error, ErrorCode};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};

use super::connection_args::SessionArgs;
use super::failure::{CliResult, EXIT_REFUSED, Failure};
use super::znode_record::ZnodeRecord;

/// Creates in flight on the session at most.
const IMPORT_IN_FLIGHT: usize = 64;
/// Longest line read (a 1 MiB znode in base64 and as text, with room).
const LINE_BYTES_MAX: u64 = 8 << 20;

/// `corral import [FILE] [--overwrite]`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The records, one JSON object per line (`-` or none: stdin).
    file: Option<PathBuf>,
    /// Replace the data and ACL of znodes that exist with others.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Unchanged,
    Replaced,
}

/// Records done so far, by outcome.
#[derive(Debug, Default)]
struct Tally {
    created: usize,
    unchanged: usize,
    replaced: usize,
}

impl Tally {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Replaced => self.replaced += 1,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} unchanged, {} replaced",
            self.created, self.unchanged, self.replaced
        )
    }
}

/// Runs `import`; a tally on stderr.
pub(crate) async fn import(client: &Client, args: &ImportArgs) -> CliResult {
    // Read without blocking the runtime: the session's pings and replies
    // run while a slow pipe or a terminal has no line yet.
    let input: Box<dyn AsyncRead + Unpin> =
        match &args.file {
            None => Box::new(tokio::io::stdin()),
            Some(path) if path.as_os_str() == "-" => Box::new(tokio::io::stdin()),
            Some(path) => Box::new(tokio::fs::File::open(path).await.map_err(|e| {
                Failure::usage(format!("error: cannot open {}: {e}", path.display()))
            })?),
        };
    let mut lines = BufReader::new(input);
    let mut tally = Tally::default();
    // Each create in flight answers with its line number.
    let mut in_flight = FuturesOrdered::new();
    let mut line_number = 0usize;
    let mut read_all = false;
    let mut stop: Option<Failure> = None;
    loop {
        if !read_all && stop.is_none() && in_flight.len() < IMPORT_IN_FLIGHT {
            match next_request(&mut lines, &mut line_number).await {
                Ok(Some(request)) => {
                    let line = line_number;
                    let overwrite = args.overwrite;
                    in_flight.push_back(async move {
                        (line, restore(client, request, overwrite).await)
                    });
                    continue;
                }
                Ok(None) => read_all = true,
                Err(why) => stop = Some(why),
            }
        }
        // Nothing more to send: wait for what is in flight.
        let Some((line, result)) = in_flight.next().await else {
            break;
        };
        match result {
            Ok(outcome) => tally.count(outcome),
            Err(failure) if stop.is_none() => {
                stop = Some(Failure {
                    message: format!("{} (line {line})", failure.message),
                    exit_code: failure.exit_code,
                });
            }
            // Behind the first failure (its children, say): counted out.
            Err(_) => {}
        }
    }
    match stop {
        None => {
            eprintln!("corral import: {tally}");
            Ok(())
        }
        Some(failure) => Err(Failure {
            message: format!(
                "{}\ncorral import: stopped; {tally} (lines sent before the failure came back \
                 included); run it again once fixed: what exists unchanged is skipped",
                failure.message
            ),
            exit_code: failure.exit_code,
        }),
    }
}

/// The create of the next record; `None` at the end of the input. Blank
/// lines are skipped; `line_number` counts every line read.
async fn next_request(
    lines: &mut (impl AsyncBufRead + Unpin),
    line_number: &mut usize,
) -> CliResult<Option<CreateRequest>> {
    loop {
        *line_number += 1;
        let n = *line_number;
        let mut line = Vec::new();
        let read = lines
            .take(LINE_BYTES_MAX + 1)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| Failure::usage(format!("error: line {n}: cannot read: {e}")))?;
        if read == 0 {
            return Ok(None);
        }
        if line.len() as u64 > LINE_BYTES_MAX {
            return Err(Failure::usage(format!(
                "error: line {n}: longer than {LINE_BYTES_MAX} bytes"
            )));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|e| Failure::usage(format!("error: line {n}: not UTF-8: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let record: ZnodeRecord = serde_json::from_str(text)
            .map_err(|e| Failure::usage(format!("error: line {n}: not a znode record: {e}")))?;
        return record
            .create_request()
            .map(Some)
            .map_err(|why| Failure::usage(format!("error: line {n}: {}: {why}", record.path)));
    }
}

/// Creates the record's znode, or settles with the one already there.
async fn restore(client: &Client, request: CreateRequest, overwrite: bool) -> CliResult<Outcome> {
    let path = request.path.as_str();
    if path != "/" {
        match client.create_with(request.clone()).await {
            Ok(_) => return Ok(Outcome::Created),
            Err(Error::Zk(e)) if e.code == ErrorCode::NodeExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let ((data, _), (acl, _)) = tokio::try_join!(client.get_data(path), client.get_acl(path))?;
    if data == request.data && acl == request.acl {
        return Ok(Outcome::Unchanged);
    }
    if !overwrite {
        return Err(Failure {
            message: format!(
                "{:?}: {path}: it exists with other {} (--overwrite replaces them)",
                ErrorCode::NodeExists,
                if data == request.data { "ACL" } else { "data" }
            ),
            exit_code: EXIT_REFUSED,
        });
    }
    tokio::try_join!(
        client.set_data(path, &request.data, None),
        client.set_acl(path, request.acl.clone(), None)
    )?;
    Ok(Outcome::Replaced)
}
