//! Snapshot files: the tree at an exact log index, written atomically.
//!
//! A snapshot is written to a temporary file, synced, renamed into place and
//! the directory synced, so a crash leaves either the old set or the new one,
//! never half a file. Each file holds a small header (index, term, the
//! consensus core's metadata) and the tree's own encoding, with a CRC32C over
//! everything. On start the newest snapshot that checks out is used; a damaged
//! one is reported and skipped for an older one, never served.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::storage_error::StorageError;

const SNAPSHOT_SUFFIX: &str = ".snap";
const MAGIC: &[u8; 8] = b"CORRALSN";

/// Where a snapshot stands in the log, and the consensus state that goes
/// with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot includes.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
    /// The consensus core's metadata at that index (membership), encoded.
    #[serde(with = "serde_bytes")]
    pub consensus: Vec<u8>,
}

/// A snapshot read back from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// Its position in the log.
    pub meta: SnapshotMeta,
    /// The tree's encoding.
    pub data: Vec<u8>,
    /// The file it came from.
    pub path: PathBuf,
}

/// What loading the newest snapshot found.
#[derive(Debug, Default)]
pub struct SnapshotLoad {
    /// The newest snapshot that checks out, if any.
    pub snapshot: Option<StoredSnapshot>,
    /// Newer snapshot files that failed their checks, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
}

/// The directory of snapshot files.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    /// Snapshots kept after a new one is written.
    keep: usize,
    /// Largest snapshot file believed when reading.
    bytes_max: u64,
}

impl SnapshotStore {
    /// A store in `dir` that keeps the newest `keep` snapshots (at least 1).
    pub fn new(dir: impl Into<PathBuf>, keep: usize, bytes_max: u64) -> Self {
        Self {
            dir: dir.into(),
            keep: keep.max(1),
            bytes_max,
        }
    }

    /// Writes a snapshot atomically and removes the ones beyond `keep`;
    /// returns the file's path and size.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(PathBuf, u64), StorageError> {
        fs::create_dir_all(&self.dir).map_err(StorageError::io(&self.dir))?;
        let bytes = encode(meta, data);
        let path = self
            .dir
            .join(format!("{:020}{SNAPSHOT_SUFFIX}", meta.index));
        let tmp = path.with_extension("snap.tmp");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(StorageError::io(&tmp))?;
        file.write_all(&bytes).map_err(StorageError::io(&tmp))?;
        file.sync_all().map_err(StorageError::io(&tmp))?;
        fs::rename(&tmp, &path).map_err(StorageError::io(&path))?;
        sync_dir(&self.dir)?;
        self.prune()?;
        Ok((path, bytes.len() as u64))
    }

    /// Loads the newest snapshot that passes its checks.
    pub fn load_newest(&self) -> Result<SnapshotLoad, StorageError> {
        let mut load = SnapshotLoad::default();
        for path in self.list()?.into_iter().rev() {
            match self.read(&path) {
                Ok(snapshot) => {
                    load.snapshot = Some(snapshot);
                    break;
                }
                Err(reason) => load.rejected.push((path, reason)),
            }
        }
        Ok(load)
    }

    fn read(&self, path: &Path) -> Result<StoredSnapshot, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if len > self.bytes_max {
            return Err(format!(
                "{len} bytes is over the limit of {}",
                self.bytes_max
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(self.bytes_max)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        let (meta, data) = decode(&bytes)?;
        Ok(StoredSnapshot {
            meta,
            data,
            path: path.to_path_buf(),
        })
    }

    /// Snapshot files, oldest first.
    fn list(&self) -> Result<Vec<PathBuf>, StorageError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(StorageError::Io {
                    path: self.dir.clone(),
                    source: e,
                });
            }
        };
        let mut found = Vec::new();
        for dirent in entries {
            let dirent = dirent.map_err(StorageError::io(&self.dir))?;
            let name = dirent.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SNAPSHOT_SUFFIX)) else {
                continue;
            };
            if let Ok(index) = stem.parse::<u64>() {
                found.push((index, dirent.path()));
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }

    fn prune(&self) -> Result<(), StorageError> {
        let files = self.list()?;
        let excess = files.len().saturating_sub(self.keep);
        for path in &files[..excess] {
            fs::remove_file(path).map_err(StorageError::io(path))?;
        }
        Ok(())
    }
}

