//! The ZooKeeper data tree as a pure state machine (issue [tree]).
