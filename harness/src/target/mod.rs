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
//! database's name), and in a cluster `{node}` (the node's name) and `{redis_url}`. `setup`
//! commands (loading fixtures) run once per launch, before the first node starts.
//!
//! A spec's `services` are processes launched first, each on its own free port (`{port}` in its
//! own command): fakes of what the server depends on, such as Uptime Kuma. The server's strings
//! reach one as `{service:NAME}` (`http://127.0.0.1:PORT`), and `http` steps as `service: NAME`.
//! `ready` may also ask for a JSON body (`{path, json}`), for a server that answers before it is
//! ready for a scenario (a first poll of such a service done).

mod process;
mod service;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::{Child, Command};

use crate::hooks::{Hook, Hooks};
use crate::scenario::{RedisAction, ServerAction, check_node_name};
use service::{Probe, Service};

/// How long a cluster's nodes may take to report their adapter connected after a launch.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(20);

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

/// `targets.yaml`: named launch specs, and named URL targets (`url:`) with their hooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    pub targets: BTreeMap<String, LaunchSpec>,
}

#[derive(Debug, Clone, Deserialize)]
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
}

/// When a launched server is ready: its path answers 200, and when `json` is given, its body
/// matches it (a partial match, matchers allowed: `{kuma: {state: ok}}`).
#[derive(Debug, Clone, Deserialize)]
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
    fn path(&self) -> &str {
        match self {
            Ready::Path(path) | Ready::Body { path, .. } => path,
        }
    }
}

/// A process launched with the target, before the server: `{port}` in its command and
/// environment is its own free port; ready when `ready` (an HTTP path) answers 2xx, or, without
/// one, when the port accepts a connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub ready: Option<String>,
}

/// A cluster: named nodes, a redis-server for them, optionally HAProxy in front.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Node names, e.g. `[a, b]`; the first is the default node of `connect` and `http`.
    pub nodes: Vec<String>,
    #[serde(default)]
    pub redis: Option<RedisSpec>,
    #[serde(default)]
    pub haproxy: Option<HaproxySpec>,
}

/// A redis-server started on a free loopback port, without persistence; `{redis_url}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    #[serde(default = "default_redis_program")]
    pub program: String,
}

/// HAProxy from a config file that reads its addresses from the environment: `LB_BIND`
/// (`127.0.0.1:PORT`) and `NODE_<NAME>` per node (`NODE_A=127.0.0.1:PORT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaproxySpec {
    /// The config, relative to `cwd`.
    pub config: String,
    #[serde(default = "default_haproxy_program")]
    pub program: String,
}

fn default_redis_program() -> String {
    "redis-server".to_owned()
}

fn default_haproxy_program() -> String {
    "/usr/sbin/haproxy".to_owned()
}

impl LaunchSpec {
    fn check(&self, name: &str) -> Result<(), TargetError> {
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
        Ok(())
    }
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
        let spec = file.targets.get(name).cloned().ok_or_else(|| {
            TargetError::Config(format!(
                "no target {name:?} in {} (known: {})",
                targets_file.display(),
                file.targets.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
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
                    haproxy: None,
                    services: BTreeMap::new(),
                })
            }
            Target::Launch { name, spec, base } => launch(name, spec, base, extra_sql).await,
        }
    }
}

