//! `corral certs ...`: issue the cluster CA, node and client certificates.

use std::path::PathBuf;

use clap::Subcommand;
use corral_certs::{IssueOptions, IssuedFiles, NodeId};

/// The `certs` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Create the cluster CA (ca.pem, ca.key) in DIR.
    Init {
        /// Directory for the certificate files.
        #[arg(long)]
        dir: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = corral_certs::issue::CA_VALIDITY_DAYS_DEFAULT)]
        days: u32,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issue node ID's certificate (node-ID.pem, node-ID.key), signed by the CA in DIR.
    Node {
        /// Directory holding the CA; the node's files are written there.
        #[arg(long)]
        dir: PathBuf,
        /// The node's id.
        #[arg(long)]
        id: NodeId,
        /// DNS names or IP addresses the node is reached at (repeatable).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = corral_certs::issue::LEAF_VALIDITY_DAYS_DEFAULT)]
        days: u32,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate (client-NAME.pem, client-NAME.key); NAME is
    /// its x509 ACL identity.
    Client {
        /// Directory holding the CA; the client's files are written there.
        #[arg(long)]
        dir: PathBuf,
        /// The client's name.
        #[arg(long)]
        name: String,
        /// Validity in days.
        #[arg(long, default_value_t = corral_certs::issue::LEAF_VALIDITY_DAYS_DEFAULT)]
        days: u32,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

fn options(days: u32, force: bool) -> IssueOptions {
    IssueOptions {
        validity_days: days,
        not_before: None,
        force,
    }
}

fn report(files: &IssuedFiles) {
    println!("wrote {}", files.cert.display());
    println!("wrote {} (mode 0600)", files.key.display());
}

/// Runs one `certs` subcommand.
pub(crate) fn run(command: CertsCommand) -> anyhow::Result<()> {
    let files = match command {
        CertsCommand::Init { dir, days, force } => {
            corral_certs::init_ca(&dir, &options(days, force))?
        }
        CertsCommand::Node {
            dir,
            id,
            hosts,
            days,
            force,
        } => corral_certs::issue_node(&dir, id, &hosts, &options(days, force))?,
        CertsCommand::Client {
            dir,
            name,
            days,
            force,
        } => corral_certs::issue_client(&dir, &name, &options(days, force))?,
    };
    report(&files);
    Ok(())
}
