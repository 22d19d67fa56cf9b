//! Names of sequential znodes: building a child's path, reading the 10-digit
//! suffix the server appends, and ordering children by it.

use corral_core::tree::path::validate_path;
use corral_core::tree::{ErrorCode, ZkError};

use crate::error::{Error, Result};

/// Digits of the suffix a sequential create appends (ZooKeeper's `%010d`).
const SUFFIX_DIGITS: usize = 10;

/// Checks that `dir` can hold a recipe's children: a valid path, not the root.
pub(crate) fn check_dir(dir: &str) -> Result<()> {
    if dir == "/" || validate_path(dir).is_err() {
        return Err(Error::Zk(ZkError::new(ErrorCode::BadArguments, dir)));
    }
    Ok(())
}

/// The path of `name` under `dir` (`dir` is not the root; see [`check_dir`]).
pub(crate) fn child_path(dir: &str, name: &str) -> String {
    format!("{dir}/{name}")
}

/// The sequence number of a child created by a sequential create: its last
/// 10 characters, which must all be digits. `None` for any other name.
pub(crate) fn sequence_of(name: &str) -> Option<u64> {
    let cut = name.len().checked_sub(SUFFIX_DIGITS)?;
    let suffix = name.get(cut..)?;
    if !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    suffix.parse().ok()
}

/// The children with a sequence suffix, lowest sequence first (ties, which
/// only foreign names can make, by name); the others are left out.
pub(crate) fn by_sequence(children: Vec<String>) -> Vec<String> {
    let mut numbered: Vec<(u64, String)> = children
        .into_iter()
        .filter_map(|name| sequence_of(&name).map(|n| (n, name)))
        .collect();
    numbered.sort_unstable();
    numbered.into_iter().map(|(_, name)| name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suffix_is_ten_digits_at_the_end() {
        assert_eq!(sequence_of("lock-0000000042"), Some(42));
        assert_eq!(sequence_of("0000000007"), Some(7));
        assert_eq!(sequence_of("ab12-4294967296"), Some(4_294_967_296));
        assert_eq!(sequence_of("lock-000000042"), None);
        assert_eq!(sequence_of("x-00000000a1"), None);
        assert_eq!(sequence_of("short"), None);
        assert_eq!(sequence_of("caf\u{e9}000000001"), None);
    }

    #[test]
    fn children_sort_by_sequence_not_by_name() {
        let children = vec![
            "b-0000000003".to_string(),
            "stray".to_string(),
            "a-0000000010".to_string(),
            "c-0000000001".to_string(),
        ];
        assert_eq!(
            by_sequence(children),
            vec!["c-0000000001", "b-0000000003", "a-0000000010"]
        );
    }

    #[test]
    fn the_root_and_bad_paths_cannot_hold_a_recipe() {
        assert!(check_dir("/locks/a").is_ok());
        for bad in ["/", "", "locks", "/locks/", "/a//b"] {
            let err = check_dir(bad).err();
            assert_eq!(
                err.and_then(|e| e.code()),
                Some(ErrorCode::BadArguments),
                "{bad:?}"
            );
        }
    }
}
