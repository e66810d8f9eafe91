//! Load mode: reconnect storms, fan-out and connection churn against a target, with the figures
//! that decide them.
//!
//! [`fleet`] starts many lean clients (one shared HTTP client, small websocket buffers, source
//! addresses spread over loopback), each driven in its own task that reports only the moments
//! that matter ([`reports`]); [`workers`] spreads a fleet over several processes when one may
//! not hold every client, each a `load-worker` ([`worker_process`]); [`storm`] and [`fanout`]
//! drive the fleet; [`churn`] opens and closes short connections at a steady rate and follows
//! the server's memory; [`descriptors`] checks, before a run starts, that its connections fit in
//! the open-files limit; [`phase`] prints progress and stops a phase that local failures (the
//! machine's own limits) keep from finishing; [`arrivals`] times churn's arrival phases. Figures
//! come from [`crate::common::metrics`]; every client is a virtual client of the load profile
//! ([`crate::common::virtual_client`]).

pub mod arrivals;
pub mod churn;
pub mod descriptors;
pub mod fanout;
pub mod fleet;
pub mod phase;
pub mod reports;
pub mod storm;
pub mod worker_process;
pub mod workers;
