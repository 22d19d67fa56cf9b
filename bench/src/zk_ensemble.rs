//! An Apache ZooKeeper ensemble on loopback that a bench starts, kills or
//! pauses one server of, restarts or resumes and stops: Debian's
//! `zookeeper` package run the way bench/zk-compare.sh runs it (fsync on,
//! the package's heap), one `QuorumPeerMain` process per server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use corral_transport::free_ports::free_addresses;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where Debian's `zookeeper` package puts the server.
pub(crate) const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";
/// The logger binding that sends the servers' logs to their log files.
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// zkServer.sh's default heap (ZK_SERVER_HEAP).
const HEAP_MB: u32 = 1000;
/// Longest wait for one answer of a four-letter word.
const FOUR_LETTERS_TIMEOUT: Duration = Duration::from_secs(2);

/// One server of the ensemble.
struct Server {
    id: usize,
    client_port: u16,
    dir: PathBuf,
    process: Option<Child>,
}

/// A running ensemble; dropping it kills every server it started.
pub(crate) struct ZkEnsemble {
    servers: Vec<Server>,
    classpath: String,
}

impl ZkEnsemble {
    /// Writes one config per server under `root` and starts `n` servers;
    /// returns once all serve (at most `timeout`).
    pub(crate) async fn start(root: &Path, n: usize, timeout: Duration) -> anyhow::Result<Self> {
        if !Path::new(ZK_JAR).exists() {
            bail!("{ZK_JAR} is missing: apt-get install zookeeper");
        }
        let mut classpath = ZK_JAR.to_owned();
        if Path::new(SLF4J_SIMPLE_JAR).exists() {
            classpath.push(':');
            classpath.push_str(SLF4J_SIMPLE_JAR);
        }
        // Below the ephemeral range, where no dialer's bind to port 0 takes
        // one between this pick and the JVM's bind (see corral_transport).
        let picked = free_addresses(3 * n as u64)
            .context("no free loopback ports for the ZooKeeper servers")?;
        let ports: Vec<(u16, u16, u16)> = picked
            .chunks_exact(3)
            .map(|c| (c[0].1.port(), c[1].1.port(), c[2].1.port()))
            .collect();
        let peers: String = ports
            .iter()
            .enumerate()
            .map(|(i, (_, quorum, election))| {
                format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1)
            })
            .collect();
        let mut servers = Vec::with_capacity(n);
        for (i, (client_port, ..)) in ports.iter().enumerate() {
            let id = i + 1;
            let dir = root.join(format!("zk-{id}"));
            let data = dir.join("data");
            std::fs::create_dir_all(&data)
                .with_context(|| format!("cannot create {}", data.display()))?;
            std::fs::write(data.join("myid"), format!("{id}\n"))?;
            let config = format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client_port}\n\
                 clientPortAddress=127.0.0.1\nmaxClientCnxns=0\nforceSync=yes\n\
                 admin.enableServer=false\n4lw.commands.whitelist=srvr\n{peers}",
                data.display()
            );
            std::fs::write(dir.join("zoo.cfg"), config)?;
            servers.push(Server {
                id,
                client_port: *client_port,
                dir,
                process: None,
            });
        }
        let mut ensemble = Self { servers, classpath };
        for i in 0..n {
            ensemble.start_server(i)?;
        }
        let all: Vec<usize> = (0..n).collect();
        ensemble.wait_serving(&all, timeout).await?;
        Ok(ensemble)
    }

    /// How many servers the ensemble has.
    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    /// Server `index`'s client endpoint.
    pub(crate) fn endpoint(&self, index: usize) -> anyhow::Result<String> {
        let server = self.servers.get(index).context("no such server")?;
        Ok(format!("127.0.0.1:{}", server.client_port))
    }

    /// Starts server `index` (again).
    pub(crate) fn start_server(&mut self, index: usize) -> anyhow::Result<()> {
        let classpath = self.classpath.clone();
        let server = self.servers.get_mut(index).context("no such server")?;
        let log = std::fs::File::create(server.dir.join("server.log"))?;
        let child = Command::new("java")
            .arg(format!("-Xms{HEAP_MB}m"))
            .arg(format!("-Xmx{HEAP_MB}m"))
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
            .arg("-cp")
            .arg(&classpath)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(server.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start ZooKeeper server {} (java)", server.id))?;
        server.process = Some(child);
        Ok(())
    }

    /// Kills server `index` with SIGKILL and reaps it.
    pub(crate) fn kill9(&mut self, index: usize) -> anyhow::Result<()> {
        let server = self.servers.get_mut(index).context("no such server")?;
        if let Some(mut child) = server.process.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Sends `signal` to server `index` (SIGSTOP pauses it, SIGCONT resumes it).
    pub(crate) fn signal(&self, index: usize, signal: Signal) -> anyhow::Result<()> {
        let server = self.servers.get(index).context("no such server")?;
        let child = server
            .process
            .as_ref()
            .with_context(|| format!("ZooKeeper server {} is not running", server.id))?;
        let pid = Pid::from_raw(i32::try_from(child.id()).context("a PID beyond i32")?);
        kill(pid, signal)
            .with_context(|| format!("cannot send {signal} to ZooKeeper server {}", server.id))
    }

    /// Server `index`'s mode ("leader", "follower"), if it serves.
    pub(crate) async fn mode(&self, index: usize) -> Option<String> {
        let server = self.servers.get(index)?;
        let reply = four_letters(server.client_port, "srvr").await.ok()?;
        reply
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_owned)
    }

    /// Waits until every server of `indexes` leads or follows.
    pub(crate) async fn wait_serving(
        &self,
        indexes: &[usize],
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut serving = 0;
            for &i in indexes {
                if matches!(self.mode(i).await.as_deref(), Some("leader" | "follower")) {
                    serving += 1;
                }
            }
            if serving == indexes.len() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "ZooKeeper servers {indexes:?} not serving within {timeout:?} (logs under {})",
                    self.servers
                        .first()
                        .and_then(|s| s.dir.parent())
                        .map_or_else(String::new, |d| d.display().to_string())
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ZkEnsemble {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            // Only the processes this ensemble started, by their handles.
            let _ = self.kill9(i);
        }
    }
}

/// The reply of a ZooKeeper four-letter word on `port`.
async fn four_letters(port: u16, word: &str) -> anyhow::Result<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut reply = Vec::new();
        (&mut stream).take(64 << 10).read_to_end(&mut reply).await?;
        anyhow::Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    tokio::time::timeout(FOUR_LETTERS_TIMEOUT, exchange)
        .await
        .context("no answer")?
}
