//! `realtime-server`: the seed's Socket.IO server (JWT handshakes, status and notification
//! rooms, an admin-only event, rate limiting, a socket service, graceful shutdown) in Rust.
//!
//! How the pieces fit: [`app::Server`] opens the [`store`] and builds one axum router that
//! carries socketioxide's layer and the [`http_api`], served by hyper from [`http_server`]'s
//! accept loop. The Socket.IO [`handlers`] authenticate each
//! handshake with [`auth`], join [`rooms`], and pass every event through the [`rate_limit`]er.
//! Other code pushes events through the [`socket_service`]; the [`kuma`] feed is such code, turning
//! an Uptime Kuma status page into live statuses. [`cli`] and [`demo`] are the edges; [`page`]
//! serves the dashboard a browser opens at `/`; [`health`] answers load balancers from the
//! database's state as [`store::availability`] probes it, and [`metrics`] gives Prometheus the
//! counts and states of all of these at `/metrics`. With several processes, the [`cluster`] adapter
//! carries rooms and broadcasts between them through Redis, while the store is shared.

pub mod app;
pub mod auth;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod cluster;
pub mod coalesce;
pub mod demo;
pub mod handlers;
pub mod health;
pub mod http_api;
pub mod http_server;
pub mod kuma;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod rate_limit;
pub mod request_head;
pub mod rooms;
pub mod service_state;
pub mod socket_service;
pub mod store;
pub mod user_admin;

pub use app::{Server, ServerConfig, ServerError};
