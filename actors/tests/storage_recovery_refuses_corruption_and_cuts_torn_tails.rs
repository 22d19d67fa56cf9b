//! Proves the start-up rules of a node's storage: a WAL whose last record was
//! cut short by a crash starts (the torn record is cut off, everything before
//! it is there); a byte flipped in the middle of the WAL stops the start with
//! an error naming the file, never a node serving a damaged log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::*;

/// Bytes of the records of a segment (its frames are `[len u32 LE][crc][crc]
/// [payload]`; zeros after them are preallocated space).
fn records_bytes(segment: &[u8]) -> usize {
    let mut offset = 0;
    while let Some(len) = segment.get(offset..offset + 4) {
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 || offset + 12 + len > segment.len() {
            break;
        }
        offset += 12 + len;
    }
    offset
}

fn newest_segment(data_dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data_dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    segments.pop().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn torn_tails_are_cut_and_mid_log_corruption_refuses_to_start() {
    init_tracing();
    tokio::time::timeout(Duration::from_secs(120), async {
        let root = temp_root("corrupt");
        let pki = root.join("pki");
        make_pki(&pki, &[1]);
        let spec = cluster_specs(&root, 1, 0).remove(0);
        let node = start_node(&pki, spec.clone()).await;
        wait_leader(&[&node]).await;
        let mut client = Client::connect(&pki, spec.listen).await;
        for j in 0..20 {
            let (_, result) = client.create(&format!("/c{j}"), &[1u8; 64]).await;
            assert!(result.is_ok(), "{result:?}");
        }
        drop(client);
        node.shutdown(Duration::from_secs(2)).await;

        // A torn tail: the last 5 bytes of the last record never reached the
        // disk (zeros in the preallocated space).
        let segment = newest_segment(&spec.data_dir);
        let mut bytes = std::fs::read(&segment).unwrap();
        let end = records_bytes(&bytes);
        assert!(end > 5, "no records in {}", segment.display());
        bytes[end - 5..end].fill(0);
        std::fs::write(&segment, &bytes).unwrap();
        let node = start_node(&pki, spec.clone()).await;
        wait_leader(&[&node]).await;
        tokio::time::timeout(STEP, async {
            while current_view(&node).await.tree.get("/c18").is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("writes before the torn record are gone");
        node.shutdown(Duration::from_secs(2)).await;

        // A flipped byte in the middle of the log.
        let mut bytes = std::fs::read(&segment).unwrap();
        let middle = records_bytes(&bytes) / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(&segment, &bytes).unwrap();
        let err = corral_actors::start(spec.clone(), node_certs(&pki, 1))
            .await
            .unwrap_err();
        let source = std::error::Error::source(&err).map(ToString::to_string);
        let text = format!("{err}: {}", source.unwrap_or_default());
        assert!(text.contains("corrupt"), "{text}");
        assert!(text.contains(".wal"), "{text}");
    })
    .await
    .expect("test exceeded 120 s");
}
