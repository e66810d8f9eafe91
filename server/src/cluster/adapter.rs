//! One adapter type for both shapes, so the handlers and the socket service are written once:
//! [`ClusterAdapter::Local`] behaves exactly as socketioxide's `LocalAdapter` (nothing is
//! encoded or published), [`ClusterAdapter::Redis`] is socketioxide-redis over the
//! [`ResilientDriver`], [`ClusterAdapter::SocketIo`] speaks the Node adapter's protocol over the
//! same driver. Which one every namespace gets is chosen once, by [`AdapterChoice`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::Either;
use socketioxide::adapter::Emitter;
use socketioxide_core::adapter::errors::{AdapterError, BroadcastError};
use socketioxide_core::adapter::{
    BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter, RemoteSocketData, Room,
    RoomParam, Spawnable,
};
use socketioxide_core::packet::Packet;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterCtr};

use super::driver::ResilientDriver;
use super::socketio_adapter::{self, SocketIoAdapter, SocketIoAdapterCtr};

type RedisAdapter = CustomRedisAdapter<Emitter, ResilientDriver>;
type RedisAckStream = <RedisAdapter as CoreAdapter<Emitter>>::AckStream;
type SocketIoAckStream = <SocketIoAdapter as CoreAdapter<Emitter>>::AckStream;

/// The adapter every namespace gets.
pub enum ClusterAdapter {
    Local(CoreLocalAdapter<Emitter>),
    /// In an `Arc` because its init spawns a task that holds it.
    Redis(Arc<RedisAdapter>),
    SocketIo(Arc<SocketIoAdapter>),
}

