//! Placeholder filling in a launch spec's strings: `{port}`, `{secret}`, `{workdir}`,
//! `{bin_dir}`, `{launch_id}`, `{service:NAME}`, and in a cluster `{node}`, `{redis_url}` and
//! `{postgres_url}` are replaced first (each launched process knows its own), then
//! `{env:NAME}` with the harness's environment variable (empty if unset), so a value never
//! expands twice.

use std::path::{Path, PathBuf};

/// Replaces each placeholder, then `{env:NAME}`.
pub(super) fn fill(text: &str, placeholders: &[(String, String)]) -> String {
    let filled = placeholders
        .iter()
        .fold(text.to_owned(), |text, (placeholder, value)| {
            text.replace(placeholder, value)
        });
    expand_env(&filled)
}

/// Replaces each `{env:NAME}` with the variable's value (empty if unset).
pub(crate) fn expand_env(text: &str) -> String {
    let mut expanded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{env:") {
        let Some(length) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + "{env:".len()..start + length];
        expanded.push_str(&rest[..start]);
        expanded.push_str(&std::env::var(name).unwrap_or_default());
        rest = &rest[start + length + 1..];
    }
    expanded.push_str(rest);
    expanded
}

/// Where the harness's own executable lives (`target/debug`, `target/release`, or under
/// `CARGO_TARGET_DIR`): the servers of the same build are beside it. A test binary lives one
/// level down, in `deps/`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().map(Path::to_path_buf).unwrap_or(dir),
        _ => dir,
    }
}

#[cfg(test)]
mod tests {
    use super::{expand_env, fill};

    #[test]
    fn env_references_expand() {
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_env("a{env:PATH}b"), format!("a{path}b"));
        assert_eq!(expand_env("{env:SIO_SURELY_UNSET_VARIABLE}/db"), "/db");
        assert_eq!(expand_env("{port} {env:unclosed"), "{port} {env:unclosed");
    }

    #[test]
    fn placeholders_fill_before_environment_references() {
        let placeholders = [
            (
                "{service:kuma}".to_owned(),
                "http://127.0.0.1:4000".to_owned(),
            ),
            ("{port}".to_owned(), "4001".to_owned()),
        ];
        assert_eq!(
            fill(
                "{service:kuma}/x?p={port}{env:SIO_SURELY_UNSET_VARIABLE}",
                &placeholders
            ),
            "http://127.0.0.1:4000/x?p=4001"
        );
    }
}
