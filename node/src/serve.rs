//! `corral serve --config node.toml`: runs one replicated node until SIGTERM
//! (or SIGINT), then stops gracefully and exits 0.
//!
//! Logs go to stderr (`RUST_LOG` filters; default `info`). Lines a harness can
//! wait for: `corral node <id> ready`, `corral node <id> became leader in term
//! <t>`, `corral node <id> follows leader <l> in term <t>`, `corral node <id>
//! stopped`. The HTTP endpoint on `metrics_listen` answers `/health` (200 while
//! the process serves), `/ready` (200 once a leader is known and this node has
//! applied what was committed when it joined; the body says the role, term
//! and leader) and `/metrics` (Prometheus text; see `serve_http`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use corral_actors::{NodeSpec, PeerSpec, RunningNode};
use corral_certs::{CertPaths, CertStore};

use crate::config::{NodeConfig, Role};
use crate::idle_poll::IdlePoll;
use crate::serve_http;

/// How long a graceful stop waits for each stage.
const DRAIN: Duration = Duration::from_secs(5);

/// The node spec a configuration describes.
pub(crate) fn spec_of(config: &NodeConfig) -> NodeSpec {
    let peers = config
        .peers
        .iter()
        .map(|p| PeerSpec {
            id: p.id,
            address: p.address,
            observer: p.role == Role::Observer,
        })
        .collect();
    let mut spec = NodeSpec::new(config.id, config.listen, config.data_dir.clone(), peers);
    spec.cluster_id = config.cluster.clone();
    spec.observer = config.role == Role::Observer;
    spec.tick_ms = config.timing.tick_ms;
    spec.election_timeout_ticks = config.timing.election_timeout_ticks;
    spec.heartbeat_ticks = config.timing.heartbeat_ticks;
    spec.session_timeout_ms_min =
        i64::try_from(config.timing.session_timeout_ms_min).unwrap_or(i64::MAX);
    spec.session_timeout_ms_max =
        i64::try_from(config.timing.session_timeout_ms_max).unwrap_or(i64::MAX);
    spec.data_bytes_max = config.limits.data_bytes_max as usize;
    spec.frame_bytes_max = config.limits.frame_bytes_max;
    spec.session_requests_inflight_max = config.limits.session_requests_inflight_max as usize;
    spec.sessions_max = config.limits.sessions_max as usize;
    spec.watches_per_session_max = config.limits.watches_per_session_max as usize;
    spec.watch_history_changes = config.limits.watch_history_changes as usize;
    spec.snapshot_entries = config.limits.snapshot_entries;
    spec.snapshot_bytes = config.limits.snapshot_bytes;
    spec.wal_segment_bytes_max = config.limits.wal_segment_bytes_max;
    if let Some(version) = config.peer_protocol_version {
        spec.peer_protocol_version = version;
    }
    spec
}

/// Runs the node described by the file at `path`.
pub(crate) fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let config = NodeConfig::load(path)?;
    init_logging();
    let idle_poll = IdlePoll::new(Duration::from_micros(config.runtime.idle_poll_us.into()));
    let mut builder = runtime_builder(config.runtime.worker_threads);
    if let Some(poll) = &idle_poll {
        poll.hook(&mut builder);
    }
    let runtime = builder
        .enable_all()
        .thread_name("corral")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, idle_poll))
}

/// The runtime for `worker_threads` threads: one thread is a current-thread
/// runtime, whose wake-ups queue in order. A multi-thread runtime runs a task
/// woken by the running one next, so every session's reply would wake its
/// link's driver on its own and leave in its own datagram; queued in order,
/// the replies of one commit share the driver's next pass and its datagrams.
fn runtime_builder(worker_threads: u16) -> tokio::runtime::Builder {
    match worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        0 => tokio::runtime::Builder::new_multi_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n.into());
            builder
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn serve(config: NodeConfig, idle_poll: Option<IdlePoll>) -> anyhow::Result<()> {
    let paths = CertPaths {
        ca: config.tls.ca.clone(),
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
    };
    let certs: Arc<CertStore> =
        CertStore::load(paths).context("field `tls`: cannot load the certificates")?;
    let metrics = serve_http::install_recorder(config.metrics.enabled);
    let spec = spec_of(&config);
    let mut node: RunningNode = corral_actors::start(spec, certs)
        .await
        .with_context(|| format!("node {} cannot start", config.id))?;
    if let Some(poll) = &idle_poll {
        poll.watch(
            node.readiness_fds()
                .context("cannot watch the node's sockets")?,
        );
    }
    let http = serve_http::spawn(config.metrics_listen, node.view(), metrics)
        .await
        .with_context(|| {
            format!(
                "field `metrics_listen`: cannot bind {}",
                config.metrics_listen
            )
        })?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let outcome = tokio::select! {
        _ = term.recv() => { tracing::info!("SIGTERM received"); Ok(()) }
        _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT received"); Ok(()) }
        () = node.stopped() => Err(anyhow::anyhow!("node {} stopped on a fatal error (see the log above)", config.id)),
    };
    http.abort();
    if let Some(poll) = &idle_poll {
        poll.unwatch();
    }
    if outcome.is_ok() {
        node.shutdown(DRAIN).await;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_carries_every_configured_value() {
        let text = r#"
            id = 2
            cluster = "prod"
            role = "observer"
            listen = "127.0.0.1:7002"
            data_dir = "/var/lib/corral"
            metrics_listen = "127.0.0.1:9002"
            [tls]
            ca = "ca.pem"
            cert = "node-2.pem"
            key = "node-2.key"
            [[peers]]
            id = 1
            address = "127.0.0.1:7001"
            role = "voter"
            [timing]
            tick_ms = 20
            election_timeout_ticks = 15
            heartbeat_ticks = 3
            session_timeout_ms_min = 1000
            session_timeout_ms_max = 9000
            [limits]
            snapshot_entries = 77
            snapshot_bytes = 88
            wal_segment_bytes_max = 99
        "#;
        let config = NodeConfig::parse(text).unwrap();
        let spec = spec_of(&config);
        assert_eq!(spec.id, 2);
        assert_eq!(spec.cluster_id, "prod");
        assert!(spec.observer);
        assert_eq!(spec.peers.len(), 1);
        assert!(!spec.peers[0].observer);
        assert_eq!(spec.tick_ms, 20);
        assert_eq!(spec.election_timeout_ticks, 15);
        assert_eq!(spec.heartbeat_ticks, 3);
        assert_eq!(spec.session_timeout_ms_min, 1000);
        assert_eq!(spec.session_timeout_ms_max, 9000);
        assert_eq!(spec.snapshot_entries, 77);
        assert_eq!(spec.snapshot_bytes, 88);
        assert_eq!(spec.wal_segment_bytes_max, 99);
        let membership = spec.membership();
        assert!(membership.learners.contains(&2));
        assert!(membership.voters.contains(&1));
    }
}
