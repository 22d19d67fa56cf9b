//! Errors of the write-ahead log.

use std::path::PathBuf;

/// What went wrong in the write-ahead log; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O call on a WAL file or directory failed.
    #[error("WAL I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record before the tail of the log failed its checks: the log is
    /// corrupt and the node must not start from it.
    #[error("WAL corrupt in {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad record in that file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A record to append is larger than `record_bytes_max`.
    #[error("WAL record of {len_bytes} bytes exceeds the limit of {max_bytes} bytes")]
    RecordTooLarge {
        /// The record's encoded size.
        len_bytes: usize,
        /// The configured limit.
        max_bytes: u32,
    },
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { path, source }
    }
}