/// Starts a launch spec: its services, setup once, its nodes; all stopped again on failure
/// (each child is killed when dropped).
async fn launch(
    name: &str,
    spec: &LaunchSpec,
    base: &Path,
    extra_sql: Option<&str>,
) -> Result<RunningTarget, TargetError> {
    let cwd = spec
        .cwd
        .as_ref()
        .map_or_else(|| base.to_path_buf(), |c| base.join(c));
    let workdir = Arc::new(tempfile::tempdir()?);
    let secret = random_secret();
    let node_names: Vec<String> = match &spec.cluster {
        Some(cluster) => cluster.nodes.clone(),
        None => vec![String::new()],
    };
    let ports = node_names
        .iter()
        .map(|_| free_port())
        .collect::<std::io::Result<Vec<u16>>>()?;
    let first_port = ports.first().copied().unwrap_or_default();
    let mut shared = vec![("{launch_id}".to_owned(), first_port.to_string())];
    let services = launch_services(spec, &cwd, workdir.path(), &mut shared).await?;
    let cluster = spec.cluster.as_ref();
    let mut redis = match cluster.and_then(|c| c.redis.as_ref()) {
        Some(redis_spec) => {
            let port = free_port()?;
            shared.push((
                "{redis_url}".to_owned(),
                format!("redis://127.0.0.1:{port}"),
            ));
            let argv = [
                redis_spec.program.clone(),
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
            ];
            Some(Service::new(
                "redis-server",
                argv.to_vec(),
                Vec::new(),
                workdir.path().to_path_buf(),
                port,
                workdir.path().join("redis.log"),
                Probe::RedisPing,
            ))
        }
        None => None,
    };
    if let Some(redis) = redis.as_mut() {
        redis.spawn().await?;
    }
    let mut nodes: Vec<Node> = node_names
        .iter()
        .zip(&ports)
        .map(|(node, &port)| {
            let mut placeholders = shared.clone();
            if cluster.is_some() {
                placeholders.push(("{node}".to_owned(), node.clone()));
            }
            Node {
                name: node.clone(),
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                base_url: format!("http://127.0.0.1:{port}"),
                process: Some(Launched {
                    name: if cluster.is_some() {
                        format!("{name} node {node}")
                    } else {
                        name.to_owned()
                    },
                    node: node.clone(),
                    spec: spec.clone(),
                    cwd: cwd.clone(),
                    port,
                    secret: secret.clone(),
                    workdir: workdir.clone(),
                    placeholders,
                    child: None,
                }),
            }
        })
        .collect();
    // Setup and seed run once, with the first node's settings: a cluster shares its database.
    if let Some(first) = nodes.first().and_then(|n| n.process.as_ref()) {
        first.setup().await?;
        if let Some(sql) = extra_sql {
            first.seed(sql).await?;
        }
    }
    for node in &mut nodes {
        if let Some(process) = node.process.as_mut() {
            process.spawn().await?;
        }
    }
    let haproxy = match cluster.and_then(|c| c.haproxy.as_ref()) {
        Some(haproxy_spec) => {
            // HAProxy runs in the launch's directory: the config's path must not be relative.
            let config = cwd.join(&haproxy_spec.config);
            let config = config.canonicalize().map_err(|e| {
                TargetError::Config(format!(
                    "target {name}: HAProxy config {}: {e}",
                    config.display()
                ))
            })?;
            let port = free_port()?;
            let mut env = vec![("LB_BIND".to_owned(), format!("127.0.0.1:{port}"))];
            for node in &nodes {
                env.push((node_env_name(&node.name), node.addr.to_string()));
            }
            let mut haproxy = Service::new(
                "haproxy",
                vec![
                    haproxy_spec.program.clone(),
                    "-db".into(),
                    "-f".into(),
                    config.display().to_string(),
                ],
                env,
                workdir.path().to_path_buf(),
                port,
                workdir.path().join("haproxy.log"),
                Probe::Accepts,
            );
            haproxy.spawn().await?;
            Some(haproxy)
        }
        None => None,
    };
    let first = nodes
        .first()
        .ok_or_else(|| TargetError::Config(format!("target {name} has no node")))?;
    let running = RunningTarget {
        base_url: first.base_url.clone(),
        addr: first.addr,
        secret: Some(secret),
        name: name.to_owned(),
        cluster: cluster.is_some(),
        nodes,
        redis,
        haproxy,
        services,
    };
    if running.redis.is_some() {
        running.wait_cluster_ready(CLUSTER_READY_TIMEOUT).await?;
    }
    Ok(running)
}

/// Starts a spec's services, in name order, each on its own free port and waited for; adds
/// `{service:NAME}` for each to `shared`.
async fn launch_services(
    spec: &LaunchSpec,
    cwd: &Path,
    workdir: &Path,
    shared: &mut Vec<(String, String)>,
) -> Result<BTreeMap<String, Service>, TargetError> {
    let mut services = BTreeMap::new();
    for (name, service_spec) in &spec.services {
        let port = free_port()?;
        let placeholders = [
            ("{port}".to_owned(), port.to_string()),
            ("{workdir}".to_owned(), workdir.display().to_string()),
            ("{bin_dir}".to_owned(), bin_dir().display().to_string()),
        ];
        let argv = service_spec
            .command
            .iter()
            .map(|a| fill(a, &placeholders))
            .collect();
        let env = service_spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), fill(v, &placeholders)))
            .collect();
        let probe = service_spec
            .ready
            .clone()
            .map_or(Probe::Accepts, Probe::Http);
        let mut service = Service::new(
            name.clone(),
            argv,
            env,
            cwd.to_path_buf(),
            port,
            workdir.join(format!("service-{name}.log")),
            probe,
        );
        service.spawn().await?;
        shared.push((
            format!("{{service:{name}}}"),
            format!("http://127.0.0.1:{port}"),
        ));
        services.insert(name.clone(), service);
    }
    Ok(services)
}

