//! The `corral` binary: wiring only (config, subcommands); the work is in the
//! library crates.

use clap::Parser;

/// corral: a ZooKeeper-compatible coordination service over mutual-TLS QUIC.
#[derive(Debug, Parser)]
#[command(name = "corral", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
