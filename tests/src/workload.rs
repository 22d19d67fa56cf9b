//! A recorded write load: writer tasks that create, set and read znodes
//! through corral-client, recording every operation (call time, return time,
//! result; unknown after a connection loss) for the linearizability checker,
//! and reconnecting to any node after a loss.
//!
//! Each writer `w` creates its own znodes `/load/w<w>-<i>` (each acknowledged
//! create must survive anything a test does), and every few operations sets
//! or reads one of a few shared znodes `/load/shared-<k>`, so the history has
//! real contention for the checker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use corral_client::{Client, ClientConfig, CreateMode, Error, ErrorCode};
use tokio::task::JoinHandle;

use crate::linearizability::{Operation, Verdict, check};
use crate::znode_model::{ZnodeInput, ZnodeModel, ZnodeOutput};

/// The parent of every load znode.
pub const LOAD_ROOT: &str = "/load";
/// Number of shared znodes the writers contend on.
pub const SHARED_KEYS: usize = 4;
/// Search steps the checker may spend per znode.
pub const CHECK_STEPS_MAX: u64 = 5_000_000;

/// One recorded operation on one znode.
pub type ZnodeOperation = Operation<ZnodeInput, ZnodeOutput>;

/// The history of a load, shared by its writers.
#[derive(Debug, Clone)]
pub struct History {
    start: Instant,
    ops: Arc<Mutex<Vec<ZnodeOperation>>>,
}

impl Default for History {
    fn default() -> Self {
        Self::new()
    }
}

impl History {
    /// An empty history starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            ops: Arc::default(),
        }
    }

    /// Microseconds since the history started.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Records one operation.
    pub fn record(&self, op: ZnodeOperation) {
        self.ops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(op);
    }

    /// Every operation so far.
    pub fn operations(&self) -> Vec<ZnodeOperation> {
        self.ops
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Paths of every create that was acknowledged with success.
    pub fn acknowledged_creates(&self) -> Vec<String> {
        self.operations()
            .into_iter()
            .filter_map(|op| match (op.input, op.output) {
                (ZnodeInput::Create { path, .. }, Some(ZnodeOutput::Ok)) => Some(path),
                _ => None,
            })
            .collect()
    }

    /// Runs the linearizability checker over the writes, and over the reads
    /// of [`record_final_reads`] (made after a sync, once the load stopped).
    ///
    /// The writers' own reads are left out: ZooKeeper's reads are sequentially
    /// consistent, not linearizable (a follower may answer from slightly behind).
    pub fn check(&self) -> Verdict<String> {
        let ops: Vec<ZnodeOperation> = self
            .operations()
            .into_iter()
            .filter(|op| op.client == FINAL_READER || !matches!(op.input, ZnodeInput::Get { .. }))
            .collect();
        check::<ZnodeModel>(&ops, CHECK_STEPS_MAX)
    }
}

/// The client id of [`record_final_reads`] in the history.
pub const FINAL_READER: u64 = u64::MAX;

/// After the load stopped: syncs through `client`, then reads every shared
/// znode, recording the reads for the checker.
pub async fn record_final_reads(client: &Client, history: &History) -> anyhow::Result<()> {
    client.sync(LOAD_ROOT).await?;
    for k in 0..SHARED_KEYS {
        let input = ZnodeInput::Get {
            path: shared_path(k),
        };
        if run_op(client, &input, history, FINAL_READER)
            .await
            .is_none()
        {
            anyhow::bail!("final read of {} failed", shared_path(k));
        }
    }
    Ok(())
}

/// Path of shared znode `k`.
pub fn shared_path(k: usize) -> String {
    format!("{LOAD_ROOT}/shared-{k}")
}

/// Creates `/load` and the shared znodes (recorded), through `client`.
pub async fn prepare(client: &Client, history: &History) -> anyhow::Result<()> {
    match client.create(LOAD_ROOT, b"", CreateMode::Persistent).await {
        Ok(_) => {}
        Err(Error::Zk(e)) if e.code == ErrorCode::NodeExists => {}
        Err(e) => return Err(e.into()),
    }
    for k in 0..SHARED_KEYS {
        let input = ZnodeInput::Create {
            path: shared_path(k),
            data: b"0".to_vec(),
        };
        let output = run_op(client, &input, history, 0).await;
        if !matches!(output, Some(ZnodeOutput::Ok)) {
            anyhow::bail!("cannot create {}: {output:?}", shared_path(k));
        }
    }
    Ok(())
}

