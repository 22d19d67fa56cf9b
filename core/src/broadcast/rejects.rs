//! Counters of rejected input, one per reason, readable for metrics.

/// Why a message or request was refused. Every rejection is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum Rejected {
    /// Addressed to another node, or claims to come from this node.
    #[error("message addressed to another node or from itself")]
    WrongRecipient,
    /// The sender is not a member of the current configuration.
    #[error("sender is not a member")]
    UnknownSender,
    /// Carries a term older than this node's (or term 0).
    #[error("stale term")]
    StaleTerm,
    /// An index or term that cannot be right (beyond the log, overflowing).
    #[error("absurd index")]
    AbsurdIndex,
    /// Bigger than a configured limit.
    #[error("oversized")]
    Oversize,
    /// Internally inconsistent (non-contiguous entries, terms above the sender's).
    #[error("malformed")]
    Malformed,
    /// Valid but meaningless in this node's current role or state (often a late
    /// duplicate).
    #[error("unexpected in the current state")]
    Unexpected,
}

impl Rejected {
    const ALL: [Rejected; 7] = [
        Rejected::WrongRecipient,
        Rejected::UnknownSender,
        Rejected::StaleTerm,
        Rejected::AbsurdIndex,
        Rejected::Oversize,
        Rejected::Malformed,
        Rejected::Unexpected,
    ];

    /// A short snake_case name, for metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Rejected::WrongRecipient => "wrong_recipient",
            Rejected::UnknownSender => "unknown_sender",
            Rejected::StaleTerm => "stale_term",
            Rejected::AbsurdIndex => "absurd_index",
            Rejected::Oversize => "oversize",
            Rejected::Malformed => "malformed",
            Rejected::Unexpected => "unexpected",
        }
    }
}

/// How many inputs were rejected, per reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectCounters {
    counts: [u64; 7],
}

impl RejectCounters {
    /// Adds one rejection and returns it, so call sites read `return Err(self.reject(..))`.
    pub(crate) fn count(&mut self, why: Rejected) -> Rejected {
        self.counts[why as usize] = self.counts[why as usize].saturating_add(1);
        why
    }

    /// Rejections for one reason.
    pub fn get(&self, why: Rejected) -> u64 {
        self.counts[why as usize]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// (reason, count) for every reason, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (Rejected, u64)> + '_ {
        Rejected::ALL.iter().map(|&why| (why, self.get(why)))
    }
}
