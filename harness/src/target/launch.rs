//! Launching a spec, in order: its services, the cluster's redis-server and PostgreSQL, setup
//! and seed once,
//! the server nodes (each waited for), then HAProxy in front of them; a cluster is then waited
//! for until every node's adapter is connected. Everything runs on free loopback ports (each
//! reserved while the launch runs, [`super::ports`]), in one temporary working directory per
//! launch, each process writing to its own log file; a failure part-way stops what already
//! started (each child is killed when dropped).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::TargetError;
use super::node::{Launched, Node, Server};
use super::placeholders::{bin_dir, fill};
use super::ports::{self, PortReservation};
use super::postgres;
use super::ready::Probe;
use super::running::RunningTarget;
use super::service::Service;
use super::spec::{HaproxySpec, LaunchSpec, RedisSpec};

/// How long a cluster's nodes may take to report their adapter connected after a launch.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts a launch spec: its services, redis, PostgreSQL, setup once, its nodes, HAProxy.
pub(super) async fn launch(
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
    let node_names: Vec<String> = match &spec.cluster {
        Some(cluster) => cluster.nodes.clone(),
        None => vec![String::new()],
    };
    let ports = node_names
        .iter()
        .map(|_| PortReservation::new())
        .collect::<std::io::Result<Vec<PortReservation>>>()?;
    let first_port = ports.first().map(PortReservation::port).unwrap_or_default();
    let mut shared = vec![("{launch_id}".to_owned(), first_port.to_string())];
    let services = launch_services(spec, &cwd, workdir.path(), &mut shared).await?;
    let cluster = spec.cluster.as_ref();
    let redis = match cluster.and_then(|c| c.redis.as_ref()) {
        Some(redis_spec) => Some(launch_redis(redis_spec, workdir.path(), &mut shared).await?),
        None => None,
    };
    let postgres = match cluster.and_then(|c| c.postgres.as_ref()) {
        Some(postgres_spec) => Some(postgres::launch(postgres_spec, &mut shared).await?),
        None => None,
    };
    let servers: BTreeMap<String, Server> = cluster
        .map(|c| &c.servers)
        .into_iter()
        .flatten()
        .map(|(name, server)| (name.clone(), Server::named(name, server, base, &cwd)))
        .collect();
    let launch = NodeLaunch {
        target: name,
        spec,
        cwd: &cwd,
        servers: &servers,
        workdir: &workdir,
        secret: random_secret(),
        shared: &shared,
        cluster: cluster.is_some(),
    };
    let nodes = launch_nodes(&launch, &node_names, ports, extra_sql).await?;
    let haproxy = match cluster.and_then(|c| c.haproxy.as_ref()) {
        Some(haproxy_spec) => {
            Some(launch_haproxy(name, haproxy_spec, &cwd, workdir.path(), &nodes).await?)
        }
        None => None,
    };
    let first = nodes
        .first()
        .ok_or_else(|| TargetError::Config(format!("target {name} has no node")))?;
    let running = RunningTarget {
        base_url: first.base_url.clone(),
        addr: first.addr,
        secret: Some(launch.secret),
        name: name.to_owned(),
        cluster: cluster.is_some(),
        nodes,
        redis,
        postgres,
        haproxy,
        services,
        servers,
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
        let reservation = PortReservation::new()?;
        let port = reservation.port();
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
        let probe = service_spec.ready.clone().map_or(Probe::Accepts, |path| {
            Probe::Http(super::spec::Ready::Path(path))
        });
        let mut service = Service::new(
            name.clone(),
            argv,
            env,
            cwd.to_path_buf(),
            reservation,
            ports::log_file(&format!("service-{name}"))?,
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

/// Starts a cluster's redis-server on a free port, without persistence, and adds
/// `{redis_url}` to `shared`.
async fn launch_redis(
    redis_spec: &RedisSpec,
    workdir: &Path,
    shared: &mut Vec<(String, String)>,
) -> Result<Service, TargetError> {
    let reservation = PortReservation::new()?;
    let port = reservation.port();
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
    let mut redis = Service::new(
        "redis-server",
        argv.to_vec(),
        Vec::new(),
        workdir.to_path_buf(),
        reservation,
        ports::log_file("redis-server")?,
        Probe::RedisPing,
    );
    redis.spawn().await?;
    Ok(redis)
}

/// What every node of one launch shares.
struct NodeLaunch<'a> {
    target: &'a str,
    spec: &'a LaunchSpec,
    cwd: &'a Path,
    /// The cluster's `servers`, resolved.
    servers: &'a BTreeMap<String, Server>,
    workdir: &'a Arc<tempfile::TempDir>,
    secret: String,
    /// `{launch_id}`, `{service:NAME}`, `{redis_url}`, `{postgres_url}`.
    shared: &'a [(String, String)],
    cluster: bool,
}

/// Runs setup (and the extra SQL) once, with the first node's settings (a cluster shares its
/// database), then spawns each node on its port and waits for it.
async fn launch_nodes(
    launch: &NodeLaunch<'_>,
    names: &[String],
    ports: Vec<PortReservation>,
    extra_sql: Option<&str>,
) -> Result<Vec<Node>, TargetError> {
    let mut nodes: Vec<Node> = names
        .iter()
        .zip(ports)
        .map(|(node, port)| launch.node(node, port))
        .collect::<std::io::Result<_>>()?;
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
    Ok(nodes)
}

impl NodeLaunch<'_> {
    /// Node `node` on `port`, not yet spawned, with its log file.
    fn node(&self, node: &str, reservation: PortReservation) -> std::io::Result<Node> {
        let port = reservation.port();
        let name = if self.cluster {
            format!("{} node {node}", self.target)
        } else {
            self.target.to_owned()
        };
        let log = ports::log_file(&name)?;
        let mut placeholders = self.shared.to_vec();
        if self.cluster {
            placeholders.push(("{node}".to_owned(), node.to_owned()));
        }
        // `LaunchSpec::check` made sure a node's server is one of `servers`.
        let server = self
            .spec
            .cluster
            .as_ref()
            .and_then(|c| c.node_servers.get(node))
            .and_then(|name| self.servers.get(name))
            .cloned()
            .unwrap_or_else(|| Server::own(self.spec, self.cwd));
        Ok(Node {
            name: node.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            base_url: format!("http://127.0.0.1:{port}"),
            process: Some(Launched {
                name,
                spec: self.spec.clone(),
                cwd: self.cwd.to_path_buf(),
                server,
                port: reservation,
                log,
                secret: self.secret.clone(),
                workdir: self.workdir.clone(),
                placeholders,
                child: None,
            }),
        })
    }
}

/// Starts HAProxy in front of `nodes`, from the spec's config with the addresses in its
/// environment (`LB_BIND`, `NODE_<NAME>`).
async fn launch_haproxy(
    target: &str,
    haproxy_spec: &HaproxySpec,
    cwd: &Path,
    workdir: &Path,
    nodes: &[Node],
) -> Result<Service, TargetError> {
    // HAProxy runs in the launch's directory: the config's path must not be relative.
    let config: PathBuf = cwd.join(&haproxy_spec.config);
    let config = config.canonicalize().map_err(|e| {
        TargetError::Config(format!(
            "target {target}: HAProxy config {}: {e}",
            config.display()
        ))
    })?;
    let reservation = PortReservation::new()?;
    let port = reservation.port();
    let mut env = vec![("LB_BIND".to_owned(), format!("127.0.0.1:{port}"))];
    for node in nodes {
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
        workdir.to_path_buf(),
        reservation,
        ports::log_file("haproxy")?,
        Probe::Accepts,
    );
    haproxy.spawn().await?;
    Ok(haproxy)
}

/// The environment variable that gives HAProxy a node's address: `NODE_A` for node `a`.
fn node_env_name(node: &str) -> String {
    format!("NODE_{}", node.to_uppercase().replace('-', "_"))
}

fn random_secret() -> String {
    (0..4)
        .map(|_| format!("{:016x}", rand::random::<u64>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::node_env_name;

    #[test]
    fn haproxy_learns_node_addresses_from_node_env_names() {
        assert_eq!(node_env_name("a"), "NODE_A");
        assert_eq!(node_env_name("eu-1"), "NODE_EU_1");
    }
}
