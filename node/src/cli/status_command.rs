//! `corral status`: every endpoint's view of the cluster, as a table or JSON.
//!
//! Each endpoint is asked concurrently with the `Status` request (no session,
//! so it works without a quorum). `lag` is how many committed entries a node
//! has still to apply: the highest commit index any node reported minus the
//! node's applied index. An endpoint that does not answer is listed as
//! unreachable, with why. The command succeeds if at least one node answered.

use std::time::Duration;

use clap::Args;
use corral_client::{Error, NodeStatus, node_status};
use serde::Serialize;

use super::connection_args::ConnectionArgs;
use super::failure::{CliResult, Failure};
use super::output::{print_json, print_line};

/// `corral status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    /// Limit on each node's answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    timeout_ms: u64,
    /// Print JSON (one object) instead of a table.
    #[arg(long)]
    json: bool,
}

/// One endpoint's row (JSON field names are part of the CLI's interface).
#[derive(Debug, Serialize)]
struct NodeRow {
    endpoint: String,
    reachable: bool,
    error: Option<String>,
    id: Option<u64>,
    role: Option<String>,
    voter: Option<bool>,
    term: Option<u64>,
    leader: Option<u64>,
    committed: Option<u64>,
    applied: Option<u64>,
    lag: Option<u64>,
    last_zxid: Option<i64>,
    sessions: Option<u64>,
    znodes: Option<u64>,
}

#[derive(Serialize)]
struct StatusJson<'a> {
    nodes: &'a [NodeRow],
}

impl NodeRow {
    fn new(endpoint: String, answer: Result<NodeStatus, String>, committed_max: u64) -> Self {
        match answer {
            Ok(s) => Self {
                endpoint,
                reachable: true,
                error: None,
                id: Some(s.id),
                role: Some(s.role),
                voter: Some(s.voter),
                term: Some(s.term),
                leader: s.leader,
                committed: Some(s.committed),
                applied: Some(s.applied),
                lag: Some(committed_max.saturating_sub(s.applied)),
                last_zxid: Some(s.last_zxid),
                sessions: Some(s.sessions),
                znodes: Some(s.znodes),
            },
            Err(error) => Self {
                endpoint,
                reachable: false,
                error: Some(error),
                id: None,
                role: None,
                voter: None,
                term: None,
                leader: None,
                committed: None,
                applied: None,
                lag: None,
                last_zxid: None,
                sessions: None,
                znodes: None,
            },
        }
    }

    /// The row's cells, in [`HEADER`] order.
    fn cells(&self) -> Vec<String> {
        fn cell<T: ToString>(value: &Option<T>) -> String {
            value.as_ref().map_or_else(|| "-".to_owned(), T::to_string)
        }
        if !self.reachable {
            let why = self.error.as_deref().unwrap_or("");
            return vec![
                self.endpoint.clone(),
                "-".into(),
                format!("unreachable: {why}"),
            ];
        }
        vec![
            self.endpoint.clone(),
            cell(&self.id),
            cell(&self.role),
            match self.voter {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "-".into(),
            },
            cell(&self.term),
            cell(&self.leader),
            cell(&self.committed),
            cell(&self.applied),
            cell(&self.lag),
            self.last_zxid
                .map_or_else(|| "-".into(), |z| format!("{z:#x}")),
            cell(&self.sessions),
            cell(&self.znodes),
        ]
    }
}

/// The table's column titles.
const HEADER: [&str; 12] = [
    "ENDPOINT",
    "ID",
    "ROLE",
    "VOTER",
    "TERM",
    "LEADER",
    "COMMITTED",
    "APPLIED",
    "LAG",
    "LAST_ZXID",
    "SESSIONS",
    "ZNODES",
];

/// Runs `status`.
pub(crate) async fn status(args: &StatusArgs) -> CliResult {
    let mut config = args.connection.client_config()?;
    config.connect_timeout = Duration::from_millis(args.timeout_ms.max(1));
    let mut queries = tokio::task::JoinSet::new();
    for (index, endpoint) in config.endpoints.iter().enumerate() {
        let (endpoint, config) = (endpoint.clone(), config.clone());
        queries.spawn(async move {
            let answer = node_status(&config, &endpoint).await;
            (index, answer.map_err(|e| unreachable_reason(&e)))
        });
    }
    let mut answers: Vec<Option<Result<NodeStatus, String>>> = vec![None; config.endpoints.len()];
    while let Some(joined) = queries.join_next().await {
        if let Ok((index, answer)) = joined {
            answers[index] = Some(answer);
        }
    }
    let committed_max = answers
        .iter()
        .filter_map(|a| a.as_ref()?.as_ref().ok().map(|s| s.committed))
        .max()
        .unwrap_or(0);
    let rows: Vec<NodeRow> = config
        .endpoints
        .iter()
        .zip(answers)
        .map(|(endpoint, answer)| {
            let answer = answer.unwrap_or_else(|| Err("the query task failed".to_owned()));
            NodeRow::new(endpoint.clone(), answer, committed_max)
        })
        .collect();
    if args.json {
        print_json(&StatusJson { nodes: &rows })?;
    } else {
        print_table(&rows)?;
    }
    if rows.iter().any(|r| r.reachable) {
        Ok(())
    } else {
        Err(Failure::unreachable("ConnectionLoss: no node answered"))
    }
}

/// Why a node did not answer, in a few words.
fn unreachable_reason(error: &Error) -> String {
    match error {
        Error::NoServer { attempts, .. } => attempts.clone(),
        other => other.to_string(),
    }
}

fn print_table(rows: &[NodeRow]) -> CliResult {
    let cells: Vec<Vec<String>> = rows.iter().map(NodeRow::cells).collect();
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.len()).collect();
    for row in cells.iter().filter(|row| row.len() == HEADER.len()) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |row: &[String]| {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let header: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
    print_line(&line(&header))?;
    for row in &cells {
        print_line(&line(row))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: u64, role: &str, committed: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            id,
            role: role.into(),
            voter: true,
            term: 2,
            leader: Some(1),
            committed,
            applied,
            last_zxid: 0x2_0000_0001,
            sessions: 0,
            znodes: 1,
        }
    }

    #[test]
    fn lag_counts_from_the_highest_commit_reported() {
        let row = NodeRow::new("a:1".into(), Ok(status(2, "follower", 7, 5)), 10);
        assert_eq!(row.lag, Some(5));
        assert_eq!(row.cells()[8], "5");
        assert_eq!(row.cells()[9], "0x200000001");
    }

    #[test]
    fn an_unreachable_node_says_why() {
        let row = NodeRow::new("a:1".into(), Err("no answer within 2000 ms".into()), 10);
        assert!(!row.reachable);
        assert_eq!(row.cells()[2], "unreachable: no answer within 2000 ms");
    }
}
