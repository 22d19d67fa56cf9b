//! Walking a subtree for `ls -R` and `delete -R`.

use corral_client::{Client, Error, ErrorCode};

use super::failure::{CliResult, Failure};

/// Most znodes one recursive command walks.
pub(crate) const SUBTREE_PATHS_MAX: usize = 1_000_000;
/// Times `delete -R` lists again after a node gained a child meanwhile.
const DELETE_ATTEMPTS_MAX: usize = 5;

/// The subtree at `root` in pre-order: the root first, every parent before
/// its children, siblings sorted. Nodes deleted during the walk are skipped;
/// the root must exist.
pub(crate) async fn list_subtree(client: &Client, root: &str) -> CliResult<Vec<String>> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let children = match client.get_children(&path).await {
            Ok(children) => children,
            Err(Error::Zk(e)) if e.code == ErrorCode::NoNode && path != root => continue,
            Err(e) => return Err(e.into()),
        };
        if paths.len() + stack.len() + children.len() >= SUBTREE_PATHS_MAX {
            return Err(Failure::usage(format!(
                "error: the subtree at {root} has more than {SUBTREE_PATHS_MAX} znodes"
            )));
        }
        for child in children.iter().rev() {
            stack.push(child_path(&path, child));
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Deletes `root` and everything under it, children before parents (`/`
/// itself stays). Nodes already gone are skipped; a node that gains a child
/// meanwhile makes the walk start again, a bounded number of times.
pub(crate) async fn delete_subtree(client: &Client, root: &str) -> CliResult {
    let mut attempt = 0;
    'walk: loop {
        attempt += 1;
        let paths = list_subtree(client, root).await?;
        for path in paths.iter().rev().filter(|p| p.as_str() != "/") {
            match client.delete(path, None).await {
                Ok(()) => {}
                Err(Error::Zk(e)) if e.code == ErrorCode::NoNode && path != root => {}
                Err(Error::Zk(e))
                    if e.code == ErrorCode::NotEmpty && attempt < DELETE_ATTEMPTS_MAX =>
                {
                    continue 'walk;
                }
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(());
    }
}

/// The path of `child` under `parent`.
pub(crate) fn child_path(parent: &str, child: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_paths_join_with_one_slash() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
    }
}
