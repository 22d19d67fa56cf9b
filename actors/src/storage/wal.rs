//! The write-ahead log: a directory of segment files of framed records.
//!
//! Segments are named for the index of the first entry they were opened for
//! (`00000000000000000001.wal`), so the ones wholly below a snapshot can be
//! removed. Appends go to the newest segment; once it passes
//! `segment_bytes_max` a new one starts, beginning with a copy of the latest
//! hard state so that removing old segments never loses it.
//!
//! The active segment is preallocated: zeros are written ahead of the appends
//! (`preallocate_bytes` at a time), so an append overwrites bytes the file
//! already has and making it durable (a direct `O_DSYNC` write, or an
//! `fdatasync`) writes data only, not the file's size through the filesystem
//! journal (as ZooKeeper pads its logs). A sealed segment is trimmed to its
//! records.
//!
//! Recovery reads every segment in order; zeros after the last record are
//! padding. A record of the newest segment that is cut short, or fails its
//! checks with nothing but zeros after it, is a write the crash interrupted: it
//! was never acknowledged, so it is cut off. Any other bad record is corruption
//! and stops the start.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::segment_file::{SegmentFile, align_up};
use super::storage_error::StorageError;
use super::wal_record::{FrameError, WalEntry, WalRecord, decode_frame, encode_frame};

const SEGMENT_SUFFIX: &str = ".wal";

/// Limits and location of a WAL.
#[derive(Debug, Clone)]
pub struct WalConfig {
    /// The directory holding the segment files.
    pub dir: PathBuf,
    /// Size after which a new segment is started.
    pub segment_bytes_max: u64,
    /// Largest encoded record accepted (and believed when reading).
    pub record_bytes_max: u32,
    /// Bytes of zeros written ahead of the appends at a time; 0 appends to
    /// the end of the file instead.
    pub preallocate_bytes: u64,
    /// Write the active segment with `O_DIRECT | O_DSYNC` where the
    /// filesystem allows it (see `segment_file`); false always goes through
    /// the page cache and `fdatasync`.
    pub direct_io: bool,
}

/// Zeros written ahead of the appends at a time, by default.
pub(super) const PREALLOCATE_BYTES: u64 = 1 << 20;

impl WalConfig {
    /// A configuration with 64 MiB segments, 16 MiB records, 1 MiB of
    /// preallocation and direct writes.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_bytes_max: 64 << 20,
            record_bytes_max: 16 << 20,
            preallocate_bytes: PREALLOCATE_BYTES,
            direct_io: true,
        }
    }
}

/// What recovery found in the WAL.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state written, if any.
    pub hard_state: Option<Vec<u8>>,
    /// The log entries in index order, overwritten suffixes already resolved.
    pub entries: Vec<WalEntry>,
    /// Bytes cut from the tail of the newest segment (a torn write).
    pub torn_tail_bytes: u64,
    /// The index of the last [`WalRecord::Reset`] read (an installed snapshot):
    /// entries from before it were dropped.
    pub reset_index: Option<u64>,
}

#[derive(Debug)]
struct Segment {
    first_index: u64,
    path: PathBuf,
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    config: WalConfig,
    /// Every segment, oldest first; the last is the one appended to.
    segments: Vec<Segment>,
    active: SegmentFile,
    last_index: u64,
    last_hard_state: Option<Vec<u8>>,
    buffer: Vec<u8>,
}

impl Wal {
    /// Opens (or creates) the WAL in `config.dir` and recovers its contents.
    pub fn open(config: WalConfig) -> Result<(Wal, Recovered), StorageError> {
        fs::create_dir_all(&config.dir).map_err(StorageError::io(&config.dir))?;
        let mut segments = list_segments(&config.dir)?;
        let mut recovered = Recovered::default();
        let count = segments.len();
        let mut newest_records_bytes = 0;
        for (i, segment) in segments.iter().enumerate() {
            let is_newest = i + 1 == count;
            newest_records_bytes = read_segment(segment, &config, is_newest, &mut recovered)?;
        }
        let last_index = recovered
            .entries
            .last()
            .map(|e| e.index)
            .or(recovered.reset_index)
            .unwrap_or(0);
        if segments.is_empty() {
            let segment = create_segment(&config.dir, last_index + 1)?;
            segments.push(segment);
            newest_records_bytes = 0;
        }
        let newest = segments.last().map(|s| s.path.clone()).unwrap_or_default();
        let active = SegmentFile::open(&newest, newest_records_bytes, config.direct_io)?;
        let wal = Wal {
            config,
            segments,
            active,
            last_index,
            last_hard_state: recovered.hard_state.clone(),
            buffer: Vec::new(),
        };
        Ok((wal, recovered))
    }

