//! Watches a subtree of a corral cluster and prints every change, and every
//! change of the session's state, until Ctrl-C.
//!
//! With a cluster from `corral dev` and its `export CORRAL_...` lines:
//!
//! ```text
//! cargo run -p corral-client --example watch_tree -- /app
//! ```
//!
//! Kill the node it is connected to: the session moves to another node, the
//! watch carries on, and the events missed meanwhile are replayed (or a
//! "resync needed" line says they cannot be).

use corral_client::{Client, ClientConfig, CreateMode, ErrorCode, SessionState, WatchItem};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "/".to_owned());
    let client = Client::connect(ClientConfig::from_env()?).await?;
    println!(
        "session {:#x} on {} (timeout {} ms)",
        client.session_id(),
        client.server(),
        client.session_timeout().as_millis()
    );
    match client.create(&path, b"", CreateMode::Persistent).await {
        Ok(_) => println!("created {path}"),
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => {}
        Err(e) => return Err(e.into()),
    }
    let mut changes = client.watch(&path, true).await?;
    let mut states = client.state_changes();
    loop {
        tokio::select! {
            item = changes.next() => match item {
                Some(Ok(WatchItem::Event(event))) => {
                    println!("{:?} {} (zxid {})", event.event_type, event.path, event.zxid);
                }
                Some(Ok(WatchItem::ResyncNeeded { path, last_zxid_seen, oldest_zxid })) => {
                    println!("resync needed on {path}: saw {last_zxid_seen}, history starts at {oldest_zxid}");
                }
                Some(Err(e)) => {
                    println!("watch ended: {e}");
                    break;
                }
                None => break,
            },
            Some(state) = states.next() => {
                println!("session {state:?} (server {})", client.server());
                if state == SessionState::Expired {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => {
                client.close().await?;
                break;
            }
        }
    }
    Ok(())
}
