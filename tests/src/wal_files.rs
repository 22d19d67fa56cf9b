//! Reading and damaging WAL segment files the way a crash or a bad disk
//! would, for recovery tests. Each record is framed as
//! `[len u32 LE][crc32c(len) u32 LE][crc32c(payload) u32 LE][payload]`; zeros
//! after the last record are preallocated space.

use std::path::Path;

use anyhow::{Context, bail};

/// Bytes of a record's header.
pub const RECORD_HEADER_BYTES: usize = 12;

/// Where one record sits in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of its header.
    pub offset: usize,
    /// Bytes of header and payload.
    pub frame_bytes: usize,
}

/// The records of the segment at `path`, in order (a torn tail and the
/// preallocated zeros are not listed).
pub fn records(path: &Path) -> anyhow::Result<Vec<RecordSpan>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut spans = Vec::new();
    let mut offset = 0;
    while let Some(header) = bytes.get(offset..offset + RECORD_HEADER_BYTES) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len == 0 {
            break;
        }
        let frame_bytes = RECORD_HEADER_BYTES + len;
        if offset + frame_bytes > bytes.len() {
            break;
        }
        spans.push(RecordSpan {
            offset,
            frame_bytes,
        });
        offset += frame_bytes;
    }
    Ok(spans)
}

/// Cuts the last record of the segment at `path` after `keep_bytes` of its
/// frame (`0 < keep_bytes < frame`), as a crash during its write into
/// preallocated space would: the rest of its frame is zeros. Returns the span
/// cut.
pub fn tear_last_record(path: &Path, keep_bytes: usize) -> anyhow::Result<RecordSpan> {
    let spans = records(path)?;
    let Some(last) = spans.last().copied() else {
        bail!("{} holds no record", path.display());
    };
    if keep_bytes == 0 || keep_bytes >= last.frame_bytes {
        bail!(
            "keep_bytes {keep_bytes} must be inside the frame of {} bytes",
            last.frame_bytes
        );
    }
    let mut bytes = std::fs::read(path)?;
    bytes[last.offset + keep_bytes..last.offset + last.frame_bytes].fill(0);
    std::fs::write(path, bytes)?;
    Ok(last)
}

/// Flips every bit of one payload byte of record `index` of the segment at
/// `path` (its CRC no longer matches); returns the byte's offset.
pub fn flip_payload_byte(path: &Path, index: usize) -> anyhow::Result<usize> {
    let spans = records(path)?;
    let span = spans
        .get(index)
        .with_context(|| format!("{} has no record {index}", path.display()))?;
    if span.frame_bytes <= RECORD_HEADER_BYTES {
        bail!("record {index} has an empty payload");
    }
    let at = span.offset + RECORD_HEADER_BYTES + (span.frame_bytes - RECORD_HEADER_BYTES) / 2;
    let mut bytes = std::fs::read(path)?;
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes)?;
    Ok(at)
}
