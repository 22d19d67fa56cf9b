//! Writing PEM files safely: created with their final mode, never overwritten
//! unless asked, and swapped in whole so a reloading node never reads half a file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{CertError, Result};

/// Mode of private key files: owner read/write only.
pub const KEY_FILE_MODE: u32 = 0o600;
/// Mode of certificate files: world readable.
pub const CERT_FILE_MODE: u32 = 0o644;

/// Creates `dir` (and parents) if missing.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| CertError::io("create directory", dir, e))
}

/// Fails if any of `paths` exists, unless `force`.
///
/// Checked for all files of a set before writing the first, so a refused command
/// leaves nothing half-written.
pub(crate) fn check_absent(paths: &[&Path], force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    for path in paths {
        match fs::symlink_metadata(path) {
            Ok(_) => {
                return Err(CertError::AlreadyExists {
                    path: path.to_path_buf(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CertError::io("inspect", *path, e)),
        }
    }
    Ok(())
}

/// Writes `contents` to `path` with `mode`.
///
/// The data goes to a temporary file created with `mode` (never chmod-ed after),
/// which is then renamed over `path` (`force`) or hard-linked to it (no `force`;
/// the link fails if `path` appeared meanwhile, so nothing is ever overwritten).
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32, force: bool) -> Result<()> {
    let tmp = temp_path(path);
    let result = write_temp(&tmp, contents, mode).and_then(|()| {
        if force {
            fs::rename(&tmp, path).map_err(|e| CertError::io("rename into", path, e))
        } else {
            fs::hard_link(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    CertError::AlreadyExists {
                        path: path.to_path_buf(),
                    }
                } else {
                    CertError::io("link", path, e)
                }
            })
        }
    });
    // After a rename the temporary name is gone already; otherwise remove it.
    let _ = fs::remove_file(&tmp);
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

fn write_temp(tmp: &Path, contents: &[u8], mode: u32) -> Result<()> {
    // A stale temporary file of a crashed run would keep its old mode: remove it.
    let _ = fs::remove_file(tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| CertError::io("create", tmp, e))?;
    file.write_all(contents)
        .map_err(|e| CertError::io("write", tmp, e))?;
    file.sync_all().map_err(|e| CertError::io("sync", tmp, e))
}
