//! Targets: a server someone else runs (a URL), or one the harness launches from a named spec
//! in `targets.yaml` on a free port, waits for, and stops by its pid; or a cluster: several
//! nodes of one command sharing a redis-server and a database, optionally behind HAProxy
//! ([`service`]), all on free loopback ports.
//!
//! A launch spec's strings may use `{port}` (the node's), `{secret}` (a fresh JWT secret per
//! launch, also used to mint scenario tokens), `{workdir}` (a temporary directory per launch,
//! for the database), `{bin_dir}` (the directory of the harness's own executable, so a release
//! harness launches release servers and `CARGO_TARGET_DIR` is honoured), `{env:NAME}` (the
//! harness's environment variable NAME, empty if unset, e.g. a database server's URL),
//! `{launch_id}` (unique among running launches, the same for every node of a cluster: a shared
//! database's name), and in a cluster `{node}` (the node's name), `{redis_url}` and, with
//! `cluster.postgres`, `{postgres_url}` (a PostgreSQL of the launch's own, [`postgres`]). `setup`
//! commands (loading fixtures) run once per launch, before the first node starts.
//!
//! A spec's `services` are processes launched first, each on its own free port (`{port}` in its
//! own command): fakes of what the server depends on, such as Uptime Kuma. The server's strings
//! reach one as `{service:NAME}` (`http://127.0.0.1:PORT`), and `http` steps as `service: NAME`.
//! `ready` may also ask for a JSON body (`{path, json}`), for a server that answers before it is
//! ready for a scenario (a first poll of such a service done).
//!
//! Where each part lives: [`spec`] the targets file's schema; [`placeholders`] filling a spec's
//! strings; [`launch`] starting a spec's processes (services, redis, PostgreSQL, nodes,
//! HAProxy), each a [`node`] (a server process) or a [`service`] (PostgreSQL's cluster made by
//! [`postgres`]), all waited for by the one check in [`ready`] and signalled through
//! [`process`]; [`running`] the target they make up. This file says what `--target` names and
//! starts it.

mod launch;
mod node;
mod placeholders;
mod ports;
mod postgres;
mod process;
mod ready;
mod running;
mod service;
mod spec;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use placeholders::bin_dir;
pub(crate) use placeholders::expand_env;
pub use ports::free_port;
pub use running::RunningTarget;
pub use spec::{
    ClusterSpec, HaproxySpec, LaunchSpec, PostgresSpec, Ready, RedisSpec, ServerSpec, ServiceSpec,
    TargetsFile, schema as targets_schema,
};

use crate::hooks::{Hook, Hooks};
use node::Node;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Config(String),
    #[error("cannot start {name}: {detail}")]
    Launch { name: String, detail: String },
    #[error("{name} did not become ready on port {port} within {timeout:?}{log}")]
    NotReady {
        name: String,
        port: u16,
        timeout: Duration,
        log: String,
    },
    /// A step asked for something this target does not have (a node, redis, HAProxy).
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What `--target` named.
#[derive(Debug, Clone)]
pub enum Target {
    Url {
        url: String,
        secret: Option<String>,
        /// Boxed, as the spec is: most URL targets have none.
        hooks: Box<Hooks>,
    },
    Launch {
        name: String,
        /// Boxed: a spec is much larger than a URL.
        spec: Box<LaunchSpec>,
        base: PathBuf,
    },
}

