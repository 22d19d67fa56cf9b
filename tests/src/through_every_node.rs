//! Writes sent through a session on every node (followers forward theirs),
//! and the check that every node then serves the same tree holding them all.

use corral_client::{Client, CreateMode};

use crate::cluster::Cluster;
use crate::tree_dump::dump_tree;

/// Through a session on each of `ids`: creates `/via-<id>`, then `per_node`
/// children `0..per_node`, each created empty and set to `<id>-<j>` at
/// version 0, all pipelined on the session; returns the sessions.
pub async fn write_through_each(
    cluster: &Cluster,
    ids: &[u64],
    per_node: usize,
) -> anyhow::Result<Vec<(u64, Client)>> {
    let mut clients = Vec::new();
    for &id in ids {
        clients.push((id, cluster.client(id).await?));
    }
    for (id, client) in &clients {
        let parent = format!("/via-{id}");
        client.create(&parent, b"p", CreateMode::Persistent).await?;
        // Concurrent tasks on one session: the requests pipeline on its stream.
        let mut tasks = tokio::task::JoinSet::new();
        for j in 0..per_node {
            let (client, path) = (client.clone(), format!("{parent}/{j}"));
            let data = format!("{id}-{j}");
            tasks.spawn(async move {
                client.create(&path, b"0", CreateMode::Persistent).await?;
                client.set_data(&path, data.as_bytes(), Some(0)).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
    }
    Ok(clients)
}

/// Syncs each session, then checks that the first node's tree holds every
/// write of [`write_through_each`] (at version 1) and that every node's tree
/// equals it (a mismatch panics; a failed sync or read is an error).
pub async fn assert_every_node_agrees(
    clients: &[(u64, Client)],
    per_node: usize,
) -> anyhow::Result<()> {
    let mut dumps = Vec::new();
    for (id, client) in clients {
        client.sync("/").await?;
        dumps.push((*id, dump_tree(client).await?));
    }
    let (first_id, first) = &dumps[0];
    for (id, _) in clients {
        for j in 0..per_node {
            let path = format!("/via-{id}/{j}");
            let znode = first
                .get(&path)
                .unwrap_or_else(|| panic!("{path} missing on node {first_id}"));
            assert_eq!(znode.data, format!("{id}-{j}").into_bytes(), "{path}");
            assert_eq!(znode.version, 1, "{path}");
        }
    }
    for (id, dump) in &dumps[1..] {
        assert_eq!(
            dump, first,
            "node {id}'s tree differs from node {first_id}'s"
        );
    }
    Ok(())
}