/// `[magic][meta len u32][meta][data len u64][data][crc32c of all before]`.
fn encode(meta: &SnapshotMeta, data: &[u8]) -> Vec<u8> {
    let meta_bytes = match postcard::to_stdvec(meta) {
        Ok(bytes) => bytes,
        Err(e) => unreachable!("postcard encoding of snapshot metadata failed: {e}"),
    };
    let mut out = Vec::with_capacity(MAGIC.len() + 16 + meta_bytes.len() + data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(meta_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta_bytes);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(data);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Result<(SnapshotMeta, Vec<u8>), String> {
    let body_len = bytes.len().checked_sub(4).ok_or("file too short")?;
    let (body, crc) = bytes.split_at(body_len);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = crc32c::crc32c(body);
    if stored != actual {
        return Err(format!(
            "CRC mismatch: stored {stored:#010x}, computed {actual:#010x}"
        ));
    }
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("not a corral snapshot (bad magic)")?;
    let (meta_len, rest) = split_u32(rest)?;
    let meta_bytes = rest
        .get(..meta_len as usize)
        .ok_or("metadata runs past the end")?;
    let meta: SnapshotMeta =
        postcard::from_bytes(meta_bytes).map_err(|e| format!("undecodable metadata: {e}"))?;
    let rest = &rest[meta_len as usize..];
    let (data_len, rest) = split_u64(rest)?;
    if data_len != rest.len() as u64 {
        return Err(format!(
            "data length {data_len} but {} bytes present",
            rest.len()
        ));
    }
    Ok((meta, rest.to_vec()))
}

fn split_u32(bytes: &[u8]) -> Result<(u32, &[u8]), String> {
    let (head, rest) = bytes.split_at_checked(4).ok_or("truncated length field")?;
    Ok((
        u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
        rest,
    ))
}

fn split_u64(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    let (head, rest) = bytes.split_at_checked(8).ok_or("truncated length field")?;
    let mut word = [0u8; 8];
    word.copy_from_slice(head);
    Ok((u64::from_le_bytes(word), rest))
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            index,
            term: 2,
            consensus: vec![1, 2, 3],
        }
    }

    #[test]
    fn the_newest_snapshot_is_loaded_and_old_ones_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path(), 2, 1 << 20);
        for index in [10, 20, 30] {
            store.save(&meta(index), &vec![index as u8; 500]).unwrap();
        }
        let load = store.load_newest().unwrap();
        let snapshot = load.snapshot.unwrap();
        assert_eq!(snapshot.meta, meta(30));
        assert_eq!(snapshot.data, vec![30u8; 500]);
        assert!(load.rejected.is_empty());
        assert_eq!(store.list().unwrap().len(), 2);
    }

    #[test]
    fn every_flipped_byte_is_detected_and_an_older_snapshot_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path(), 2, 1 << 20);
        store.save(&meta(10), b"older").unwrap();
        let (path, _) = store.save(&meta(20), b"newer tree bytes").unwrap();
        let good = fs::read(&path).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x08;
            fs::write(&path, &bad).unwrap();
            let load = store.load_newest().unwrap();
            assert_eq!(
                load.snapshot.map(|s| s.meta.index),
                Some(10),
                "flip at byte {i}"
            );
            assert_eq!(load.rejected.len(), 1);
        }
    }

    #[test]
    fn an_empty_directory_has_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::new(dir.path().join("none"), 2, 1 << 20);
        let load = store.load_newest().unwrap();
        assert!(load.snapshot.is_none());
    }
}
