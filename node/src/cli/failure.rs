//! How a client command fails: a line on stderr and an exit code.
//!
//! A refusal by the server prints ZooKeeper's error name and the path
//! (`NoNode: /a/b`) and exits 1; bad usage exits 2 (as clap does); failing to
//! reach the cluster exits 3 (`ConnectionLoss: ...`).

use std::process::ExitCode;

use corral_client::{Error, ErrorCode, SessionState, ZkError};

/// Exit code when the server refused the operation (a ZooKeeper error).
pub(crate) const EXIT_REFUSED: u8 = 1;
/// Exit code for bad arguments or input.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code when the cluster could not be reached or the connection was lost.
pub(crate) const EXIT_UNREACHABLE: u8 = 3;

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    /// One line for stderr.
    pub(crate) message: String,
    /// The process's exit code.
    pub(crate) exit_code: u8,
}

impl Failure {
    /// Bad arguments or input (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: EXIT_USAGE,
        }
    }

    /// The cluster could not be reached (exit 3).
    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            exit_code: EXIT_UNREACHABLE,
        }
    }

    /// Prints the message (if any) on stderr and returns the exit code.
    pub(crate) fn report(self) -> ExitCode {
        if !self.message.is_empty() {
            eprintln!("{}", self.message);
        }
        ExitCode::from(self.exit_code)
    }
}

impl From<ZkError> for Failure {
    fn from(e: ZkError) -> Self {
        Self {
            message: format!("{:?}: {}", e.code, e.path),
            exit_code: EXIT_REFUSED,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Zk(zk) => zk.into(),
            Error::ConnectionLoss { .. } | Error::NoServer { .. } | Error::Transport(_) => {
                Failure::unreachable(format!("{:?}: {e}", ErrorCode::ConnectionLoss))
            }
            Error::SessionRefused {
                code: Some(code), ..
            } => Failure::unreachable(format!("{code:?}: {e}")),
            Error::SessionExpired { .. } => {
                Failure::unreachable(format!("{:?}: {e}", ErrorCode::SessionExpired))
            }
            Error::Config(_) | Error::Certs(_) => Failure::usage(format!("error: {e}")),
            Error::NodeLost { .. } => Failure {
                message: format!("error: {e}"),
                exit_code: EXIT_REFUSED,
            },
            other => Failure::unreachable(format!("error: {other}")),
        }
    }
}

/// The failure of a command whose session ended under it (`state` is final).
pub(crate) fn session_ended(state: SessionState) -> Failure {
    Failure::unreachable(format!(
        "{:?}: the session ended ({state:?}); its ephemeral nodes and watches are gone",
        ErrorCode::SessionExpired
    ))
}

/// A command's result.
pub(crate) type CliResult<T = ()> = Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_error_and_the_path() {
        let failure = Failure::from(Error::Zk(ZkError::new(ErrorCode::NoNode, "/a/b")));
        assert_eq!(failure.message, "NoNode: /a/b");
        assert_eq!(failure.exit_code, EXIT_REFUSED);
        let failure = Failure::from(ZkError::new(ErrorCode::NotEmpty, "/a"));
        assert_eq!(failure.message, "NotEmpty: /a");
    }

    #[test]
    fn a_config_error_is_usage_and_connection_loss_is_unreachable() {
        assert_eq!(
            Failure::from(Error::Config("x".into())).exit_code,
            EXIT_USAGE
        );
        let lost = Error::ConnectionLoss {
            server: ([127, 0, 0, 1], 1).into(),
            reason: "gone".into(),
        };
        let failure = Failure::from(lost);
        assert_eq!(failure.exit_code, EXIT_UNREACHABLE);
        assert!(
            failure.message.starts_with("ConnectionLoss: "),
            "{}",
            failure.message
        );
    }
}
