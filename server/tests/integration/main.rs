//! Integration tests: the real server on a free loopback port, a real SQLite file or PostgreSQL
//! database, and real Socket.IO clients (the harness client) over websocket and long-polling.

mod common;
mod pg;

mod auth;
mod cluster;
mod database_availability;
mod database_outage;
mod durability;
mod http_api;
mod kuma;
mod notifications;
mod page;
mod process;
mod rate_limit;
mod readme_example;
mod robustness;
mod rooms;
mod rust_socketio_client;
mod shutdown;
mod store;
mod watch_example;
