//! Where the cluster is and how to authenticate: flags, or the
//! `CORRAL_ENDPOINTS`, `CORRAL_CA`, `CORRAL_CERT`, `CORRAL_KEY` variables that
//! `corral dev` prints.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use corral_client::{Client, ClientConfig};

use super::failure::{CliResult, Failure};

/// The flags that reach a cluster (every client command).
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectionArgs {
    /// The nodes, comma-separated `host:port`.
    #[arg(long, env = corral_client::ENV_ENDPOINTS, value_name = "HOST:PORT,...")]
    pub(crate) endpoints: Option<String>,
    /// The cluster CA certificate (PEM).
    #[arg(long, env = corral_client::ENV_CA, value_name = "PEM")]
    pub(crate) ca: Option<PathBuf>,
    /// This client's certificate (PEM); its name is the session's x509 identity.
    #[arg(long, env = corral_client::ENV_CERT, value_name = "PEM")]
    pub(crate) cert: Option<PathBuf>,
    /// This client's private key (PEM).
    #[arg(long, env = corral_client::ENV_KEY, value_name = "PEM")]
    pub(crate) key: Option<PathBuf>,
    /// Limit on reaching one node, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    pub(crate) connect_timeout_ms: u64,
}

/// The flags of the commands that open a session.
#[derive(Debug, Clone, Args)]
pub(crate) struct SessionArgs {
    #[command(flatten)]
    pub(crate) connection: ConnectionArgs,
    /// The session timeout asked for, in milliseconds (the server clamps it).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub(crate) session_timeout_ms: u64,
    /// Authenticate the session as a digest identity (repeatable).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub(crate) auth: Vec<String>,
    /// Print JSON (one object per line) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl ConnectionArgs {
    /// The client configuration these flags describe; the error names what is missing.
    pub(crate) fn client_config(&self) -> CliResult<ClientConfig> {
        fn required<T: Clone>(value: &Option<T>, flag: &str, var: &str) -> CliResult<T> {
            value
                .clone()
                .ok_or_else(|| Failure::usage(format!("error: pass --{flag} or set {var}")))
        }
        let endpoints = required(&self.endpoints, "endpoints", corral_client::ENV_ENDPOINTS)?;
        let endpoints = corral_client::parse_endpoints(&endpoints)?;
        let mut config = ClientConfig::new(
            endpoints,
            required(&self.ca, "ca", corral_client::ENV_CA)?,
            required(&self.cert, "cert", corral_client::ENV_CERT)?,
            required(&self.key, "key", corral_client::ENV_KEY)?,
        );
        config.connect_timeout = Duration::from_millis(self.connect_timeout_ms.max(1));
        Ok(config)
    }
}

impl SessionArgs {
    /// Opens a session and adds the `--auth` identities to it.
    pub(crate) async fn connect(&self) -> CliResult<Client> {
        let config = self
            .connection
            .client_config()?
            .with_session_timeout(Duration::from_millis(self.session_timeout_ms.max(1)));
        let client = Client::connect(config).await?;
        for user_password in &self.auth {
            if !user_password.contains(':') {
                return Err(Failure::usage(
                    "error: --auth takes USER:PASSWORD".to_owned(),
                ));
            }
            client.add_auth("digest", user_password.as_bytes()).await?;
        }
        Ok(client)
    }
}
