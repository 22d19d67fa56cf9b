//! Sets an exist watch on each of N distinct, missing znodes and holds them
//! until Ctrl-C: what watches cost a node (each watched znode has a
//! ZnodeActor there).
//!
//! With a cluster from `corral dev` and its `export CORRAL_...` lines, with
//! `CORRAL_ENDPOINTS` set to one node:
//!
//! ```text
//! cargo run --release -p corral-client --example many_watches -- 50000
//! grep VmRSS /proc/NODE_PID/status    # before and after
//! ```

use corral_client::{Client, ClientConfig};

/// Watch requests in flight at once.
const IN_FLIGHT: usize = 256;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10_000,
    };
    let client = Client::connect(ClientConfig::from_env()?).await?;
    let mut pending = tokio::task::JoinSet::new();
    let mut watches = Vec::with_capacity(count);
    for i in 0..count {
        if pending.len() >= IN_FLIGHT {
            if let Some(joined) = pending.join_next().await {
                watches.push(joined??);
            }
        }
        let client = client.clone();
        pending.spawn(async move {
            let path = format!("/many-watches/{i}");
            client.exists_watch(&path).await.map(|(_, watch)| watch)
        });
    }
    while let Some(joined) = pending.join_next().await {
        watches.push(joined??);
    }
    println!(
        "session {:#x} on {} holds {} watches; Ctrl-C ends it",
        client.session_id(),
        client.server(),
        watches.len()
    );
    tokio::signal::ctrl_c().await?;
    client.close().await?;
    Ok(())
}
