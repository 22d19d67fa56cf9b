//! Writing to stdout without panicking when the reader goes away
//! (`corral ls -R / | head` ends quietly).

use std::io::Write as _;

use serde::Serialize;

use super::failure::{CliResult, EXIT_REFUSED, Failure};

/// Writes `bytes` to stdout and flushes.
pub(crate) fn write_stdout(bytes: &[u8]) -> CliResult {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                // The reader has gone: nothing to say, but not a success.
                Failure {
                    message: String::new(),
                    exit_code: EXIT_REFUSED,
                }
            } else {
                Failure::usage(format!("error: cannot write stdout: {e}"))
            }
        })
}

/// Writes one line (a newline is added).
pub(crate) fn print_line(line: &str) -> CliResult {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    write_stdout(&bytes)
}

/// Writes `value` as one line of JSON.
pub(crate) fn print_json<T: Serialize>(value: &T) -> CliResult {
    let text = serde_json::to_string(value)
        .map_err(|e| Failure::usage(format!("error: cannot print JSON: {e}")))?;
    print_line(&text)
}
