//! `sio-harness init [DIR]`: a starter scenarios folder for someone else's server. It runs green
//! against any server that accepts a connection (set `vars.auth` to what its handshake wants),
//! and never overwrites a file: everything is checked before anything is written. The JSON
//! Schemas go beside the YAML files, which name them relatively in a `yaml-language-server`
//! modeline: an editor validates and completes keys in a fresh folder, whatever the repository.

use std::path::{Path, PathBuf};

use crate::schema::SchemaKind;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{} already exists; init writes only new files (nothing was written)", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

const TARGETS: &str = r#"# yaml-language-server: $schema=./targets.schema.json
# Where `sio-harness run --target NAME` connects (a URL works too: --target http://host:port).
targets:
  local:
    # A server you run yourself. Scenarios run one after another against it (keep --jobs 1).
    url: http://127.0.0.1:3000
    # Optional, runs before each scenario so that scenarios do not see each other's data:
    # reset: { http: { method: POST, path: /test/reset } }    # or { command: [./reset.sh] }
    # secret: "{env:JWT_SECRET}"    # the server's JWT secret, to mint tokens it accepts
  launched:
    # A server the harness starts for each scenario on a free port and stops by its pid after.
    command: [node, server.js]      # your server's command line
    cwd: ..                         # relative to this file
    env: { PORT: "{port}" }         # {port}, {secret}, {workdir} and {env:NAME} are filled in
    ready: /health                  # an HTTP path that answers 200 once the server is up
"#;

const EXAMPLE: &str = r#"# yaml-language-server: $schema=./scenario.schema.json
# A scenario: one client connects, emits, and expects. The first run records every client's
# transcript as a snapshot (pass --update to accept it); later runs fail when it changes.
name: a client connects, emits and leaves
vars:
  # What your server's handshake expects in `auth`: a token, a user name... ({} for nothing).
  auth: { username: sio-harness }
steps:
  - connect:
      client: alice                # any name; each client has its own connection
      transport: websocket         # websocket | polling | upgrade
      auth: "{{auth}}"
  # An event for your server; {{run.id}} is unique to each run (for rooms, names, titles).
  - emit: { client: alice, event: hello, args: [{ from: "alice-{{run.id}}" }] }
  # Expect what your server answers, by name and arguments ($string, $number... match any), e.g.
  #   - expect: { client: alice, event: welcome, args: [{ id: $string }] }
  # or ask for an acknowledgement: add `ack: { args: [...] }` to the emit.
  - disconnect: { client: alice }
  - expect: { client: alice, disconnect: { reason: io client disconnect } }
"#;

fn readme(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "Socket.IO scenarios for sio-harness: `targets.yaml` says where the server is, `example.yaml` is one to copy.\n\
         Run `sio-harness run --target local --targets-file {dir}/targets.yaml --snapshots {dir}/snapshots --update {dir}`, then without `--update`.\n\
         Every key (steps, matchers, tokens, hooks, `{{{{run.id}}}}`) is in the harness's README.md; the `*.schema.json` files let an editor check and complete them.\n"
    )
}

/// Writes the starter into `dir` (created if needed) and returns the files written.
pub fn write(dir: &Path) -> Result<Vec<PathBuf>, InitError> {
    let mut files = vec![
        (dir.join("targets.yaml"), TARGETS.to_owned()),
        (dir.join("example.yaml"), EXAMPLE.to_owned()),
        (dir.join("README.md"), readme(dir)),
    ];
    // The starter has scenarios and targets; a load profile is written later, if at all.
    for kind in [SchemaKind::Scenario, SchemaKind::Targets] {
        files.push((dir.join(kind.file_name()), kind.generate()));
    }
    if let Some((path, _)) = files.iter().find(|(path, _)| path.exists()) {
        return Err(InitError::Exists(path.clone()));
    }
    std::fs::create_dir_all(dir).map_err(|source| InitError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (path, text) in files {
        // `create_new`: a file that appeared since the check is still not overwritten.
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|source| InitError::Write {
                path: path.clone(),
                source,
            })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_starter_that_parses_and_refuses_to_overwrite() {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().join("starter");
        let written = write(&dir).expect("writes");
        assert_eq!(written.len(), 5);
        // Each YAML file names, on its first line, a schema written beside it.
        for (file, schema) in [
            ("targets.yaml", "targets.schema.json"),
            ("example.yaml", "scenario.schema.json"),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).expect("read");
            let first = text.lines().next().unwrap_or_default();
            assert_eq!(first, format!("# yaml-language-server: $schema=./{schema}"));
            let written = std::fs::read_to_string(dir.join(schema)).expect("schema");
            serde_json::from_str::<serde_json::Value>(&written).expect("JSON");
        }
        let scenario = crate::scenario::load_file(&dir.join("example.yaml")).expect("parses");
        assert_eq!(scenario.scenarios.len(), 1);
        let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
        assert_eq!(readme.lines().count(), 3);
        assert!(readme.contains("{{run.id}}"), "{readme}");
        for name in ["local", "launched"] {
            crate::target::Target::resolve(name, &dir.join("targets.yaml"), None)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        // Nothing is overwritten, not even the files that do not exist yet.
        std::fs::remove_file(dir.join("README.md")).expect("remove");
        std::fs::remove_file(dir.join("targets.yaml")).expect("remove");
        std::fs::write(dir.join("example.yaml"), "mine").expect("write");
        let error = write(&dir).expect_err("refuses");
        assert!(matches!(error, InitError::Exists(ref p) if p.ends_with("example.yaml")));
        assert_eq!(
            std::fs::read_to_string(dir.join("example.yaml")).expect("read"),
            "mine"
        );
        assert!(!dir.join("README.md").exists() && !dir.join("targets.yaml").exists());
    }
}