/// Runs `input` through `client`, records it, and returns its output (`None`
/// when the outcome is unknown).
pub async fn run_op(
    client: &Client,
    input: &ZnodeInput,
    history: &History,
    writer: u64,
) -> Option<ZnodeOutput> {
    let call_time = history.now_us();
    let result = match input {
        ZnodeInput::Create { path, data } => client
            .create(path, data, CreateMode::Persistent)
            .await
            .map(|_| ZnodeOutput::Ok),
        ZnodeInput::Delete { path, version } => client
            .delete(path, *version)
            .await
            .map(|()| ZnodeOutput::Ok),
        ZnodeInput::Set {
            path,
            data,
            version,
        } => client
            .set_data(path, data, *version)
            .await
            .map(|stat| ZnodeOutput::SetOk {
                version: stat.version,
            }),
        ZnodeInput::Get { path } => {
            client
                .get_data(path)
                .await
                .map(|(data, stat)| ZnodeOutput::Data {
                    data,
                    version: stat.version,
                })
        }
    };
    let output = match result {
        Ok(output) => Some(output),
        Err(Error::Zk(e)) if e.code == ErrorCode::NoNode => Some(ZnodeOutput::NoNode),
        Err(Error::Zk(e)) if e.code == ErrorCode::NodeExists => Some(ZnodeOutput::NodeExists),
        Err(Error::Zk(e)) if e.code == ErrorCode::BadVersion => Some(ZnodeOutput::BadVersion),
        // Connection loss, a timeout, a server error: it may or may not have happened.
        Err(_) => None,
    };
    history.record(Operation {
        client: writer,
        input: input.clone(),
        output: output.clone(),
        call_time,
        return_time: history.now_us(),
    });
    output
}

/// A running load; stop it with [`Load::stop`].
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    writers: Vec<JoinHandle<WriterStats>>,
}

/// What one writer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Operations answered.
    pub answered: u64,
    /// Operations whose outcome is unknown.
    pub unknown: u64,
    /// Sessions opened (1 + reconnects).
    pub sessions: u64,
}

impl Load {
    /// Starts `writers` writers, each with its own session on any node of `config`.
    pub fn start(config: ClientConfig, writers: u64, history: &History) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..writers)
            .map(|w| {
                let (config, history, stop) = (config.clone(), history.clone(), stop.clone());
                tokio::spawn(async move { writer(w, config, history, stop).await })
            })
            .collect();
        Self { stop, writers }
    }

    /// Stops the writers and waits for them (each finishes its current operation).
    pub async fn stop(self, timeout: Duration) -> anyhow::Result<WriterStats> {
        self.stop.store(true, Ordering::Release);
        let mut total = WriterStats::default();
        for writer in self.writers {
            let stats = tokio::time::timeout(timeout, writer)
                .await
                .map_err(|_| anyhow::anyhow!("a writer did not stop within {timeout:?}"))??;
            total.answered += stats.answered;
            total.unknown += stats.unknown;
            total.sessions += stats.sessions;
        }
        Ok(total)
    }
}

async fn writer(
    w: u64,
    config: ClientConfig,
    history: History,
    stop: Arc<AtomicBool>,
) -> WriterStats {
    let mut stats = WriterStats::default();
    let mut client: Option<Client> = None;
    let mut i: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        let Some(session) = client.as_ref() else {
            match Client::connect(config.clone()).await {
                Ok(c) => {
                    stats.sessions += 1;
                    client = Some(c);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        };
        let shared = shared_path(usize::try_from((w + i) % SHARED_KEYS as u64).unwrap_or(0));
        let input = match i % 4 {
            1 => ZnodeInput::Set {
                path: shared,
                data: format!("w{w}-{i}").into_bytes(),
                version: None,
            },
            3 => ZnodeInput::Get { path: shared },
            _ => ZnodeInput::Create {
                path: format!("{LOAD_ROOT}/w{w}-{i}"),
                data: format!("{i}").into_bytes(),
            },
        };
        i += 1;
        match run_op(session, &input, &history, w).await {
            Some(_) => stats.answered += 1,
            None => {
                stats.unknown += 1;
                // The session's node is gone (or it failed): open a new one.
                client = None;
            }
        }
    }
    stats
}