/// Either adapter's failure (a request that timed out, a message that could not be encoded).
#[derive(Debug, thiserror::Error)]
pub enum ClusterAdapterError {
    #[error(transparent)]
    Redis(#[from] socketioxide_redis::Error<ResilientDriver>),
    #[error(transparent)]
    SocketIo(#[from] socketio_adapter::Error),
}

impl From<ClusterAdapterError> for AdapterError {
    fn from(error: ClusterAdapterError) -> Self {
        match error {
            ClusterAdapterError::Redis(error) => error.into(),
            ClusterAdapterError::SocketIo(error) => error.into(),
        }
    }
}

/// socketioxide's adapter state: what [`ClusterAdapter::new`] builds each namespace's adapter
/// from.
pub enum AdapterChoice {
    Local,
    Redis(RedisAdapterCtr<ResilientDriver>),
    SocketIo(SocketIoAdapterCtr),
}

impl DefinedAdapter for ClusterAdapter {}

impl CoreAdapter<Emitter> for ClusterAdapter {
    type Error = ClusterAdapterError;
    type State = AdapterChoice;
    type AckStream = Either<RedisAckStream, SocketIoAckStream>;
    type InitRes = AdapterInit;

    fn new(state: &Self::State, local: CoreLocalAdapter<Emitter>) -> Self {
        match state {
            AdapterChoice::Local => Self::Local(local),
            AdapterChoice::Redis(ctr) => Self::Redis(Arc::new(RedisAdapter::new(ctr, local))),
            AdapterChoice::SocketIo(ctr) => {
                Self::SocketIo(Arc::new(SocketIoAdapter::new(ctr, local)))
            }
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) -> Self::InitRes {
        match &*self {
            Self::Local(_) => {
                on_success();
                AdapterInit(None)
            }
            Self::Redis(redis) => {
                let init = redis.clone().init(on_success);
                AdapterInit::new(async move { init.await.map_err(|error| error.to_string()) })
            }
            Self::SocketIo(socketio) => socketio.clone().init(on_success),
        }
    }

    async fn close(&self) -> Result<(), Self::Error> {
        match self {
            Self::Local(_) => Ok(()),
            Self::Redis(redis) => Ok(redis.close().await?),
            Self::SocketIo(socketio) => Ok(socketio.close().await?),
        }
    }

    async fn server_count(&self) -> Result<u16, Self::Error> {
        match self {
            Self::Local(_) => Ok(1),
            Self::Redis(redis) => Ok(redis.server_count().await?),
            Self::SocketIo(socketio) => Ok(socketio.server_count().await?),
        }
    }

    async fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), BroadcastError> {
        match self {
            Self::Local(local) => local.broadcast(packet, opts).map_err(BroadcastError::from),
            Self::Redis(redis) => redis.broadcast(packet, opts).await,
            Self::SocketIo(socketio) => socketio.broadcast(packet, opts).await,
        }
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, Self::Error> {
        match self {
            Self::Local(local) => Ok(Either::Left(Either::Left(
                local.broadcast_with_ack(packet, opts, timeout).0,
            ))),
            Self::Redis(redis) => Ok(Either::Left(
                redis.broadcast_with_ack(packet, opts, timeout).await?,
            )),
            Self::SocketIo(socketio) => Ok(Either::Right(
                socketio.broadcast_with_ack(packet, opts, timeout).await?,
            )),
        }
    }

    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), Self::Error> {
        match self {
            Self::Local(local) => {
                local.add_sockets(opts, rooms);
                Ok(())
            }
            Self::Redis(redis) => Ok(redis.add_sockets(opts, rooms).await?),
            Self::SocketIo(socketio) => Ok(socketio.add_sockets(opts, rooms).await?),
        }
    }

    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), Self::Error> {
        match self {
            Self::Local(local) => {
                local.del_sockets(opts, rooms);
                Ok(())
            }
            Self::Redis(redis) => Ok(redis.del_sockets(opts, rooms).await?),
            Self::SocketIo(socketio) => Ok(socketio.del_sockets(opts, rooms).await?),
        }
    }

    async fn disconnect_socket(&self, opts: BroadcastOptions) -> Result<(), BroadcastError> {
        match self {
            Self::Local(local) => local
                .disconnect_socket(opts)
                .map_err(BroadcastError::Socket),
            Self::Redis(redis) => redis.disconnect_socket(opts).await,
            Self::SocketIo(socketio) => socketio.disconnect_socket(opts).await,
        }
    }

    async fn rooms(&self, opts: BroadcastOptions) -> Result<Vec<Room>, Self::Error> {
        match self {
            Self::Local(local) => Ok(local.rooms(opts).into_iter().collect()),
            Self::Redis(redis) => Ok(redis.rooms(opts).await?),
            Self::SocketIo(socketio) => Ok(socketio.rooms(opts).await?),
        }
    }

    async fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<RemoteSocketData>, Self::Error> {
        match self {
            Self::Local(local) => Ok(local.fetch_sockets(opts)),
            Self::Redis(redis) => Ok(redis.fetch_sockets(opts).await?),
            Self::SocketIo(socketio) => Ok(socketio.fetch_sockets(opts).await?),
        }
    }

    fn get_local(&self) -> &CoreLocalAdapter<Emitter> {
        match self {
            Self::Local(local) => local,
            Self::Redis(redis) => redis.get_local(),
            Self::SocketIo(socketio) => socketio.get_local(),
        }
    }
}

/// The result of [`ClusterAdapter::init`]: ready at once for a local adapter; for Redis, the
/// subscriptions being set up (awaited, or spawned by socketioxide).
#[must_use = "await it, or spawn it"]
pub struct AdapterInit(Option<futures_util::future::BoxFuture<'static, Result<(), String>>>);

impl AdapterInit {
    pub(super) fn new(init: impl Future<Output = Result<(), String>> + Send + 'static) -> Self {
        Self(Some(Box::pin(init)))
    }
}

impl Future for AdapterInit {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            None => Poll::Ready(Ok(())),
            Some(init) => init.as_mut().poll(cx),
        }
    }
}

impl Spawnable for AdapterInit {
    fn spawn(self) {
        if let Some(init) = self.0 {
            tokio::spawn(async move {
                if let Err(error) = init.await {
                    tracing::error!(%error, "the cluster adapter could not start");
                }
            });
        }
    }
}
