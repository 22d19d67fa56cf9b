//! Every znode as one node serves it: data, version and creation/modification
//! zxids, walked breadth-first from `/`. Two replicas with equal dumps hold the
//! same tree (as far as a client can tell).

use std::collections::BTreeMap;

use anyhow::Context;
use corral_client::Client;

/// Most znodes a dump reads (a bound on a test's memory).
pub const DUMP_ZNODES_MAX: usize = 1_000_000;

/// One znode as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpedZnode {
    /// Its data.
    pub data: Vec<u8>,
    /// Its data version.
    pub version: i32,
    /// zxid that created it.
    pub czxid: i64,
    /// zxid that last changed its data.
    pub mzxid: i64,
    /// Its children count.
    pub num_children: i32,
}

/// Reads every znode reachable from `/` through `client`, skipping `/zookeeper`.
pub async fn dump_tree(client: &Client) -> anyhow::Result<BTreeMap<String, DumpedZnode>> {
    let mut dump = BTreeMap::new();
    let mut queue = vec!["/".to_owned()];
    while let Some(path) = queue.pop() {
        if dump.len() >= DUMP_ZNODES_MAX {
            anyhow::bail!("more than {DUMP_ZNODES_MAX} znodes");
        }
        let (data, stat) = client
            .get_data(&path)
            .await
            .with_context(|| format!("getData {path}"))?;
        let children = client
            .get_children(&path)
            .await
            .with_context(|| format!("getChildren {path}"))?;
        for child in children {
            let child_path = if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            };
            if child_path != "/zookeeper" {
                queue.push(child_path);
            }
        }
        dump.insert(
            path,
            DumpedZnode {
                data,
                version: stat.version,
                czxid: stat.czxid,
                mzxid: stat.mzxid,
                num_children: stat.num_children,
            },
        );
    }
    Ok(dump)
}
