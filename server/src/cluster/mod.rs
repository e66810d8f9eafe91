//! Scale-out: several server processes share rooms and broadcasts through Redis.
//!
//! Without `REDIS_URL` the server is one process and every namespace gets a plain local adapter.
//! With it, every namespace gets socketioxide-redis's adapter over our [`ResilientDriver`], and
//! a broadcast, a `user:<id>` push or an HTTP push received by any node reaches the sockets of
//! all nodes. State lives in the shared database, not here; rate limits stay per process.
//!
//! The adapter is kept behind this module ([`Io`] and [`Socket`] are what the rest of the server
//! names), so an adapter speaking the Node adapter's protocol, for mixed Node and Rust clusters,
//! could be added here alone.

mod adapter;
mod driver;

use std::fmt;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide_redis::{RedisAdapterConfig, RedisAdapterCtr};

pub use adapter::{AdapterChoice, AdapterInit, ClusterAdapter};
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

/// This process's place in a cluster: alone, or linked to the others through Redis.
#[derive(Clone, Default)]
pub struct Cluster {
    link: Option<ResilientDriver>,
}

impl Cluster {
    /// Alone when `url` is `None`. Otherwise starts the Redis link without waiting for Redis.
    pub fn start(url: Option<&RedisUrl>) -> Result<Self, ClusterError> {
        let Some(RedisUrl(url)) = url else {
            return Ok(Self::default());
        };
        let client = redis::Client::open(url.as_str())
            .map_err(|error| ClusterError::InvalidUrl(error.to_string()))?;
        tracing::info!("cluster mode: rooms and broadcasts are shared through Redis");
        Ok(Self {
            link: Some(ResilientDriver::start(client)),
        })
    }

    /// What socketioxide builds each namespace's adapter from.
    pub fn adapter_choice(&self) -> AdapterChoice {
        match &self.link {
            None => AdapterChoice::Local,
            Some(link) => AdapterChoice::Redis(RedisAdapterCtr::new_with_driver(
                link.clone(),
                RedisAdapterConfig::default(),
            )),
        }
    }

    /// The Redis link's state, `None` for a single process.
    pub fn health(&self) -> Option<LinkHealth> {
        self.link.as_ref().map(ResilientDriver::health)
    }

    /// Lets queued cross-node messages reach Redis briefly, then closes the link.
    pub async fn shutdown(&self) {
        if let Some(link) = &self.link {
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
        let error = match Cluster::start(Some(&url)) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("a URL with an unknown scheme must be refused"),
        };
        assert!(error.contains("REDIS_URL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(format!("{url:?}"), "RedisUrl(<set>)");
    }

    #[tokio::test]
    async fn without_a_url_the_process_is_alone() {
        let cluster = Cluster::start(None).expect("no URL is fine");
        assert!(cluster.health().is_none());
        assert!(matches!(cluster.adapter_choice(), AdapterChoice::Local));
    }
}
