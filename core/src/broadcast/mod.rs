//! The atomic-broadcast consensus core, sans-IO (issue [broadcast]).
