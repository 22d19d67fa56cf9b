//! The `corral` binary: wiring only (config, subcommands); the work is in the
//! library crates.

mod certs_command;
mod cli;
mod config;
mod dev;
mod dev_http;
mod dev_layout;
mod idle_poll;
mod serve;
mod serve_http;

use std::path::PathBuf;

/// mimalloc: cheaper allocation on the write path than glibc's malloc, and its
/// arenas get transparent huge pages, which spares the tree's lookups most
/// of their TLB misses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// corral: a ZooKeeper-compatible coordination service over mutual-TLS QUIC.
#[derive(Debug, Parser)]
#[command(name = "corral", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Issue the cluster CA, node and client certificates.
    Certs {
        #[command(subcommand)]
        command: certs_command::CertsCommand,
    },
    /// Run a local cluster: certificates, one config and one `corral serve`
    /// process per node; prints the endpoints and the `export CORRAL_...` lines.
    Dev(dev::DevArgs),
    /// Run one replicated node until SIGTERM.
    Serve {
        /// Path of the node's TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    /// Check a node configuration file and print it as understood.
    CheckConfig {
        /// Path of the node's TOML configuration.
        #[arg(long)]
        config: PathBuf,
    },
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Certs { command } => certs_command::run(command)?,
        Command::Dev(args) => dev::run(args)?,
        Command::Serve { config } => serve::run(&config)?,
        // Client commands report their own errors, with their own exit codes.
        Command::Client(command) => return Ok(cli::run(command)),
        Command::CheckConfig { config } => {
            let parsed = config::NodeConfig::load(&config)?;
            let text = toml::to_string_pretty(&parsed).context("cannot print the configuration")?;
            println!("{text}");
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
