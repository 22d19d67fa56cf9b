//! One WAL record and its on-disk frame:
//! `[len u32 LE][crc32c(len) u32 LE][crc32c(payload) u32 LE][payload]`.
//!
//! The length has a CRC of its own so that a damaged length is told apart from
//! a write cut short by a crash: only a frame whose header checks out but whose
//! payload runs past the end of the file is a torn tail. The length is also
//! checked against a maximum before anything is allocated.

use corral_core::broadcast::Entry;
use serde::{Deserialize, Serialize};

/// Bytes of the frame header (length and CRC).
pub(crate) const HEADER_BYTES: usize = 12;

/// A log entry as the WAL stores it: its position and the consensus core's
/// encoded entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalEntry {
    /// Log index (the zxid).
    pub index: u64,
    /// Term (the epoch) the entry was created in.
    pub term: u64,
    /// The encoded entry, opaque to the WAL.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// One record of the WAL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalRecord {
    /// A log entry. An entry whose index is not past the last one replaces that
    /// suffix of the log (a new leader overwrote it).
    Entry(WalEntry),
    /// The consensus core's hard state (term, vote, commit), encoded; the last
    /// one in the log wins.
    HardState(Vec<u8>),
    /// A snapshot up to `index` was installed: every entry before this record
    /// is dropped, and the log continues at `index + 1`.
    Reset {
        /// The snapshot's last index.
        index: u64,
    },
    /// A log entry to write, as the consensus core holds it. Its frame is
    /// byte for byte that of [`WalRecord::Entry`] with the encoded entry as
    /// payload, encoded straight into the frame: no buffer of its own, and
    /// its data shared with the log, not copied. Recovery reads it back as
    /// [`WalRecord::Entry`]; only the WAL's frame encoder serializes it.
    #[serde(skip)]
    Pending(Entry),
}

/// Why a frame could not be decoded at some offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The bytes end inside the frame: a write cut short by a crash.
    Incomplete,
    /// A complete frame failed a check.
    Invalid {
        /// Which check, and the values it saw.
        reason: String,
        /// Bytes the frame spans as far as its header tells: the header alone
        /// when the header itself is bad.
        frame_bytes: usize,
    },
}

/// Appends the frame of `record` to `out`, returning the frame's length.
pub(crate) fn encode_frame(record: &WalRecord, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; HEADER_BYTES]);
    // Encoded in place, after its header: no copy of the payload. Serializing
    // into a Vec cannot fail for these plain types.
    let encoded = match record {
        WalRecord::Pending(entry) => encode_pending(entry, std::mem::take(out)),
        other => postcard::to_extend(other, std::mem::take(out)),
    };
    *out = match encoded {
        Ok(bytes) => bytes,
        Err(e) => unreachable!("postcard encoding of a WAL record failed: {e}"),
    };
    let payload_at = start + HEADER_BYTES;
    let len = u32::try_from(out.len() - payload_at)
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let crc = crc32c::crc32c(&out[payload_at..]);
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + 8].copy_from_slice(&crc32c::crc32c(&len).to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// Appends what postcard writes for `WalRecord::Entry(WalEntry { index,
/// term, payload })` where `payload` is the encoded `entry.kind`: the variant
/// (varint 0), the index and the term (varints), the payload's length
/// (varint), then the encoded kind itself.
fn encode_pending(entry: &Entry, out: Vec<u8>) -> postcard::Result<Vec<u8>> {
    const ENTRY_VARIANT: u32 = 0;
    let len = postcard::experimental::serialized_size(&entry.kind)? as u64;
    let out = postcard::to_extend(&(ENTRY_VARIANT, entry.index, entry.term, len), out)?;
    postcard::to_extend(&entry.kind, out)
}

/// Decodes the frame at the start of `bytes`; returns the record and its length.
pub(crate) fn decode_frame(
    bytes: &[u8],
    record_bytes_max: u32,
) -> Result<(WalRecord, usize), FrameError> {
    if bytes.len() < HEADER_BYTES {
        return Err(FrameError::Incomplete);
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (len, len_crc, crc) = (word(0), word(4), word(8));
    if crc32c::crc32c(&bytes[0..4]) != len_crc {
        return Err(FrameError::Invalid {
            reason: format!("length field {len} fails its CRC"),
            frame_bytes: HEADER_BYTES,
        });
    }
    if len > record_bytes_max {
        return Err(FrameError::Invalid {
            reason: format!("record length {len} exceeds the limit of {record_bytes_max}"),
            frame_bytes: HEADER_BYTES,
        });
    }
    let end = HEADER_BYTES + len as usize;
    if end > bytes.len() {
        return Err(FrameError::Incomplete);
    }
    let payload = &bytes[HEADER_BYTES..end];
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return Err(FrameError::Invalid {
            reason: format!("CRC mismatch: stored {crc:#010x}, computed {actual:#010x}"),
            frame_bytes: end,
        });
    }
    let record = postcard::from_bytes(payload).map_err(|e| FrameError::Invalid {
        reason: format!("undecodable record: {e}"),
        frame_bytes: end,
    })?;
    Ok((record, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> WalRecord {
        WalRecord::Entry(WalEntry {
            index,
            term: 3,
            payload: vec![7; 100],
        })
    }

    #[test]
    fn a_pending_entry_is_framed_exactly_as_its_encoded_entry() {
        use corral_core::broadcast::EntryKind;
        let kinds = [
            EntryKind::Noop,
            EntryKind::Normal(bytes::Bytes::from_static(b"x")),
            // Lengths whose varint takes one, two and three bytes.
            EntryKind::Normal(bytes::Bytes::from(vec![9u8; 100])),
            EntryKind::Normal(bytes::Bytes::from(vec![8u8; 300])),
            EntryKind::Normal(bytes::Bytes::from(vec![7u8; 70_000])),
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let entry = Entry {
                index: 1 << (7 * i),
                term: 3 + i as u64 * 1000,
                kind,
            };
            // The entry as serde encodes `WalRecord::Entry` with its kind as payload.
            let encoded = WalRecord::Entry(WalEntry {
                index: entry.index,
                term: entry.term,
                payload: postcard::to_allocvec(&entry.kind).unwrap(),
            });
            let (mut pending, mut reference) = (vec![1, 2, 3], vec![1, 2, 3]);
            let n = encode_frame(&WalRecord::Pending(entry), &mut pending);
            assert_eq!(n, encode_frame(&encoded, &mut reference));
            assert_eq!(pending, reference, "entry {i}");
            assert_eq!(decode_frame(&pending[3..], 1 << 20), Ok((encoded, n)));
        }
    }

    #[test]
    fn a_frame_round_trips() {
        let mut buf = Vec::new();
        let n = encode_frame(&entry(5), &mut buf);
        assert_eq!(n, buf.len());
        assert_eq!(decode_frame(&buf, 1024), Ok((entry(5), n)));
    }

    #[test]
    fn every_cut_of_a_frame_is_incomplete() {
        let mut buf = Vec::new();
        encode_frame(&entry(5), &mut buf);
        for cut in 0..buf.len() {
            assert_eq!(
                decode_frame(&buf[..cut], 1024),
                Err(FrameError::Incomplete),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_of_a_frame_is_detected() {
        let mut buf = Vec::new();
        encode_frame(&entry(5), &mut buf);
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x40;
            assert!(
                decode_frame(&bad, 1024).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn an_oversize_length_inside_the_file_is_corruption() {
        let mut buf = Vec::new();
        encode_frame(&entry(5), &mut buf);
        assert!(matches!(
            decode_frame(&buf, 16),
            Err(FrameError::Invalid { .. })
        ));
    }
}
