//! A node's process dies (kill -9): its sessions move to another node as
//! soon as the client sends it anything, not when the link's QUIC idle
//! timeout ends it. The dead node's host answers each datagram sent to it
//! with ICMP port unreachable, as a TCP peer answers with a reset; the client
//! reads that on its socket's error queue and resumes the session elsewhere:
//! - an idle session, on its link's next QUIC keep-alive (after 1 s of
//!   silence, `ClientConfig::keep_alive`);
//! - a session with a read in flight, on the read's own datagram.
//!
//! Both keep their session id and their ephemerals; a new session that
//! dials only the dead node is refused at once, naming the kernel's answer. The nodes dial each
//! other from sockets that read the same answers, so the killed node, once
//! restarted, is served by the leader at its next redial. The cluster runs
//! with 5 s election timeouts, so its links' idle timeout is 30 s (six
//! election timeouts, see `NodeSpec::link_config`); each move, and the
//! restarted node's return, is awaited for at most 15 s, half of it: without
//! the error queue, all three time out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use corral_client::{Client, ClientConfig, CreateMode, SessionState};
use corral_tests::cluster::{Cluster, ClusterOptions};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Half the links' idle timeout (30 s with 5 s election timeouts).
const MOVE_WITHIN: Duration = Duration::from_secs(15);
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_corral"))
}

/// A session with a 60 s timeout on node `home` (the client starts at a
/// random endpoint of all three, so it connects until one lands there).
async fn session_on(cluster: &Cluster, home: u64) -> Client {
    let home_addr = cluster.node(home).unwrap().listen;
    let mut config: ClientConfig = cluster.client_config(&[]);
    config.session_timeout = SESSION_TIMEOUT;
    for _ in 0..64 {
        let client = Client::connect(config.clone()).await.unwrap();
        if client.server() == home_addr {
            return client;
        }
        client.close().await.unwrap();
    }
    panic!("no session landed on node {home} in 64 tries");
}

/// Kills follower `home` under `client`'s session and follows the session
/// until another node serves it (within `MOVE_WITHIN`), with its id.
async fn kill_and_follow(cluster: &mut Cluster, home: u64, client: &Client, read: bool) {
    let home_addr = cluster.node(home).unwrap().listen;
    let id = client.session_id();
    let mut states = client.state_changes();
    assert_eq!(states.next().await, Some(SessionState::Connected));
    cluster.kill9(home).unwrap();
    let killed = Instant::now();
    let moved = tokio::time::timeout(MOVE_WITHIN, async {
        if read {
            // A read in flight to the dead node: its datagram draws the answer.
            loop {
                match client.get_data("/active").await {
                    Ok(_) => break,
                    Err(corral_client::Error::ConnectionLoss { .. }) => {}
                    Err(e) => panic!("the read failed with {e}"),
                }
            }
        }
        let mut seen = Vec::new();
        while let Some(state) = states.next().await {
            seen.push(state);
            if state == SessionState::Connected {
                break;
            }
        }
        seen
    })
    .await;
    let seen = moved.unwrap_or_else(|_| {
        panic!(
            "the session did not move within {MOVE_WITHIN:?} (state {:?})",
            client.state()
        )
    });
    eprintln!(
        "{} session served by {} {} ms after the kill of node {home}",
        if read { "active" } else { "idle" },
        client.server(),
        killed.elapsed().as_millis()
    );
    assert_eq!(
        seen,
        vec![SessionState::Disconnected, SessionState::Connected]
    );
    assert_ne!(client.server(), home_addr);
    assert_eq!(client.session_id(), id);
}

async fn sessions_move_at_once() {
    // 100 ticks of 50 ms: links idle out after 30 s instead of 3 s.
    let options = ClusterOptions::new(3).set("timing.election_timeout_ticks", 100);
    let mut cluster = Cluster::start_serving(binary(), options).await.unwrap();
    let ids = cluster.ids();
    let leader = cluster
        .wait_leader(&ids, Duration::from_secs(30))
        .await
        .unwrap();
    // Followers: the cluster keeps its leader, so only the move is measured.
    let followers: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
    let (first, second) = (followers[0], followers[1]);

    // An idle session: nothing in flight, its link's keep-alive draws the
    // answer. Nothing else of this process talks to that node.
    let idle = session_on(&cluster, first).await;
    assert_eq!(idle.session_timeout(), SESSION_TIMEOUT);
    idle.create("/idle", b"", CreateMode::Ephemeral)
        .await
        .unwrap();
    kill_and_follow(&mut cluster, first, &idle, false).await;
    // The peers' links to it broke at their next datagram too, and they
    // redial: the restarted node hears from the leader without waiting out
    // the idle timeout of the links to its dead predecessor.
    cluster.start_node(first).unwrap();
    let restarted = Instant::now();
    cluster.wait_serving(&[first], MOVE_WITHIN).await.unwrap();
    eprintln!(
        "node {first} serving {} ms after its restart",
        restarted.elapsed().as_millis()
    );

    // A session with a read in flight when its node dies.
    let active = session_on(&cluster, second).await;
    active
        .create("/active", b"", CreateMode::Ephemeral)
        .await
        .unwrap();
    kill_and_follow(&mut cluster, second, &active, true).await;

    // Both sessions lived through the move: their ephemerals are still there.
    let observer = cluster.client(leader).await.unwrap();
    observer.sync("/").await.unwrap();
    for (path, owner) in [
        ("/idle", idle.session_id()),
        ("/active", active.session_id()),
    ] {
        let stat = observer.exists(path).await.unwrap();
        let stat = stat.unwrap_or_else(|| panic!("{path} is gone"));
        assert_eq!(stat.ephemeral_owner, owner, "{path} has another owner");
    }

    // A new session dialling only the dead node is refused at the kernel's
    // answer, not after its 30 s connect timeout.
    let mut config = cluster.client_config(&[second]);
    config.connect_timeout = Duration::from_secs(30);
    let refused = tokio::time::timeout(MOVE_WITHIN, Client::connect(config))
        .await
        .expect("the dial to a dead node waited for its connect timeout");
    match refused {
        Err(corral_client::Error::NoServer { attempts, .. }) => assert!(
            attempts.contains("ICMP port unreachable"),
            "the dial failed otherwise: {attempts}"
        ),
        Err(other) => panic!("expected NoServer, got {other}"),
        Ok(_) => panic!("a session opened on a dead node"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_node_process_dies_moves_at_once() {
    tokio::time::timeout(TEST_TIMEOUT, sessions_move_at_once())
        .await
        .expect("test timed out");
}
