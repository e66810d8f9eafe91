//! Integration tests: the real server on a free loopback port, a real SQLite file or PostgreSQL
//! database, and real Socket.IO clients (the sio-wire client) over websocket and long-polling.

mod common;
mod node_original;
mod pg;

mod auth;
mod cluster;
mod database_availability;
mod database_outage;
mod deploy;
mod durability;
mod http_api;
mod kuma;
mod logs;
mod metrics;
mod mixed_cluster;
mod notifications;
mod page;
mod process;
mod prometheus;
mod rate_limit;
mod robustness;
mod rooms;
mod rust_socketio_client;
mod shutdown;
mod store;
mod user_admin;
mod watch_example;
