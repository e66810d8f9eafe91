//! The targets file's schema: `targets.yaml` maps names to launch specs (a server command, its
//! environment, setup and seed commands, readiness, a cluster's nodes with redis and HAProxy,
//! fake services) or to URL targets with their hooks. Parsed with `deny_unknown_fields`, so a
//! misspelt key is an error; [`LaunchSpec::check`] refuses what parses but cannot launch.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::TargetError;
use crate::hooks::Hook;
use crate::scenario::check_node_name;
use crate::transcript::Redaction;

/// `targets.yaml`: named launch specs, and named URL targets (`url:`) with their hooks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sio-harness targets file")]
pub struct TargetsFile {
    pub targets: BTreeMap<String, LaunchSpec>,
    /// Transcript redactions for every target of the file (each target may add its own).
    #[serde(default)]
    pub redact: Vec<Redaction>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LaunchSpec {
    /// Program and arguments (a launch spec); or, instead, `url` (a server you run).
    #[serde(default)]
    pub command: Vec<String>,
    /// A server the harness does not launch (`{env:NAME}` expanded).
    #[serde(default)]
    pub url: Option<String>,
    /// The JWT secret of a `url` target (`{env:NAME}` expanded); else `--jwt-secret`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Runs before each scenario (isolation for a shared server).
    #[serde(default)]
    pub reset: Option<Hook>,
    /// Runs after each scenario, whatever its outcome.
    #[serde(default)]
    pub after: Option<Hook>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Commands run before each launch (fixtures), with the same environment.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// Working directory, relative to the targets file.
    #[serde(default)]
    pub cwd: Option<String>,
    /// HTTP path that answers 200 once the server is ready (and a body to wait for).
    #[serde(default)]
    pub ready: Ready,
    #[serde(default)]
    pub description: Option<String>,
    /// Loads an extra SQL file (`{sql}`), e.g. the load mode's users; same environment.
    #[serde(default)]
    pub seed: Option<Vec<String>>,
    /// Launch several nodes of `command` and the services they share.
    #[serde(default)]
    pub cluster: Option<ClusterSpec>,
    /// Processes started before the server, by name (`{service:NAME}`).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    /// Transcript redactions for scenarios run against this target.
    #[serde(default)]
    pub redact: Vec<Redaction>,
}

/// When a launched server is ready: its path answers 200, and when `json` is given, its body
/// matches it (a partial match, matchers allowed: `{kuma: {state: ok}}`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Ready {
    Path(String),
    Body {
        path: String,
        json: serde_json::Value,
    },
}

impl Default for Ready {
    fn default() -> Self {
        Ready::Path("/health".to_owned())
    }
}

impl Ready {
    pub(super) fn path(&self) -> &str {
        match self {
            Ready::Path(path) | Ready::Body { path, .. } => path,
        }
    }
}

/// A process launched with the target, before the server: `{port}` in its command and
/// environment is its own free port; ready when `ready` (an HTTP path) answers 2xx, or, without
/// one, when the port accepts a connection.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub ready: Option<String>,
}

/// A cluster: named nodes, a redis-server for them, optionally a PostgreSQL of their own and
/// HAProxy in front. Every node runs the spec's own `command` unless `node_servers` gives it one
/// of `servers` (a mixed cluster: a Node node beside a Rust one), and a `server` step may start a
/// stopped node as another of them (`server: { start: b, as: rust }`, a rolling migration).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Node names, e.g. `[a, b]`; the first is the default node of `connect` and `http`.
    pub nodes: Vec<String>,
    #[serde(default)]
    pub redis: Option<RedisSpec>,
    #[serde(default)]
    pub postgres: Option<PostgresSpec>,
    #[serde(default)]
    pub haproxy: Option<HaproxySpec>,
    /// Other servers a node may run instead of the spec's own `command`, by name.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerSpec>,
    /// The server a node starts with, by node name: one of `servers` (default: the spec's own).
    #[serde(default)]
    pub node_servers: BTreeMap<String, String>,
}

/// A server a cluster's node may run instead of the spec's own: its command, its working
/// directory (relative to the targets file, as the spec's `cwd` is; default: the spec's), and
/// environment variables added to (or replacing) the spec's `env`. The spec's `setup` and
/// `seed` stay as they are: the nodes share one database, whatever server each one runs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    pub command: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// A redis-server started on a free loopback port, without persistence; `{redis_url}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    #[serde(default = "default_redis_program")]
    pub program: String,
}

/// A throwaway PostgreSQL cluster of the launch's own (initdb in a temporary directory, trust
/// authentication, loopback only, a free port), which `database` steps stop and start;
/// `{postgres_url}` is its server URL without a database (`postgres://postgres@127.0.0.1:PORT`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSpec {
    /// The directory of `initdb` and `postgres`; default: the newest
    /// `/usr/lib/postgresql/VERSION/bin` (Debian's layout).
    #[serde(default)]
    pub bin_dir: Option<String>,
}

/// HAProxy from a config file that reads its addresses from the environment: `LB_BIND`
/// (`127.0.0.1:PORT`) and `NODE_<NAME>` per node (`NODE_A=127.0.0.1:PORT`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxySpec {
    /// The config, relative to `cwd`.
    pub config: String,
    #[serde(default = "default_haproxy_program")]
    pub program: String,
}

/// The names of `servers`, for messages.
pub(super) fn server_list(servers: &BTreeMap<String, ServerSpec>) -> String {
    if servers.is_empty() {
        "none".to_owned()
    } else {
        servers.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn default_redis_program() -> String {
    "redis-server".to_owned()
}

fn default_haproxy_program() -> String {
    "/usr/sbin/haproxy".to_owned()
}

/// The JSON Schema of a targets file, generated from the types it is read into (committed as
/// `harness/schema/targets.schema.json`).
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(TargetsFile)
}

impl LaunchSpec {
    pub(super) fn check(&self, name: &str) -> Result<(), TargetError> {
        let bad = |detail: String| TargetError::Config(format!("target {name}: {detail}"));
        for (service, spec) in &self.services {
            check_node_name(service).map_err(|e| bad(format!("service: {e}")))?;
            if spec.command.is_empty() {
                return Err(bad(format!("service {service} has an empty `command`")));
            }
        }
        let Some(cluster) = &self.cluster else {
            return Ok(());
        };
        if cluster.nodes.is_empty() {
            return Err(bad("`cluster.nodes` is empty".into()));
        }
        for (i, node) in cluster.nodes.iter().enumerate() {
            check_node_name(node).map_err(bad)?;
            if cluster.nodes[..i].contains(node) {
                return Err(bad(format!("node {node:?} is listed twice")));
            }
        }
        for (server, spec) in &cluster.servers {
            check_node_name(server).map_err(|e| bad(format!("server: {e}")))?;
            if spec.command.is_empty() {
                return Err(bad(format!("server {server} has an empty `command`")));
            }
        }
        for (node, server) in &cluster.node_servers {
            if !cluster.nodes.contains(node) {
                return Err(bad(format!(
                    "`node_servers` names {node:?}, which is not in `cluster.nodes`"
                )));
            }
            if !cluster.servers.contains_key(server) {
                return Err(bad(format!(
                    "`node_servers` gives node {node} the server {server:?}, which is not in \
                     `cluster.servers` ({})",
                    server_list(&cluster.servers)
                )));
            }
        }
        Ok(())
    }
}
