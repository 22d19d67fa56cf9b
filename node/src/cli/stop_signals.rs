//! Ctrl-C and SIGTERM, which end the commands that run until interrupted
//! (`watch`, `get -w`, `ls -w`, `create -e`).

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::failure::{CliResult, Failure};

/// Listens for SIGINT and SIGTERM from creation on.
pub(crate) struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Starts listening; from now on the signals no longer kill the process.
    pub(crate) fn new() -> CliResult<Self> {
        let listen = |kind: SignalKind, name: &str| {
            signal(kind)
                .map_err(|e| Failure::usage(format!("error: cannot listen for {name}: {e}")))
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Resolves at the next SIGINT or SIGTERM.
    ///
    /// Cancel safety: cancel-safe; a signal that arrives meanwhile is kept.
    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
