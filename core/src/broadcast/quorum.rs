//! Majority arithmetic over a set of voters, with nothing else in it.

use std::collections::{BTreeMap, BTreeSet};

use super::NodeId;

/// Outcome of counting votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VoteResult {
    /// A majority granted.
    Won,
    /// A majority can no longer grant.
    Lost,
    /// Undecided.
    Pending,
}

/// Smallest number of voters that is a majority of `voters` (0 for none).
pub(crate) fn majority(voters: &BTreeSet<NodeId>) -> usize {
    if voters.is_empty() {
        0
    } else {
        voters.len() / 2 + 1
    }
}

/// Highest index that a majority of voters has matched, given each voter's
/// match index (missing voters count as 0). 0 when there are no voters.
pub(crate) fn committed_index(voters: &BTreeSet<NodeId>, match_of: impl Fn(NodeId) -> u64) -> u64 {
    if voters.is_empty() {
        return 0;
    }
    let mut matched: Vec<u64> = voters.iter().map(|&id| match_of(id)).collect();
    matched.sort_unstable_by(|a, b| b.cmp(a));
    matched[majority(voters) - 1]
}

/// Counts `votes` (granted or not) of the voters; other nodes' votes are ignored.
pub(crate) fn vote_result(voters: &BTreeSet<NodeId>, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
    let need = majority(voters);
    let (mut granted, mut rejected) = (0, 0);
    for id in voters {
        match votes.get(id) {
            Some(true) => granted += 1,
            Some(false) => rejected += 1,
            None => {}
        }
    }
    if need == 0 {
        VoteResult::Lost
    } else if granted >= need {
        VoteResult::Won
    } else if voters.len() - rejected < need {
        VoteResult::Lost
    } else {
        VoteResult::Pending
    }
}

/// Whether the voters in `acked` form a majority.
pub(crate) fn has_quorum(voters: &BTreeSet<NodeId>, acked: impl Fn(NodeId) -> bool) -> bool {
    let need = majority(voters);
    need > 0 && voters.iter().filter(|&&id| acked(id)).count() >= need
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_index_is_the_majority_match() {
        let voters: BTreeSet<NodeId> = [1, 2, 3].into();
        let m = BTreeMap::from([(1, 5), (2, 3), (3, 9)]);
        assert_eq!(committed_index(&voters, |id| m[&id]), 5);
        let voters4: BTreeSet<NodeId> = [1, 2, 3, 4].into();
        let m4 = BTreeMap::from([(1, 5), (2, 3), (3, 9), (4, 1)]);
        assert_eq!(committed_index(&voters4, |id| m4[&id]), 3);
    }

    #[test]
    fn votes_decide_once_a_majority_is_certain() {
        let voters: BTreeSet<NodeId> = [1, 2, 3].into();
        let mut v = BTreeMap::from([(1, true)]);
        assert_eq!(vote_result(&voters, &v), VoteResult::Pending);
        v.insert(9, true);
        assert_eq!(vote_result(&voters, &v), VoteResult::Pending);
        v.insert(2, false);
        v.insert(3, false);
        assert_eq!(vote_result(&voters, &v), VoteResult::Lost);
        v.insert(3, true);
        assert_eq!(vote_result(&voters, &v), VoteResult::Won);
    }
}
