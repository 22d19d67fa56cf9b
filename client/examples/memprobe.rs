//! Temporary: sets N exist watches on distinct missing znodes, then waits.
use std::time::Duration;
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).unwrap_or("20000".into()).parse()?;
    let client = corral_client::Client::connect(corral_client::ClientConfig::from_env()?).await?;
    let mut set = tokio::task::JoinSet::new();
    let mut watches = Vec::with_capacity(n);
    for i in 0..n {
        if set.len() >= 256 {
            if let Some(r) = set.join_next().await {
                watches.push(r??);
            }
        }
        let c = client.clone();
        set.spawn(async move { c.exists_watch(&format!("/mem{i}")).await.map(|(_, w)| w) });
    }
    while let Some(r) = set.join_next().await {
        watches.push(r??);
    }
    println!("set {} watches", watches.len());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(())
}
