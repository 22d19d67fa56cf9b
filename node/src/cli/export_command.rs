//! `corral export [PATH]`: a subtree as JSON lines, one [`ZnodeRecord`] per
//! znode, parents before children, for `corral import` (a logical backup, a
//! copy to another cluster, or a file to seed one).
//!
//! Each znode is read with its data, ACL and children at once (three
//! requests in flight on the session), so a walk costs one round trip per
//! znode. The copy is not a snapshot at one zxid: a znode changed during the
//! walk may be exported before or after its change, as with ZooKeeper's copy
//! tools. A znode deleted meanwhile is left out. Ephemerals are left out
//! (they belong to their sessions) and counted on stderr. A znode that cannot
//! be read (NoAuth) or whose digest ACL comes back hidden (no ADMIN
//! permission) stops the export with an error naming it: a backup that
//! silently lacks part of the tree would be worse than none.

use clap::Args;
use corral_client::{Client, Error, ErrorCode};

use super::connection_args::SessionArgs;
use super::failure::{CliResult, EXIT_REFUSED, Failure};
use super::output::print_json;
use super::subtree::{SUBTREE_PATHS_MAX, child_path};
use super::znode_record::{NotExported, ZnodeRecord};

/// `corral export [PATH]`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The subtree's root (default `/`).
    #[arg(default_value = "/")]
    path: String,
    #[command(flatten)]
    pub(crate) session: SessionArgs,
}

/// Runs `export`: prints one record per znode; a count on stderr.
pub(crate) async fn export(client: &Client, args: &ExportArgs) -> CliResult {
    let root = args.path.as_str();
    let mut stack = vec![root.to_owned()];
    let (mut exported, mut ephemerals) = (0usize, 0usize);
    while let Some(path) = stack.pop() {
        let (data, acl, children) = tokio::join!(
            client.get_data(&path),
            client.get_acl(&path),
            client.get_children(&path)
        );
        let read = data.and_then(|d| Ok((d, acl?, children?)));
        let ((data, stat), (acl, _), children) = match read {
            Ok(read) => read,
            // Deleted during the walk: not part of the copy.
            Err(Error::Zk(e)) if e.code == ErrorCode::NoNode && path != root => continue,
            Err(e) => return Err(e.into()),
        };
        if exported + stack.len() + children.len() >= SUBTREE_PATHS_MAX {
            return Err(Failure::usage(format!(
                "error: the subtree at {root} has more than {SUBTREE_PATHS_MAX} znodes"
            )));
        }
        match ZnodeRecord::of(&path, &data, &stat, &acl) {
            Ok(record) => {
                print_json(&record)?;
                exported += 1;
            }
            Err(NotExported::Ephemeral) => ephemerals += 1,
            Err(NotExported::RedactedAcl(entry)) => {
                return Err(Failure {
                    message: format!(
                        "{:?}: {path}: its ACL entry {entry} comes back without its digest \
                         (no ADMIN permission); export with an identity that has it",
                        ErrorCode::NoAuth
                    ),
                    exit_code: EXIT_REFUSED,
                });
            }
        }
        // Sorted siblings, first on top of the stack: the file is in the
        // order `ls -R` prints.
        for child in children.iter().rev() {
            stack.push(child_path(&path, child));
        }
    }
    eprintln!(
        "corral export: {exported} znodes from {root}{}",
        match ephemerals {
            0 => String::new(),
            n => format!(" ({n} ephemerals left out: they belong to their sessions)"),
        }
    );
    Ok(())
}
