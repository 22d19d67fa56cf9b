//! ZooKeeper's path rules (`PathUtils.validatePath`), and the parent/name split of a path.
//!
//! Paths are plain `String`s on the wire and in the log; they are validated where they
//! enter apply, so a bad path becomes `BadArguments` naming it, never a panic.

/// Why a path is invalid, worded as ZooKeeper words it (`Invalid path string ... caused by ...`).
pub type PathReason = String;

/// Checks `path` against ZooKeeper's rules: absolute, no trailing `/` (except the root), no
/// empty, `.` or `..` segments, no NUL, and none of the characters ZooKeeper rejects
/// (U+0001–U+001F, U+007F–U+009F, U+D800–U+F8FF, U+FFF0–U+FFFF, and anything outside the
/// BMP, which Java sees as surrogates). Positions in reasons count UTF-16 units, as Java does.
pub fn validate_path(path: &str) -> Result<(), PathReason> {
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    // Walk UTF-16 units (as Java does) keeping two behind and one ahead, without allocating.
    let mut units = path.encode_utf16().map(u32::from).peekable();
    let slash = u32::from(b'/');
    let dot = u32::from(b'.');
    units.next(); // the leading '/'
    let (mut last, mut before_last) = (slash, 0u32);
    let mut i = 0usize;
    while let Some(c) = units.next() {
        i += 1;
        let next_is_end_or_slash = units.peek().is_none_or(|n| *n == slash);
        let reason = if c == 0 {
            Some("null character not allowed")
        } else if c == slash && last == slash {
            Some("empty node name specified")
        } else if c == dot && last == dot {
            (before_last == slash && next_is_end_or_slash).then_some("relative paths not allowed")
        } else if c == dot {
            (last == slash && next_is_end_or_slash).then_some("relative paths not allowed")
        } else if is_rejected_unit(c) {
            Some("invalid character")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(format!(
                "Invalid path string \"{path}\" caused by {reason} @{i}"
            ));
        }
        before_last = last;
        last = c;
    }
    Ok(())
}

/// The UTF-16 code units ZooKeeper refuses in a path.
fn is_rejected_unit(c: u32) -> bool {
    (0x01..=0x1f).contains(&c)
        || (0x7f..=0x9f).contains(&c)
        || (0xd800..=0xf8ff).contains(&c)
        || (0xfff0..=0xffff).contains(&c)
}

/// The parent of a valid, non-root path (`/a/b` -> `/a`, `/a` -> `/`); `None` for the root.
pub fn parent_of(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    if path.len() == 1 {
        None
    } else if slash == 0 {
        Some("/")
    } else {
        Some(&path[..slash])
    }
}

/// The last segment of a valid path (`/a/b` -> `b`; the root's name is empty).
pub fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// The path of child `name` under `parent`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Whether `path` is `ancestor` or lies below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_and_name_split_at_the_last_slash() {
        assert_eq!(parent_of("/"), None);
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(name_of("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert!(is_within("/a/b", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(is_within("/ab", "/"));
    }

    #[test]
    fn supplementary_characters_are_rejected_like_java_surrogates() {
        assert!(validate_path("/a\u{1F600}").is_err());
        assert!(validate_path("/caf\u{e9}").is_ok());
    }
}
