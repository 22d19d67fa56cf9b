//! Per-request metrics, recorded by the session at the reply site:
//! `corral_requests_total{op,result}` and
//! `corral_request_duration_seconds{op}` (receipt to reply).
//!
//! Both labels come from fixed sets, never from the request's content: `op`
//! is one name per kind of request ([`op_label`], plus [`OP_PING`]) and
//! `result` is `ok` or ZooKeeper's name of the error code ([`result_label`]),
//! so the number of series is bounded whatever clients send.

use std::sync::OnceLock;
use std::time::Instant;

use corral_core::tree::{ErrorCode, Request, Response, ZkError};
use metrics::{Counter, Histogram};

/// The `op` label of a client's ping.
pub const OP_PING: &str = "ping";

/// Every `op` label.
pub const OPS: [&str; 18] = [
    "create",
    "delete",
    "exists",
    "get_data",
    "set_data",
    "get_children",
    "get_all_children_number",
    "get_ephemerals",
    "get_acl",
    "set_acl",
    "multi",
    "multi_read",
    "sync",
    "add_watch",
    "remove_watches",
    "add_auth",
    "close",
    OP_PING,
];

/// The handles of the hot path (an `ok` answer), per op, registered once:
/// a registry lookup with labels costs about a microsecond, a handle nothing.
struct OkHandles {
    ok: Counter,
    duration: Histogram,
}

/// Registered on the first request, after the node installed its recorder.
static OK_HANDLES: OnceLock<Vec<OkHandles>> = OnceLock::new();

fn ok_handles() -> &'static [OkHandles] {
    OK_HANDLES.get_or_init(|| {
        OPS.iter()
            .map(|op| OkHandles {
                ok: metrics::counter!("corral_requests_total", "op" => *op, "result" => "ok"),
                duration: metrics::histogram!("corral_request_duration_seconds", "op" => *op),
            })
            .collect()
    })
}

/// The `op` label of `request`: one fixed name per kind of request.
pub fn op_label(request: &Request) -> &'static str {
    match request {
        Request::Create(_) => "create",
        Request::Delete { .. } => "delete",
        Request::Exists { .. } => "exists",
        Request::GetData { .. } => "get_data",
        Request::SetData { .. } => "set_data",
        Request::GetChildren { .. } => "get_children",
        Request::GetAllChildrenNumber { .. } => "get_all_children_number",
        Request::GetEphemerals { .. } => "get_ephemerals",
        Request::GetAcl { .. } => "get_acl",
        Request::SetAcl { .. } => "set_acl",
        Request::Multi(_) => "multi",
        Request::MultiRead(_) => "multi_read",
        Request::Sync { .. } => "sync",
        Request::AddWatch { .. } => "add_watch",
        Request::RemoveWatches { .. } => "remove_watches",
        Request::AddAuth { .. } => "add_auth",
        Request::Close => "close",
    }
}

/// The `result` label of an outcome: `ok`, or the error code's name.
pub fn result_label(result: &Result<Response, ZkError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => error_label(e.code),
    }
}

/// ZooKeeper's name of `code` (`KeeperException.Code`), as a label.
pub fn error_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Ok => "ok",
        ErrorCode::SystemError => "system_error",
        ErrorCode::RuntimeInconsistency => "runtime_inconsistency",
        ErrorCode::DataInconsistency => "data_inconsistency",
        ErrorCode::ConnectionLoss => "connection_loss",
        ErrorCode::MarshallingError => "marshalling_error",
        ErrorCode::Unimplemented => "unimplemented",
        ErrorCode::OperationTimeout => "operation_timeout",
        ErrorCode::BadArguments => "bad_arguments",
        ErrorCode::UnknownSession => "unknown_session",
        ErrorCode::NewConfigNoQuorum => "new_config_no_quorum",
        ErrorCode::ReconfigInProgress => "reconfig_in_progress",
        ErrorCode::ApiError => "api_error",
        ErrorCode::NoNode => "no_node",
        ErrorCode::NoAuth => "no_auth",
        ErrorCode::BadVersion => "bad_version",
        ErrorCode::NoChildrenForEphemerals => "no_children_for_ephemerals",
        ErrorCode::NodeExists => "node_exists",
        ErrorCode::NotEmpty => "not_empty",
        ErrorCode::SessionExpired => "session_expired",
        ErrorCode::InvalidCallback => "invalid_callback",
        ErrorCode::InvalidAcl => "invalid_acl",
        ErrorCode::AuthFailed => "auth_failed",
        ErrorCode::SessionMoved => "session_moved",
        ErrorCode::NotReadOnly => "not_read_only",
        ErrorCode::EphemeralOnLocalSession => "ephemeral_on_local_session",
        ErrorCode::NoWatcher => "no_watcher",
        ErrorCode::RequestTimeout => "request_timeout",
        ErrorCode::ReconfigDisabled => "reconfig_disabled",
        ErrorCode::SessionClosedRequireSaslAuth => "session_closed_require_sasl_auth",
        ErrorCode::QuotaExceeded => "quota_exceeded",
        ErrorCode::Throttled => "throttled",
    }
}

/// Records one answered request: its count by result, and the time from
/// `received` (when the session read it) to now (when the reply is sent).
pub fn record(op: &'static str, result: &Result<Response, ZkError>, received: Instant) {
    record_outcome(op, result_label(result), received);
}

/// Records one answered request whose outcome is already a label (a ping:
/// `ok`).
pub fn record_outcome(op: &'static str, result: &'static str, received: Instant) {
    let elapsed = received.elapsed().as_secs_f64();
    if let Some(h) = OPS.iter().position(|o| *o == op).map(|i| &ok_handles()[i]) {
        if result == "ok" {
            h.ok.increment(1);
        } else {
            metrics::counter!("corral_requests_total", "op" => op, "result" => result).increment(1);
        }
        h.duration.record(elapsed);
        return;
    }
    metrics::counter!("corral_requests_total", "op" => op, "result" => result).increment(1);
    metrics::histogram!("corral_request_duration_seconds", "op" => op).record(elapsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_its_own_label() {
        let labels: std::collections::BTreeSet<&str> =
            ErrorCode::ALL.iter().map(|c| error_label(*c)).collect();
        assert_eq!(labels.len(), ErrorCode::ALL.len());
        assert!(
            labels
                .iter()
                .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }

    #[test]
    fn every_op_label_is_listed() {
        let requests = [
            Request::Close,
            Request::Sync { path: "/".into() },
            Request::Multi(Vec::new()),
            Request::MultiRead(Vec::new()),
            Request::GetEphemerals { prefix: "/".into() },
        ];
        for request in &requests {
            assert!(OPS.contains(&op_label(request)), "{request:?}");
        }
        let unique: std::collections::BTreeSet<&str> = OPS.iter().copied().collect();
        assert_eq!(unique.len(), OPS.len());
    }

    #[test]
    fn labels_never_carry_the_path() {
        let request = Request::GetData {
            path: "/secret/path".into(),
            watch: false,
        };
        assert_eq!(op_label(&request), "get_data");
        let failed: Result<Response, ZkError> =
            Err(ZkError::new(ErrorCode::NoNode, "/secret/path"));
        assert_eq!(result_label(&failed), "no_node");
    }
}
