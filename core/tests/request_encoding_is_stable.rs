//! Pins the postcard encoding of a request that carries bytes: WAL entries
//! and snapshots written by earlier builds must still decode, so byte fields
//! stay a varint length and the raw bytes, whatever serde path encodes them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use corral_core::tree::Request;

/// setData("/a", [1, 2, 3], version -1), as every build so far wrote it:
/// variant 4, path (length 2, "/a"), data (length 3, the bytes), version
/// (zigzag varint of -1).
const SET_DATA: [u8; 9] = [4, 2, b'/', b'a', 3, 1, 2, 3, 1];

#[test]
fn set_data_encodes_and_decodes_as_earlier_builds_wrote_it() {
    let request = Request::SetData {
        path: "/a".into(),
        data: vec![1, 2, 3],
        version: -1,
    };
    assert_eq!(postcard::to_allocvec(&request).unwrap(), SET_DATA);
    assert_eq!(postcard::from_bytes::<Request>(&SET_DATA).unwrap(), request);
}
