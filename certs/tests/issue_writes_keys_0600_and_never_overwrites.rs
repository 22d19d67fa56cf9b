//! Proves that issuing writes loadable PEM files with the documented identities,
//! keys with mode 0600, and refuses to overwrite anything without `force`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use corral_certs::{
    CertError, CertPaths, CertStore, Identity, IssueOptions, KEY_FILE_MODE, init_ca, inspect,
    issue_client, issue_node,
};
use rustls::pki_types::pem::PemObject;

fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "corral-certs-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn issued_files_load_with_their_identities_and_keys_are_0600() {
    let dir = temp_dir("ids");
    let ca = init_ca(&dir, &IssueOptions::ca()).unwrap();
    let node = issue_node(
        &dir,
        7,
        &["127.0.0.1".into(), "localhost".into()],
        &IssueOptions::leaf(),
    )
    .unwrap();
    let client = issue_client(&dir, "app-1", &IssueOptions::leaf()).unwrap();
    for key in [&ca.key, &node.key, &client.key] {
        assert_eq!(mode(key), KEY_FILE_MODE, "{}", key.display());
    }
    let node_store = CertStore::load(CertPaths::node(&dir, 7)).unwrap();
    assert_eq!(node_store.current().identity, Identity::Node(7));
    let client_store = CertStore::load(CertPaths::client(&dir, "app-1")).unwrap();
    assert_eq!(
        client_store.current().identity,
        Identity::Client("app-1".into())
    );
    let pem = std::fs::read(&node.cert).unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    assert_eq!(inspect(&der).unwrap().identity, Identity::Node(7));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn existing_files_are_kept_without_force_and_replaced_with_it() {
    let dir = temp_dir("force");
    let ca = init_ca(&dir, &IssueOptions::ca()).unwrap();
    let before = std::fs::read(&ca.cert).unwrap();
    let err = init_ca(&dir, &IssueOptions::ca()).unwrap_err();
    assert!(matches!(err, CertError::AlreadyExists { .. }), "{err}");
    assert!(
        err.to_string().contains("ca.pem") || err.to_string().contains("ca.key"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&ca.cert).unwrap(),
        before,
        "refused init must not touch the CA"
    );

    let node = issue_node(&dir, 1, &[], &IssueOptions::leaf()).unwrap();
    let node_before = std::fs::read(&node.cert).unwrap();
    assert!(matches!(
        issue_node(&dir, 1, &[], &IssueOptions::leaf()),
        Err(CertError::AlreadyExists { .. })
    ));
    assert_eq!(std::fs::read(&node.cert).unwrap(), node_before);
    issue_node(&dir, 1, &[], &IssueOptions::leaf().forced()).unwrap();
    assert_ne!(
        std::fs::read(&node.cert).unwrap(),
        node_before,
        "force must replace"
    );
    assert_eq!(mode(&node.key), KEY_FILE_MODE, "a forced key is still 0600");

    init_ca(&dir, &IssueOptions::ca().forced()).unwrap();
    assert_ne!(std::fs::read(&ca.cert).unwrap(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_client_names_and_missing_ca_are_clear_errors() {
    let dir = temp_dir("bad");
    let err = issue_client(&dir, "no/slash", &IssueOptions::leaf()).unwrap_err();
    assert!(matches!(err, CertError::Invalid { .. }), "{err}");
    let err = issue_node(&dir, 1, &[], &IssueOptions::leaf()).unwrap_err();
    assert!(err.to_string().contains("ca.key"), "{err}");
    init_ca(&dir, &IssueOptions::ca()).unwrap();
    let err = issue_node(&dir, 0, &[], &IssueOptions::leaf()).unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
