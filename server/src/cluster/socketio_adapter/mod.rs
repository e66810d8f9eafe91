//! The Node adapter's protocol on Redis (`@socket.io/redis-adapter` 8.x, `REDIS_ADAPTER=socket.io`):
//! Rust and Node processes on one Redis form one cluster, so a Node deployment moves to Rust
//! one process at a time (docs/migration.md; what crosses and what does not is in
//! docs/protocol.md).
//!
//! - [`wire`]: the bytes, notepack's msgpack and JSON, and socketioxide's packets for them.
//! - [`protocol`]: channels, request numbers and the shapes of requests and responses.
//! - [`adapter`]: socketioxide's adapter trait over them, on our [`super::ResilientDriver`], so
//!   every guarantee of that link (restart, freeze, down at start, bursts) holds here too.

mod adapter;
mod protocol;
mod wire;

pub use adapter::{Error, REQUESTS_TIMEOUT, RemoteAcks, SocketIoAdapter, SocketIoAdapterCtr};
