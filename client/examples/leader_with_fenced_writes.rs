//! Runs as one of several workers: campaigns for leadership of an election,
//! and while it leads, writes a heartbeat under a lock, stamping each write
//! with the lock's fencing token; then resigns and campaigns again.
//!
//! With a cluster from `corral dev` and its `export CORRAL_...` lines, start
//! two or three in separate terminals:
//!
//! ```text
//! cargo run -p corral-client --example leader_with_fenced_writes -- worker-a
//! cargo run -p corral-client --example leader_with_fenced_writes -- worker-b
//! ```
//!
//! Each prints who leads as it changes. Kill the leader's process (or the
//! node its session is on) to watch leadership move: a killed process's
//! session expires after its timeout, and the next candidate takes over.

use std::time::Duration;

use corral_client::recipes::{Election, Lock};
use corral_client::{Client, ClientConfig, CreateMode, ErrorCode};

/// Terms a worker leads before it steps down for the others.
const TERMS_MAX: u32 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let client = Client::connect(ClientConfig::from_env()?).await?;
    match client
        .create("/example-heartbeat", b"", CreateMode::Persistent)
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => {}
        Err(e) => return Err(e.into()),
    }
    let election = Election::new(&client, "/example/election")?;
    let lock = Lock::new(&client, "/example/heartbeat-lock")?;
    let mut observer = election.observe().await?;
    let watcher = tokio::spawn(async move {
        while let Ok(leader) = observer.next().await {
            match leader {
                Some(leader) => println!(
                    "leader: {} (term {})",
                    String::from_utf8_lossy(&leader.value),
                    leader.term
                ),
                None => println!("leader: none"),
            }
        }
    });

    for round in 1..=TERMS_MAX {
        let leadership = election.campaign(name.as_bytes()).await?;
        println!(
            "{name}: elected, round {round} of {TERMS_MAX} (term {})",
            leadership.term()
        );
        let guard = lock.acquire().await?;
        let beats = async {
            for beat in 0..5 {
                let stamp = format!("{name} token {} beat {beat}", guard.fencing_token());
                client
                    .set_data("/example-heartbeat", stamp.as_bytes(), None)
                    .await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok::<(), corral_client::Error>(())
        };
        tokio::select! {
            why = leadership.lost() => println!("{name}: lost leadership: {why}"),
            done = beats => done?,
        }
        guard.release().await?;
        leadership.resign().await?;
        // Give the others a turn before campaigning again.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watcher.abort();
    client.close().await?;
    Ok(())
}
