//! A running target: the nodes to connect to (one, or a cluster's), the JWT secret, and what
//! the harness launched with them (redis-server, PostgreSQL, HAProxy, the spec's services),
//! which `server`, `redis` and `database` steps stop, kill, freeze and start again, and
//! [`RunningTarget::shutdown`] stops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::process::Child;

use super::TargetError;
use super::node::{Launched, Node, Server};
use super::postgres::Postgres;
use super::ready;
use super::service::Service;
use crate::scenario::{DatabaseAction, RedisAction, ServerAction};

/// A reachable target; launched ones can be stopped, killed and started again, node by node,
/// and a cluster's redis stopped, killed, frozen and started, its own PostgreSQL stopped and
/// started.
pub struct RunningTarget {
    /// The first node's URL and address.
    pub base_url: String,
    pub addr: SocketAddr,
    /// The JWT secret, when the harness knows it.
    pub secret: Option<String>,
    pub(super) name: String,
    /// Launched from a spec with `cluster`: steps may (and `server` steps must) name a node.
    pub(super) cluster: bool,
    /// One, unnamed, unless a cluster.
    pub(super) nodes: Vec<Node>,
    pub(super) redis: Option<Service>,
    /// A PostgreSQL of the launch's own (`cluster.postgres`).
    pub(super) postgres: Option<Postgres>,
    pub(super) haproxy: Option<Service>,
    /// A spec's `services`, by name.
    pub(super) services: BTreeMap<String, Service>,
    /// The servers a cluster's node may be started as (`cluster.servers`), by name.
    pub(super) servers: BTreeMap<String, Server>,
}

impl RunningTarget {
    /// How a launched server (the first node) ended, if it has (a URL target: always `None`).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.nodes
            .first_mut()
            .and_then(|n| n.process.as_mut())
            .and_then(|p| p.child.as_mut())
            .and_then(|child| child.try_wait().ok().flatten())
    }

    /// A launched server's (the first node's) log file; `None` for a URL target.
    pub fn log_path(&self) -> Option<std::path::PathBuf> {
        Some(
            self.nodes
                .first()?
                .process
                .as_ref()?
                .log_path()
                .to_path_buf(),
        )
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

    /// The first node's pid, for a launched target.
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
            Some(service) => Ok(format!("http://127.0.0.1:{}", service.port())),
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
            .map(|h| SocketAddr::from(([127, 0, 0, 1], h.port())))
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

    /// Whether `database` steps can run: the target has a PostgreSQL of its own.
    pub fn check_database(&self) -> Result<(), TargetError> {
        self.postgres
            .as_ref()
            .map(|_| ())
            .ok_or_else(|| self.no_database())
    }

    fn no_database(&self) -> TargetError {
        TargetError::Unsupported(format!(
            "target {} has no database of its own to stop and start (`cluster.postgres` in its \
             launch spec)",
            self.name
        ))
    }

    /// Stops (fast shutdown: connections cut, new ones refused) or starts again (same port and
    /// data) the target's own PostgreSQL.
    pub async fn database(&mut self, action: DatabaseAction) -> Result<(), TargetError> {
        let no_database = self.no_database();
        let server = &mut self.postgres.as_mut().ok_or(no_database)?.server;
        match action {
            DatabaseAction::Stop if server.running() => server.stop().await,
            DatabaseAction::Start if !server.running() => server.spawn().await?,
            DatabaseAction::Stop => {
                return Err(TargetError::Unsupported(
                    "cannot stop the database: it is not running".into(),
                ));
            }
            DatabaseAction::Start => {
                return Err(TargetError::Unsupported(
                    "the database is running: `database: start` follows `database: stop`".into(),
                ));
            }
        }
        Ok(())
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

    /// Whether `server` names one of the cluster's `servers`, which a node may be started as.
    pub fn check_server(&self, server: &str) -> Result<(), TargetError> {
        if self.servers.contains_key(server) {
            return Ok(());
        }
        Err(TargetError::Unsupported(format!(
            "target {} has no server {server:?} to start a node as (`cluster.servers` in its \
             launch spec: {})",
            self.name,
            if self.servers.is_empty() {
                "none".to_owned()
            } else {
                self.servers.keys().cloned().collect::<Vec<_>>().join(", ")
            }
        )))
    }

    /// Stops, kills, starts or restarts `node` (a single target's server when `None`); a start
    /// or restart `as` one of the cluster's `servers` runs that server from then on.
    pub async fn server(
        &mut self,
        action: ServerAction,
        node: Option<&str>,
        start_as: Option<&str>,
    ) -> Result<(), TargetError> {
        let server = match start_as {
            Some(name) => {
                self.check_server(name)?;
                self.servers.get(name).cloned()
            }
            None => None,
        };
        let launched = self.launched(node)?;
        if server.is_some() && !matches!(action, ServerAction::Start | ServerAction::Restart) {
            return Err(TargetError::Unsupported(
                "`as` goes with `start` or `restart`".into(),
            ));
        }
        match action {
            ServerAction::Stop => launched.stop().await,
            ServerAction::Kill => launched.kill().await,
            ServerAction::Start if launched.running() => {
                return Err(TargetError::Unsupported(format!(
                    "{} is running: `start` follows `stop` or `kill`",
                    launched.name
                )));
            }
            ServerAction::Start | ServerAction::Restart => {
                if action == ServerAction::Restart {
                    launched.stop().await;
                }
                if let Some(server) = server {
                    launched.server = server;
                }
                launched.spawn().await?;
            }
        }
        Ok(())
    }

    /// SIGTERM and wait for the exit (SIGKILL after 10 s).
    pub async fn stop(&mut self) -> Result<(), TargetError> {
        self.server(ServerAction::Stop, None, None).await
    }

    pub async fn kill(&mut self) -> Result<(), TargetError> {
        self.server(ServerAction::Kill, None, None).await
    }

    /// Starts the server again on the same port, database and secret.
    pub async fn start(&mut self) -> Result<(), TargetError> {
        self.server(ServerAction::Start, None, None).await
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
        let http = ready::http_client()?;
        let deadline = tokio::time::Instant::now() + timeout;
        for node in &self.nodes {
            let running = node.process.as_ref().is_none_or(|p| p.child.is_some());
            if !running {
                continue;
            }
            let url = format!("{}/health", node.base_url);
            loop {
                let said = match ready::get_json(&http, &url).await {
                    Ok(body) => match body.pointer("/adapter/state").and_then(|s| s.as_str()) {
                        Some("connected") => break,
                        Some(state) => format!("adapter.state is {state:?}"),
                        None => format!("no adapter.state in /health: {body}"),
                    },
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
    /// it), then redis, PostgreSQL and the spec's services. A URL target is left alone.
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
        if let Some(postgres) = self.postgres.as_mut() {
            postgres.server.stop().await;
        }
        for service in self.services.values_mut() {
            service.stop().await;
        }
    }
}