impl Target {
    /// `http://…` is a URL; anything else names a spec in `targets_file`.
    pub fn resolve(
        name: &str,
        targets_file: &Path,
        secret: Option<String>,
    ) -> Result<Self, TargetError> {
        if name.starts_with("http://") || name.starts_with("https://") {
            return Ok(Target::Url {
                url: name.trim_end_matches('/').to_owned(),
                secret,
                hooks: Box::default(),
            });
        }
        let text = std::fs::read_to_string(targets_file).map_err(|e| {
            TargetError::Config(format!(
                "target {name:?} is not a URL and {} cannot be read: {e}",
                targets_file.display()
            ))
        })?;
        let file: TargetsFile = serde_saphyr::from_str(&text)
            .map_err(|e| TargetError::Config(format!("{}: {e}", targets_file.display())))?;
        let mut spec = file.targets.get(name).cloned().ok_or_else(|| {
            TargetError::Config(format!(
                "no target {name:?} in {} (known: {})",
                targets_file.display(),
                file.targets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        spec.redact.extend(file.redact);
        for rule in &spec.redact {
            rule.check().map_err(|message| {
                TargetError::Config(format!("{}: {message}", targets_file.display()))
            })?;
        }
        let base = targets_file
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        if let Some(url) = &spec.url {
            if !spec.command.is_empty() || spec.cluster.is_some() {
                return Err(TargetError::Config(format!(
                    "target {name:?} in {}: `url` does not go with `command` or `cluster`",
                    targets_file.display()
                )));
            }
            return Ok(Target::Url {
                url: expand_env(url).trim_end_matches('/').to_owned(),
                secret: spec.secret.as_deref().map(expand_env).or(secret),
                hooks: Box::new(Hooks {
                    reset: spec.reset,
                    after: spec.after,
                    dir: base,
                    redact: spec.redact,
                }),
            });
        }
        if spec.command.is_empty() {
            return Err(TargetError::Config(format!(
                "target {name:?} in {}: needs `command` (a server to launch) or `url`",
                targets_file.display()
            )));
        }
        spec.check(name)?;
        Ok(Target::Launch {
            name: name.to_owned(),
            spec: Box::new(spec),
            base,
        })
    }

    /// The same cluster spec with `count` nodes named `a`, `b`, … (a load run's `--nodes`); a
    /// single server stays as it is for a count of 1 and is refused otherwise.
    pub fn with_nodes(mut self, count: usize) -> Result<Self, TargetError> {
        const NAMES: &str = "abcdefghijklmnopqrstuvwxyz";
        if count == 0 || count > NAMES.len() {
            return Err(TargetError::Config(format!(
                "--nodes takes 1 to {}, not {count}",
                NAMES.len()
            )));
        }
        let target_name = self.name().to_owned();
        match &mut self {
            Target::Launch { spec, .. } => match spec.cluster.as_mut() {
                Some(cluster) => {
                    cluster.nodes = NAMES.chars().take(count).map(String::from).collect();
                    if let Some(haproxy) = &cluster.haproxy
                        && count != 2
                    {
                        return Err(TargetError::Config(format!(
                            "target {target_name} puts HAProxy ({}) in front of its nodes; use a \
                             cluster spec without `haproxy` for --nodes {count}",
                            haproxy.config
                        )));
                    }
                    Ok(self)
                }
                None if count == 1 => Ok(self),
                None => Err(TargetError::Config(format!(
                    "--nodes {count} needs a cluster target (a spec with `cluster`); \
                     {target_name} is a single server"
                ))),
            },
            Target::Url { .. } if count == 1 => Ok(self),
            Target::Url { .. } => Err(TargetError::Config(format!(
                "--nodes {count} needs a cluster the harness launches, not a URL"
            ))),
        }
    }

    /// The hooks run around each scenario.
    pub fn hooks(&self) -> Hooks {
        match self {
            Target::Url { hooks, .. } => Hooks::clone(hooks),
            Target::Launch { spec, base, .. } => Hooks {
                reset: spec.reset.clone(),
                after: spec.after.clone(),
                dir: base.clone(),
                redact: spec.redact.clone(),
            },
        }
    }

    /// Replaces the `reset` hook (the `--reset` option).
    pub fn with_reset(mut self, hook: Hook) -> Self {
        match &mut self {
            Target::Url { hooks, .. } => hooks.reset = Some(hook),
            Target::Launch { spec, .. } => spec.reset = Some(hook),
        }
        self
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Url { url, .. } => url,
            Target::Launch { name, .. } => name,
        }
    }

    /// Makes the target reachable: launches it if it is a spec.
    pub async fn start(&self) -> Result<RunningTarget, TargetError> {
        self.start_with_sql(None).await
    }

    /// Like [`Target::start`], loading `extra_sql` with the spec's `seed` command first.
    pub async fn start_with_sql(
        &self,
        extra_sql: Option<&str>,
    ) -> Result<RunningTarget, TargetError> {
        match self {
            Target::Url { url, secret, .. } => {
                let addr = resolve_addr(url)?;
                Ok(RunningTarget {
                    base_url: url.clone(),
                    addr,
                    secret: secret.clone(),
                    name: url.clone(),
                    cluster: false,
                    nodes: vec![Node {
                        name: String::new(),
                        addr,
                        base_url: url.clone(),
                        process: None,
                    }],
                    redis: None,
                    postgres: None,
                    haproxy: None,
                    services: BTreeMap::new(),
                    servers: BTreeMap::new(),
                })
            }
            Target::Launch { name, spec, base } => {
                launch::launch(name, spec, base, extra_sql).await
            }
        }
    }
}
fn resolve_addr(url: &str) -> Result<SocketAddr, TargetError> {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let with_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:80")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| TargetError::Config(format!("cannot resolve {url}")))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Ready, Target};

    #[test]
    fn the_shipped_cluster_targets_share_redis_and_a_postgresql_of_their_own() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
        for name in ["rust-cluster", "node-cluster"] {
            let Ok(Target::Launch { spec, .. }) = Target::resolve(name, &file, None) else {
                panic!("{name} does not resolve to a launch spec");
            };
            let cluster = spec.cluster.as_ref().expect("a cluster");
            assert_eq!(cluster.nodes, ["a", "b"]);
            assert!(cluster.redis.is_some() && cluster.haproxy.is_some());
            assert!(
                cluster.postgres.is_some(),
                "a PostgreSQL of its own, for `database` steps"
            );
            assert_eq!(spec.env["REDIS_URL"], "{redis_url}");
            assert_eq!(spec.env["DATABASE_URL"], "{postgres_url}/sio_{launch_id}");
            assert_eq!(
                spec.env["PING_INTERVAL_MS"], "1000",
                "the settings of the single targets"
            );
        }
    }

    #[test]
    fn the_mixed_cluster_runs_node_a_as_the_node_original_and_node_b_as_the_rust_server() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
        let Ok(Target::Launch { spec, .. }) = Target::resolve("mixed-cluster", &file, None) else {
            panic!("mixed-cluster does not resolve to a launch spec");
        };
        assert_eq!(
            spec.command,
            ["node", "dist/src/index.js"],
            "node a: the spec's own"
        );
        let cluster = spec.cluster.as_ref().expect("a cluster");
        assert_eq!(cluster.nodes, ["a", "b"]);
        assert_eq!(
            cluster.node_servers.get("b").map(String::as_str),
            Some("rust")
        );
        assert!(!cluster.node_servers.contains_key("a"));
        let rust = &cluster.servers["rust"];
        assert_eq!(rust.command[0], "{bin_dir}/realtime-server");
        assert_eq!(
            rust.env["REDIS_ADAPTER"], "socket.io",
            "Node's adapter protocol"
        );
        assert_eq!(spec.env["REDIS_URL"], "{redis_url}", "one redis for both");
        // Every cluster target may start a node as either server (scenarios/migration).
        for name in ["rust-cluster", "node-cluster", "mixed-cluster"] {
            let Ok(Target::Launch { spec, .. }) = Target::resolve(name, &file, None) else {
                panic!("{name} does not resolve");
            };
            let servers = &spec.cluster.as_ref().expect("a cluster").servers;
            assert_eq!(
                servers.keys().collect::<Vec<_>>(),
                ["node", "rust"],
                "{name}"
            );
        }
    }

    #[test]
    fn a_cluster_spec_naming_a_server_it_does_not_have_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("targets.yaml");
        for (cluster, expected) in [
            (
                "{ nodes: [a, b], node_servers: { b: rust } }",
                "gives node b the server \"rust\", which is not in `cluster.servers` (none)",
            ),
            (
                "{ nodes: [a], servers: { rust: { command: [y] } }, node_servers: { c: rust } }",
                "`node_servers` names \"c\", which is not in `cluster.nodes`",
            ),
            (
                "{ nodes: [a], servers: { rust: { command: [] } } }",
                "server rust has an empty `command`",
            ),
            (
                "{ nodes: [a], servers: { Rust: { command: [y] } } }",
                "server: \"Rust\" is not a node name",
            ),
        ] {
            let text = format!("targets:\n  c:\n    command: [x]\n    cluster: {cluster}\n");
            std::fs::write(&file, text).expect("write");
            let error = Target::resolve("c", &file, None).expect_err("refused");
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn a_cluster_spec_with_a_bad_or_repeated_node_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("targets.yaml");
        for (nodes, expected) in [
            ("[a, a]", "node \"a\" is listed twice"),
            ("[A]", "\"A\" is not a node name"),
            ("[]", "`cluster.nodes` is empty"),
        ] {
            let text =
                format!("targets:\n  c:\n    command: [x]\n    cluster: {{ nodes: {nodes} }}\n");
            std::fs::write(&file, text).expect("write");
            let error = Target::resolve("c", &file, None).expect_err("refused");
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn a_load_run_sets_a_clusters_node_count_and_refuses_single_servers() {
        let benches = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/targets.yaml");
        let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
        let three = Target::resolve("rust-cluster", &benches, None)
            .and_then(|t| t.with_nodes(3))
            .expect("a cluster without a load balancer takes any count");
        let Target::Launch { spec, .. } = three else {
            panic!("a launch spec");
        };
        assert_eq!(spec.cluster.expect("cluster").nodes, ["a", "b", "c"]);

        let single = Target::resolve("rust", &benches, None).and_then(|t| t.with_nodes(2));
        let error = single.expect_err("a single server has one node");
        assert!(
            error.to_string().contains("needs a cluster target"),
            "{error}"
        );
        assert!(
            Target::resolve("rust", &benches, None)
                .and_then(|t| t.with_nodes(1))
                .is_ok()
        );
        let behind_haproxy =
            Target::resolve("rust-cluster", &scenarios, None).and_then(|t| t.with_nodes(3));
        let error = behind_haproxy.expect_err("the HAProxy config names two nodes");
        assert!(error.to_string().contains("without `haproxy`"), "{error}");
    }

    #[test]
    fn the_kuma_target_launches_its_fake_first_and_waits_for_the_first_poll() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
        let Ok(Target::Launch { spec, .. }) = Target::resolve("rust-kuma", &file, None) else {
            panic!("rust-kuma does not resolve to a launch spec");
        };
        let kuma = &spec.services["kuma"];
        assert_eq!(kuma.ready.as_deref(), Some("/__fake/health"));
        assert!(kuma.command.contains(&"{port}".to_owned()));
        assert_eq!(spec.env["KUMA_URL"], "{service:kuma}");
        let Ready::Body { path, json } = &spec.ready else {
            panic!("ready waits for a body: {:?}", spec.ready);
        };
        assert_eq!(path, "/health");
        assert_eq!(json["kuma"]["state"], "ok");
    }

    #[test]
    fn a_service_with_a_bad_name_or_no_command_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("targets.yaml");
        for (services, expected) in [
            (
                "{ Kuma: { command: [x] } }",
                "service: \"Kuma\" is not a node name",
            ),
            (
                "{ kuma: { command: [] } }",
                "service kuma has an empty `command`",
            ),
        ] {
            let text = format!("targets:\n  t:\n    command: [x]\n    services: {services}\n");
            std::fs::write(&file, text).expect("write");
            let error = Target::resolve("t", &file, None).expect_err("refused");
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