/// Replaces each placeholder, then `{env:NAME}`.
fn fill(text: &str, placeholders: &[(String, String)]) -> String {
    let filled = placeholders
        .iter()
        .fold(text.to_owned(), |text, (placeholder, value)| {
            text.replace(placeholder, value)
        });
    expand_env(&filled)
}

/// The environment variable that gives HAProxy a node's address: `NODE_A` for node `a`.
fn node_env_name(node: &str) -> String {
    format!("NODE_{}", node.to_uppercase().replace('-', "_"))
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

/// A free loopback port (the kernel picks it; it is released for the server to bind).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn random_secret() -> String {
    (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect()
}

/// A reachable target; launched ones can be stopped, killed and started again, node by node,
/// and a cluster's redis stopped, killed, frozen and started.
pub struct RunningTarget {
    /// The first node's URL and address.
    pub base_url: String,
    pub addr: SocketAddr,
    /// The JWT secret, when the harness knows it.
    pub secret: Option<String>,
    name: String,
    /// Launched from a spec with `cluster`: steps may (and `server` steps must) name a node.
    cluster: bool,
    /// One, unnamed, unless a cluster.
    nodes: Vec<Node>,
    redis: Option<Service>,
    haproxy: Option<Service>,
    /// A spec's `services`, by name.
    services: BTreeMap<String, Service>,
}

struct Node {
    name: String,
    addr: SocketAddr,
    base_url: String,
    process: Option<Launched>,
}

impl RunningTarget {
    /// The first node's pid, for a launched target.
    /// How a launched server (the first node) ended, if it has (a URL target: always `None`).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.nodes
            .first_mut()
            .and_then(|n| n.process.as_mut())
            .and_then(|p| p.child.as_mut())
            .and_then(|child| child.try_wait().ok().flatten())
    }

    /// A launched server's (the first node's) output, stdout and stderr, from byte `offset` on,
    /// and the offset to read from next time; `None` for a URL target or if the log cannot be
    /// read.
    pub fn log_since(&self, offset: u64) -> Option<(String, u64)> {
        use std::io::{Read, Seek, SeekFrom};
        let process = self.nodes.first()?.process.as_ref()?;
        let mut file = std::fs::File::open(process.log_path()).ok()?;
        let end = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(offset.min(end))).ok()?;
        let mut bytes = Vec::new();
        file.take(end.saturating_sub(offset))
            .read_to_end(&mut bytes)
            .ok()?;
        Some((String::from_utf8_lossy(&bytes).into_owned(), end))
    }

    /// Every running node's pid, in node order (load runs add up their counters).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.process.as_ref())
            .filter_map(|p| p.child.as_ref())
            .filter_map(Child::id)
            .collect()
    }

    /// Every node's base URL, in node order.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base_url.clone()).collect()
    }

    pub fn pid(&self) -> Option<u32> {
        self.nodes
            .first()
            .and_then(|n| n.process.as_ref())
            .and_then(|p| p.child.as_ref())
            .and_then(Child::id)
    }

    fn node_list(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Launched from a spec with `cluster`.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// Whether `node` names a node of this target.
    pub fn check_node(&self, node: &str) -> Result<(), TargetError> {
        self.node(Some(node)).map(|_| ())
    }

    /// The node a step names, or the first.
    fn node(&self, node: Option<&str>) -> Result<&Node, TargetError> {
        let index = self.node_index(node)?;
        self.nodes
            .get(index)
            .ok_or_else(|| TargetError::Unsupported(format!("target {} has no node", self.name)))
    }

    fn node_index(&self, node: Option<&str>) -> Result<usize, TargetError> {
        let Some(wanted) = node else { return Ok(0) };
        if !self.cluster {
            return Err(TargetError::Unsupported(format!(
                "node {wanted:?}: target {} is a single server, not a cluster (try --target rust-cluster or node-cluster)",
                self.name
            )));
        }
        self.nodes
            .iter()
            .position(|n| n.name == wanted)
            .ok_or_else(|| {
                TargetError::Unsupported(format!(
                    "target {} has no node {wanted:?} (nodes: {})",
                    self.name,
                    self.node_list()
                ))
            })
    }

    /// Where a client of `node` (default: the first) connects.
    pub fn node_addr(&self, node: Option<&str>) -> Result<SocketAddr, TargetError> {
        self.node(node).map(|n| n.addr)
    }

    /// The HTTP base URL of `node` (default: the first).
    pub fn node_url(&self, node: Option<&str>) -> Result<&str, TargetError> {
        self.node(node).map(|n| n.base_url.as_str())
    }

    /// The base URL of a service launched with the target (`services:` in its spec).
    pub fn service_url(&self, name: &str) -> Result<String, TargetError> {
        match self.services.get(name) {
            Some(service) => Ok(format!("http://127.0.0.1:{}", service.port)),
            None => Err(TargetError::Unsupported(format!(
                "target {} launches no service {name:?} (`services` in its launch spec{})",
                self.name,
                if self.services.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        self.services.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                }
            ))),
        }
    }

    /// HAProxy's address, when the cluster has one.
    pub fn haproxy_addr(&self) -> Result<SocketAddr, TargetError> {
        self.haproxy
            .as_ref()
            .map(|h| SocketAddr::from(([127, 0, 0, 1], h.port)))
            .ok_or_else(|| {
                TargetError::Unsupported(format!(
                    "target {} has no HAProxy (`cluster.haproxy` in its launch spec)",
                    self.name
                ))
            })
    }

    /// Whether `redis` steps can run.
    pub fn check_redis(&self) -> Result<(), TargetError> {
        self.redis
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| self.no_redis())
    }

    fn no_redis(&self) -> TargetError {
        TargetError::Unsupported(format!(
            "target {} has no redis (`cluster.redis` in its launch spec)",
            self.name
        ))
    }

    /// The launched process of `node`; a cluster's node must be named.
    fn launched(&mut self, node: Option<&str>) -> Result<&mut Launched, TargetError> {
        if self.cluster && node.is_none() {
            return Err(TargetError::Unsupported(format!(
                "target {} is a cluster: name the node, e.g. `server: {{ stop: {} }}`",
                self.name,
                self.nodes.first().map_or("a", |n| n.name.as_str())
            )));
        }
        let index = self.node_index(node)?;
        let url = &self.base_url;
        self.nodes
            .get_mut(index)
            .and_then(|n| n.process.as_mut())
            .ok_or_else(|| {
                TargetError::Config(format!(
                    "`server` steps need a target the harness launches; {url} is a server you run \
                     (give it a launch spec in targets.yaml to stop and start it)"
                ))
            })
    }

    /// Stops, kills, starts or restarts `node` (a single target's server when `None`).
    pub async fn server(
        &mut self,
        action: ServerAction,
        node: Option<&str>,
    ) -> Result<(), TargetError> {
        let launched = self.launched(node)?;
        match action {
            ServerAction::Stop => launched.stop().await,
            ServerAction::Kill => launched.kill().await,
            ServerAction::Start if launched.running() => {
                return Err(TargetError::Unsupported(format!(
                    "{} is running: `start` follows `stop` or `kill`",
                    launched.name
                )));
            }
            ServerAction::Start => launched.spawn().await?,
            ServerAction::Restart => {
                launched.stop().await;
                launched.spawn().await?;
            }
        }
        Ok(())
    }

    /// SIGTERM and wait for the exit (SIGKILL after 10 s).
    pub async fn stop(&mut self) -> Result<(), TargetError> {
        self.server(ServerAction::Stop, None).await
    }

    pub async fn kill(&mut self) -> Result<(), TargetError> {
        self.server(ServerAction::Kill, None).await
    }

    /// Starts the server again on the same port, database and secret.
    pub async fn start(&mut self) -> Result<(), TargetError> {
        self.server(ServerAction::Start, None).await
    }

    /// Stops, kills, freezes or starts (thaws) the cluster's redis-server.
    pub async fn redis(&mut self, action: RedisAction) -> Result<(), TargetError> {
        let no_redis = self.no_redis();
        let redis = self.redis.as_mut().ok_or(no_redis)?;
        let needs_running = |what: &str| {
            TargetError::Unsupported(format!("cannot {what} redis: it is not running"))
        };
        match action {
            RedisAction::Stop if redis.running() => redis.stop().await,
            RedisAction::Kill if redis.running() => redis.kill().await,
            RedisAction::Freeze if redis.running() && !redis.frozen() => redis.freeze(),
            RedisAction::Freeze if redis.frozen() => {
                return Err(TargetError::Unsupported("redis is frozen already".into()));
            }
            RedisAction::Start if redis.frozen() => redis.thaw(),
            RedisAction::Start if !redis.running() => redis.spawn().await?,
            RedisAction::Start => {
                return Err(TargetError::Unsupported(
                    "redis is running: `redis: start` follows stop, kill or freeze".into(),
                ));
            }
            RedisAction::Stop => return Err(needs_running("stop")),
            RedisAction::Kill => return Err(needs_running("kill")),
            RedisAction::Freeze => return Err(needs_running("freeze")),
        }
        Ok(())
    }

    /// Waits until every running node's `/health` says `adapter.state` is `connected`; the
    /// error names the first node that is not, and what it said last.
    pub async fn wait_cluster_ready(&self, timeout: Duration) -> Result<(), TargetError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        for node in &self.nodes {
            let running = node.process.as_ref().is_none_or(|p| p.child.is_some());
            if !running {
                continue;
            }
            let url = format!("{}/health", node.base_url);
            loop {
                let said = match http.get(&url).send().await {
                    Ok(response) => {
                        let body: serde_json::Value =
                            response.json().await.unwrap_or(serde_json::Value::Null);
                        match body.pointer("/adapter/state").and_then(|s| s.as_str()) {
                            Some("connected") => break,
                            Some(state) => format!("adapter.state is {state:?}"),
                            None => format!("no adapter.state in /health: {body}"),
                        }
                    }
                    Err(error) => format!("GET /health: {error}"),
                };
                if tokio::time::Instant::now() >= deadline {
                    let which = if self.cluster {
                        format!("node {}", node.name)
                    } else {
                        self.name.clone()
                    };
                    return Err(TargetError::Unsupported(format!(
                        "{which} of {} is not connected to redis after {timeout:?}: {said}",
                        self.name
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// Stops everything launched: HAProxy, the nodes (redis thawed first, so no node waits on
    /// it), then redis and the spec's services. A URL target is left alone.
    pub async fn shutdown(mut self) {
        if let Some(haproxy) = self.haproxy.as_mut() {
            haproxy.stop().await;
        }
        if let Some(redis) = self.redis.as_mut() {
            redis.thaw();
        }
        for node in &mut self.nodes {
            if let Some(process) = node.process.as_mut() {
                process.stop().await;
            }
        }
        if let Some(redis) = self.redis.as_mut() {
            redis.stop().await;
        }
        for service in self.services.values_mut() {
            service.stop().await;
        }
    }
}

/// One server process of a launch spec.
struct Launched {
    /// For messages: the target, and the node in a cluster.
    name: String,
    /// Empty unless a cluster's.
    node: String,
    spec: LaunchSpec,
    cwd: PathBuf,
    port: u16,
    secret: String,
    /// Shared by a cluster's nodes and services; removed when the last holder is gone.
    workdir: Arc<tempfile::TempDir>,
    /// `{launch_id}`, `{service:NAME}`, and in a cluster `{node}` and `{redis_url}`.
    placeholders: Vec<(String, String)>,
    child: Option<Child>,
}

impl Launched {
    fn fill(&self, text: &str) -> String {
        let own = text
            .replace("{port}", &self.port.to_string())
            .replace("{secret}", &self.secret)
            .replace("{workdir}", &self.workdir.path().display().to_string())
            .replace("{bin_dir}", &bin_dir().display().to_string());
        fill(&own, &self.placeholders)
    }

    /// Why `argv` could not be run, with a hint when the program does not exist.
    fn cannot_run(&self, what: &str, argv: &[String], error: std::io::Error) -> TargetError {
        let program = argv.first().map(|p| self.fill(p)).unwrap_or_default();
        let detail = if error.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{what}: {program} not found (cwd {}); build it first, with the same profile and target directory as sio-harness",
                self.cwd.display()
            )
        } else {
            format!("{what} {argv:?}: {error}")
        };
        TargetError::Launch {
            name: self.name.clone(),
            detail,
        }
    }

    fn command(&self, argv: &[String]) -> Result<Command, TargetError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| TargetError::Config(format!("target {}: empty command", self.name)))?;
        let mut command = Command::new(self.fill(program));
        command
            .args(args.iter().map(|a| self.fill(a)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        for (key, value) in &self.spec.env {
            command.env(key, self.fill(value));
        }
        Ok(command)
    }

    fn log_path(&self) -> PathBuf {
        if self.node.is_empty() {
            self.workdir.path().join("server.log")
        } else {
            self.workdir
                .path()
                .join(format!("server-{}.log", self.node))
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn seed(&self, sql: &str) -> Result<(), TargetError> {
        let argv = self.spec.seed.as_ref().ok_or_else(|| {
            TargetError::Config(format!(
                "target {} has no `seed` command for extra SQL",
                self.name
            ))
        })?;
        let path = self.workdir.path().join("extra.sql");
        std::fs::write(&path, sql)?;
        let path = path.display().to_string();
        let argv: Vec<String> = argv.iter().map(|a| a.replace("{sql}", &path)).collect();
        self.run_setup(&argv).await
    }

    async fn setup(&self) -> Result<(), TargetError> {
        for argv in &self.spec.setup {
            self.run_setup(argv).await?;
        }
        Ok(())
    }

    async fn run_setup(&self, argv: &[String]) -> Result<(), TargetError> {
        let output = self
            .command(argv)?
            .output()
            .await
            .map_err(|e| self.cannot_run("setup", argv, e))?;
        if !output.status.success() {
            return Err(TargetError::Launch {
                name: self.name.clone(),
                detail: format!(
                    "setup {argv:?} failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    async fn spawn(&mut self) -> Result<(), TargetError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut command = self.command(&self.spec.command)?;
        command
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| self.cannot_run("command", &self.spec.command, e))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(20)).await
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), TargetError> {
        let url = format!("http://127.0.0.1:{}{}", self.port, self.spec.ready.path());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_answer = String::from("nothing yet");
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(TargetError::Launch {
                    name: self.name.clone(),
                    detail: format!(
                        "exited with {status} before it was ready\n{}",
                        tail(&self.log())
                    ),
                });
            }
            match http.get(&url).send().await {
                Ok(response) if response.status().is_success() => match &self.spec.ready {
                    Ready::Path(_) => return Ok(()),
                    Ready::Body { json, .. } => {
                        let body = response.json().await.unwrap_or(serde_json::Value::Null);
                        match crate::matcher::check(json, &body, true) {
                            Ok(()) => return Ok(()),
                            Err(mismatch) => last_answer = format!("{mismatch} in {body}"),
                        }
                    }
                },
                Ok(response) => last_answer = format!("status {}", response.status()),
                Err(error) => last_answer = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(TargetError::NotReady {
            name: self.name.clone(),
            port: self.port,
            timeout,
            log: format!(
                " (GET {}: {last_answer})\n{}",
                self.spec.ready.path(),
                tail(&self.log())
            ),
        })
    }

    /// Started and not exited since.
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    async fn stop(&mut self) {
        process::stop(&mut self.child).await;
    }

    async fn kill(&mut self) {
        process::kill(&mut self.child).await;
    }
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

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
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
    use std::path::Path;

    use super::{Ready, Target, expand_env, fill, node_env_name};

    #[test]
    fn env_references_expand() {
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_env("a{env:PATH}b"), format!("a{path}b"));
        assert_eq!(expand_env("{env:SIO_SURELY_UNSET_VARIABLE}/db"), "/db");
        assert_eq!(expand_env("{port} {env:unclosed"), "{port} {env:unclosed");
    }

    #[test]
    fn the_shipped_cluster_targets_share_redis_and_one_database() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
        for name in ["rust-cluster", "node-cluster"] {
            let Ok(Target::Launch { spec, .. }) = Target::resolve(name, &file, None) else {
                panic!("{name} does not resolve to a launch spec");
            };
            let cluster = spec.cluster.as_ref().expect("a cluster");
            assert_eq!(cluster.nodes, ["a", "b"]);
            assert!(cluster.redis.is_some() && cluster.haproxy.is_some());
            assert_eq!(spec.env["REDIS_URL"], "{redis_url}");
            assert!(spec.env["DATABASE_URL"].ends_with("/sio_{launch_id}"));
            assert_eq!(
                spec.env["PING_INTERVAL_MS"], "1000",
                "the settings of the single targets"
            );
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

    #[test]
    fn haproxy_learns_node_addresses_from_node_env_names() {
        assert_eq!(node_env_name("a"), "NODE_A");
        assert_eq!(node_env_name("eu-1"), "NODE_EU_1");
    }
}