    /// Writes `records` to the log in one write. They are durable only after
    /// [`Wal::sync`] returns.
    ///
    /// A batch that starts with [`WalRecord::Reset`] (an installed snapshot)
    /// starts a new segment named for the entry after the snapshot, first
    /// removing the segments opened past it: everything they hold is replaced
    /// by the snapshot (already durable), and they would sort after the new one.
    pub fn append(&mut self, records: &[WalRecord]) -> Result<(), StorageError> {
        if let Some(WalRecord::Reset { index }) = records.first() {
            self.restart_at(*index)?;
        } else if self.active.records_end() >= self.config.segment_bytes_max {
            self.rotate()?;
        }
        self.buffer.clear();
        for record in records {
            let len = encode_frame(record, &mut self.buffer);
            if len > self.config.record_bytes_max as usize {
                return Err(StorageError::RecordTooLarge {
                    len_bytes: len,
                    max_bytes: self.config.record_bytes_max,
                });
            }
        }
        for record in records {
            match record {
                WalRecord::Entry(entry) => self.last_index = entry.index,
                WalRecord::Pending(entry) => self.last_index = entry.index,
                WalRecord::HardState(state) => self.last_hard_state = Some(state.clone()),
                WalRecord::Reset { index } => self.last_index = *index,
            }
        }
        self.preallocate(self.buffer.len() as u64)?;
        self.active.write_records(&self.buffer)?;
        metrics::counter!("corral_wal_written_bytes_total").increment(self.buffer.len() as u64);
        Ok(())
    }

    /// Writes zeros ahead of the appends so that the next `more` bytes fit in
    /// the file; the next [`Wal::sync`] makes the new length durable once.
    fn preallocate(&mut self, more: u64) -> Result<(), StorageError> {
        let needed = self.active.records_end() + more;
        let step = self.config.preallocate_bytes;
        if step == 0 || needed <= self.active.len() {
            return Ok(());
        }
        // Whole blocks, which direct writes need and which cost nothing else.
        self.active
            .extend_with_zeros(align_up(needed.max(self.active.len() + step)))
    }

    /// Makes everything appended so far durable (`fdatasync`, or nothing
    /// when every write was direct and durable already).
    pub fn sync(&mut self) -> Result<(), StorageError> {
        self.active.sync()
    }

    /// Removes the segments whose entries are all at or below `index` (they
    /// are covered by a snapshot). The newest segment is always kept.
    pub fn compact(&mut self, index: u64) -> Result<usize, StorageError> {
        let mut removable = 0;
        for pair in self.segments.windows(2) {
            // Every entry of a segment is below the first index of the next.
            if pair[1].first_index.saturating_sub(1) <= index {
                removable += 1;
            } else {
                break;
            }
        }
        for segment in self.segments.drain(..removable) {
            fs::remove_file(&segment.path).map_err(StorageError::io(&segment.path))?;
        }
        if removable > 0 {
            sync_dir(&self.config.dir)?;
        }
        Ok(removable)
    }

    /// Index of the last entry appended.
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn restart_at(&mut self, index: u64) -> Result<(), StorageError> {
        self.sync()?;
        let (keep, obsolete): (Vec<Segment>, Vec<Segment>) = std::mem::take(&mut self.segments)
            .into_iter()
            .partition(|s| s.first_index <= index);
        self.segments = keep;
        for segment in &obsolete {
            fs::remove_file(&segment.path).map_err(StorageError::io(&segment.path))?;
        }
        if !obsolete.is_empty() {
            sync_dir(&self.config.dir)?;
        }
        self.last_index = index;
        self.rotate()
    }

    fn rotate(&mut self) -> Result<(), StorageError> {
        if self.active.len() > self.active.records_end() {
            // Sealed: trim the zeros after its records (which syncs it).
            self.active.trim_to_records()?;
        } else {
            self.sync()?;
        }
        let segment = create_segment(&self.config.dir, self.last_index + 1)?;
        self.active = SegmentFile::open(&segment.path, 0, self.config.direct_io)?;
        self.segments.push(segment);
        if let Some(state) = self.last_hard_state.clone() {
            self.append(&[WalRecord::HardState(state)])?;
        }
        Ok(())
    }
}

fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>, StorageError> {
    let mut segments = Vec::new();
    for dirent in fs::read_dir(dir).map_err(StorageError::io(dir))? {
        let dirent = dirent.map_err(StorageError::io(dir))?;
        let name = dirent.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SEGMENT_SUFFIX)) else {
            continue;
        };
        let Ok(first_index) = stem.parse::<u64>() else {
            continue;
        };
        segments.push(Segment {
            first_index,
            path: dirent.path(),
        });
    }
    segments.sort_by_key(|s| s.first_index);
    Ok(segments)
}

fn create_segment(dir: &Path, first_index: u64) -> Result<Segment, StorageError> {
    let path = dir.join(segment_name(first_index));
    OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .map_err(StorageError::io(&path))?;
    sync_dir(dir)?;
    Ok(Segment { first_index, path })
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io(dir))
}

/// Reads one segment into `recovered`; cuts a torn tail off the newest one.
/// Returns the bytes of records it holds (where padding or the cut begins).
fn read_segment(
    segment: &Segment,
    config: &WalConfig,
    is_newest: bool,
    recovered: &mut Recovered,
) -> Result<u64, StorageError> {
    let path = &segment.path;
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(StorageError::io(path))?;
    let mut offset = 0usize;
    while offset < bytes.len() {
        // A record's length is never 0: a zero length field starts the
        // preallocated space after the last record, if only zeros follow.
        if all_zero(&bytes[offset..(offset + 4).min(bytes.len())]) && all_zero(&bytes[offset..]) {
            return Ok(offset as u64);
        }
        let failure = match decode_frame(&bytes[offset..], config.record_bytes_max) {
            Ok((record, len)) => {
                apply_record(record, recovered, path, offset)?;
                offset += len;
                continue;
            }
            Err(failure) => failure,
        };
        match torn_record_end(&bytes, offset, &failure) {
            Some(end) if is_newest => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(StorageError::io(path))?;
                file.set_len(offset as u64)
                    .map_err(StorageError::io(path))?;
                file.sync_all().map_err(StorageError::io(path))?;
                recovered.torn_tail_bytes = (end - offset) as u64;
                return Ok(offset as u64);
            }
            Some(_) => {
                return Err(corrupt(
                    path,
                    offset,
                    "record cut short in a sealed segment",
                ));
            }
            None => {
                let reason = match failure {
                    FrameError::Invalid { reason, .. } => reason,
                    FrameError::Incomplete => "record cut short".to_string(),
                };
                return Err(corrupt(path, offset, &reason));
            }
        }
    }
    Ok(offset as u64)
}

/// If the record at `offset` that failed with `failure` is the last thing
/// written (a write cut short by a crash), the end of what it spans: the file
/// ends inside it, or nothing but zeros (preallocated space the write never
/// reached) follows the span its header declares. `None` if data follows it.
fn torn_record_end(bytes: &[u8], offset: usize, failure: &FrameError) -> Option<usize> {
    let end = match failure {
        FrameError::Incomplete => return Some(bytes.len()),
        FrameError::Invalid { frame_bytes, .. } => (offset + frame_bytes).min(bytes.len()),
    };
    all_zero(&bytes[end..]).then_some(end)
}

/// Whether every byte is zero.
fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn apply_record(
    record: WalRecord,
    recovered: &mut Recovered,
    path: &Path,
    offset: usize,
) -> Result<(), StorageError> {
    match record {
        WalRecord::HardState(state) => recovered.hard_state = Some(state),
        WalRecord::Reset { index } => {
            recovered.entries.clear();
            recovered.reset_index = Some(index);
        }
        WalRecord::Pending(_) => {
            unreachable!("a pending entry is never decoded: it is framed as an Entry")
        }
        WalRecord::Entry(entry) => {
            if let Some(first) = recovered.entries.first().map(|e| e.index) {
                if entry.index < first || entry.index > first + recovered.entries.len() as u64 {
                    return Err(corrupt(
                        path,
                        offset,
                        &format!("entry {} does not follow the log ({first}..)", entry.index),
                    ));
                }
                // An entry at or below the last replaces that suffix.
                recovered.entries.truncate((entry.index - first) as usize);
            }
            recovered.entries.push(entry);
        }
    }
    Ok(())
}

fn corrupt(path: &Path, offset: usize, reason: &str) -> StorageError {
    StorageError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.to_string(),
    }
}
