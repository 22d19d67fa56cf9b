//! corral-certs: the cluster's certificates — issued, loaded, reloaded, checked.
//!
//! Every link in corral is mutual TLS. One cluster CA signs two kinds of leaf
//! certificates, and the identity each proves lives in a URI SAN
//! (see [`identity`] for the full table):
//!
//! ```text
//!                    ca.pem / ca.key   (init_ca)
//!                   /                \
//!   node-<id>.pem/.key             client-<name>.pem/.key
//!   URI corral://node/<id>         URI corral://client/<name>
//!   EKU serverAuth+clientAuth      EKU clientAuth
//!   + DNS/IP SANs of its hosts     name = the x509 ACL identity
//! ```
//!
//! - [`issue`]: `init_ca`, `issue_node`, `issue_client` write PEM files (keys mode
//!   0600, created with that mode; nothing overwritten without `force`). The
//!   `corral certs init|node|client` commands are thin wrappers over these.
//! - [`store`]: [`CertStore`] loads a set and swaps in a new one when the files
//!   change ([`CertStore::reload_if_changed`]); it is the rustls certificate
//!   resolver for both sides, so new handshakes use the newest set.
//! - [`verify`]: rustls verifiers enforcing the cluster CA, expiry, and the
//!   identity rules ([`ClientPolicy`] for servers, [`ServerPolicy`] for dialers).
//!
//! The crypto provider is ring throughout.

mod error;
mod files;
pub mod identity;
pub mod issue;
pub mod store;
pub mod verify;

pub use error::{CertError, Result};
pub use files::{CERT_FILE_MODE, KEY_FILE_MODE};
pub use identity::{CertInfo, Identity, NodeId, identity_of, inspect};
pub use issue::{IssueOptions, IssuedFiles, init_ca, issue_client, issue_node};
pub use store::{CertPaths, CertSet, CertStore, provider};
pub use verify::{ClientPolicy, ExpectServer, ServerPolicy};
