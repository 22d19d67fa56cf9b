//! The sequential model of one znode for the linearizability checker:
//! ZooKeeper's create, delete and setData with version checks, and getData.

use crate::linearizability::Model;

/// An operation on one znode, as a test client records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZnodeInput {
    /// create(path, data).
    Create {
        /// The znode.
        path: String,
        /// Its data.
        data: Vec<u8>,
    },
    /// delete(path, version); `None` is ZooKeeper's -1 (any version).
    Delete {
        /// The znode.
        path: String,
        /// The expected version.
        version: Option<i32>,
    },
    /// setData(path, data, version); `None` is -1.
    Set {
        /// The znode.
        path: String,
        /// The new data.
        data: Vec<u8>,
        /// The expected version.
        version: Option<i32>,
    },
    /// getData(path).
    Get {
        /// The znode.
        path: String,
    },
}

/// The recorded result of a [`ZnodeInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZnodeOutput {
    /// create, delete: success.
    Ok,
    /// setData: success, with the new version.
    SetOk {
        /// The version after the write.
        version: i32,
    },
    /// getData: the data and version read.
    Data {
        /// The data.
        data: Vec<u8>,
        /// Its version.
        version: i32,
    },
    /// NoNode.
    NoNode,
    /// NodeExists.
    NodeExists,
    /// BadVersion.
    BadVersion,
}

/// The state of one znode: absent, or its data and version.
pub type ZnodeState = Option<(Vec<u8>, i32)>;

/// The model of one znode; the history is partitioned by path.
#[derive(Debug)]
pub struct ZnodeModel;

impl ZnodeModel {
    /// What ZooKeeper answers to `input` in `state`, and the state after.
    pub fn apply(state: &ZnodeState, input: &ZnodeInput) -> (ZnodeOutput, ZnodeState) {
        match (input, state) {
            (ZnodeInput::Create { .. }, Some(_)) => (ZnodeOutput::NodeExists, state.clone()),
            (ZnodeInput::Create { data, .. }, None) => (ZnodeOutput::Ok, Some((data.clone(), 0))),
            (ZnodeInput::Delete { .. } | ZnodeInput::Set { .. } | ZnodeInput::Get { .. }, None) => {
                (ZnodeOutput::NoNode, None)
            }
            (ZnodeInput::Delete { version, .. }, Some((_, current))) => {
                if version.is_some_and(|v| v != *current) {
                    (ZnodeOutput::BadVersion, state.clone())
                } else {
                    (ZnodeOutput::Ok, None)
                }
            }
            (ZnodeInput::Set { data, version, .. }, Some((_, current))) => {
                if version.is_some_and(|v| v != *current) {
                    (ZnodeOutput::BadVersion, state.clone())
                } else {
                    let next = current + 1;
                    (
                        ZnodeOutput::SetOk { version: next },
                        Some((data.clone(), next)),
                    )
                }
            }
            (ZnodeInput::Get { .. }, Some((data, version))) => (
                ZnodeOutput::Data {
                    data: data.clone(),
                    version: *version,
                },
                state.clone(),
            ),
        }
    }
}

impl Model for ZnodeModel {
    type State = ZnodeState;
    type Input = ZnodeInput;
    type Output = ZnodeOutput;
    type Key = String;

    fn init() -> ZnodeState {
        None
    }

    fn key(input: &ZnodeInput) -> String {
        match input {
            ZnodeInput::Create { path, .. }
            | ZnodeInput::Delete { path, .. }
            | ZnodeInput::Set { path, .. }
            | ZnodeInput::Get { path } => path.clone(),
        }
    }

    fn step(
        state: &ZnodeState,
        input: &ZnodeInput,
        output: Option<&ZnodeOutput>,
    ) -> Option<ZnodeState> {
        let (expected, next) = Self::apply(state, input);
        match output {
            None => Some(next),
            Some(recorded) if *recorded == expected => Some(next),
            Some(_) => None,
        }
    }
}
