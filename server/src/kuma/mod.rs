//! The Uptime Kuma feed (the seed's Phase 2): live service statuses from a Kuma status page.
//!
//! Kuma's public status-page API needs no login. The feed polls it ([`poller`]) through a
//! bounded HTTP client ([`client`]) that reads both the 1.23 and 2.x replies ([`api`]), maps
//! each monitor to a `service_status` row ([`mapping`]), writes the rows that changed to the
//! store and broadcasts `service:status` for each status that changed, exactly as
//! `PUT /api/v1/status/{service}` does. The rest of the server sees only a [`FeedHandle`]:
//! `admin:refresh-status` asks it for a poll, `/health` reads its state. The feed runs only when
//! [`KumaConfig`] is given, and stops before the store closes on shutdown.

pub mod api;
pub mod client;
pub mod config;
pub mod handle;
pub mod mapping;
pub mod poller;

pub use client::{KumaClient, KumaClientError};
pub use config::{KumaConfig, KumaConfigError};
pub use handle::{FeedHandle, FeedHealth, FeedRole, FeedState, PollCounts};
pub use poller::{FeedTask, LEASE};
