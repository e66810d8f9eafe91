//! Scale-out: several server processes share rooms and broadcasts through Redis.
//!
//! Without `REDIS_URL` the server is one process and every namespace gets a plain local adapter.
//! With it, every namespace gets a Redis adapter over our [`ResilientDriver`], and a broadcast,
//! a `user:<id>` push or an HTTP push received by any node reaches the sockets of all nodes.
//! Which protocol it speaks on Redis is [`AdapterKind`] (`REDIS_ADAPTER`): socketioxide-redis's,
//! or `@socket.io/redis-adapter`'s ([`socketio_adapter`]), which lets Node processes of the
//! original share the cluster. State lives in the shared database, not here; rate limits stay
//! per process.
//!
//! The adapter is kept behind this module ([`Io`] and [`Socket`] are what the rest of the server
//! names).

mod adapter;
mod driver;
pub mod socketio_adapter;

use std::fmt;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};

use socketio_adapter::SocketIoAdapterCtr;

pub use adapter::{AdapterChoice, AdapterInit, ClusterAdapter, ClusterAdapterError};
pub use driver::{LinkHealth, LinkState, OUTBOX_BYTES, OUTBOX_MESSAGES, ResilientDriver};

/// The Socket.IO server, whatever the adapter.
pub type Io = SocketIo<ClusterAdapter>;
/// A connected socket, whatever the adapter.
pub type Socket = SocketRef<ClusterAdapter>;

/// How long queued cross-node messages may take to reach Redis at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A Redis URL as users write it for any client, `redis://[:password@]host:port[/db]`. Its
/// `Debug` hides it: it may carry a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl(<set>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Says what is wrong without quoting the URL, which may carry a password.
    #[error("REDIS_URL is not a usable Redis URL (expected redis://host:port[/db]): {0}")]
    InvalidUrl(String),
}

/// The protocol the nodes speak on Redis (`REDIS_ADAPTER`). Every node of a cluster must use
/// the same one: the two do not understand each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AdapterKind {
    /// socketioxide-redis's protocol: Rust nodes only. The default, so that a cluster of Rust
    /// nodes upgraded one node at a time keeps one protocol throughout.
    #[default]
    #[value(name = "socketioxide")]
    Socketioxide,
    /// `@socket.io/redis-adapter` 8.x's protocol: Rust and Node nodes in one cluster.
    #[value(name = "socket.io")]
    SocketIo,
}

/// This process's place in a cluster: alone, or linked to the others through Redis.
#[derive(Clone, Default)]
pub struct Cluster {
    link: Option<(ResilientDriver, AdapterKind)>,
}

impl Cluster {
    /// Alone when `url` is `None`. Otherwise starts the Redis link without waiting for Redis.
    pub fn start(url: Option<&RedisUrl>, kind: AdapterKind) -> Result<Self, ClusterError> {
        let Some(RedisUrl(url)) = url else {
            return Ok(Self::default());
        };
        let client = redis::Client::open(url.as_str())
            .map_err(|error| ClusterError::InvalidUrl(error.to_string()))?;
        tracing::info!(
            adapter = ?kind,
            "cluster mode: rooms and broadcasts are shared through Redis"
        );
        Ok(Self {
            link: Some((ResilientDriver::start(client), kind)),
        })
    }

    /// What socketioxide builds each namespace's adapter from.
    pub fn adapter_choice(&self) -> AdapterChoice {
        match &self.link {
            None => AdapterChoice::Local,
            Some((link, AdapterKind::Socketioxide)) => AdapterChoice::Redis(
                RedisAdapterCtr::new_with_driver(link.clone(), RedisAdapterConfig::default()),
            ),
            Some((link, AdapterKind::SocketIo)) => {
                AdapterChoice::SocketIo(SocketIoAdapterCtr::new(link.clone()))
            }
        }
    }

    /// The Redis link's state, `None` for a single process.
    pub fn health(&self) -> Option<LinkHealth> {
        self.link.as_ref().map(|(link, _)| link.health())
    }

    /// Lets queued cross-node messages reach Redis briefly, then closes the link.
    pub async fn shutdown(&self) {
        if let Some((link, _)) = &self.link {
            link.shutdown(SHUTDOWN_GRACE).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bad_url_is_refused_without_quoting_its_password() {
        let url = RedisUrl::new("rediss-nope://:hunter2-secret@127.0.0.1:6379");
        let error = match Cluster::start(Some(&url), AdapterKind::default()) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("a URL with an unknown scheme must be refused"),
        };
        assert!(error.contains("REDIS_URL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(format!("{url:?}"), "RedisUrl(<set>)");
    }

    #[tokio::test]
    async fn without_a_url_the_process_is_alone() {
        let cluster = Cluster::start(None, AdapterKind::SocketIo).expect("no URL is fine");
        assert!(cluster.health().is_none());
        assert!(matches!(cluster.adapter_choice(), AdapterChoice::Local));
    }
}
