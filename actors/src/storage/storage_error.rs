//! Errors of the storage layer (WAL and snapshots).

use std::path::PathBuf;

/// What went wrong in the WAL or the snapshot files; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call on a WAL file or directory failed.
    #[error("storage I/O error on {path}: {source}")]
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

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StorageError {
        let path = path.into();
        move |source| StorageError::Io { path, source }
    }
}
