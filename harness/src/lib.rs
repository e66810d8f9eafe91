//! `sio-harness`: a Socket.IO v4 protocol harness.
//!
//! How the pieces fit, in the order data flows through them:
//!
//! - [`scenario`] is the language: one file per step family (`connect`, `emit`, `expect`,
//!   `http`, `cut`, `network`, `cluster`, ...) with its AST, its checks and how it is written
//!   back; [`scenario::parse`] turns a YAML file into scenarios, with line and column for every
//!   step and for every mistake (nothing else parses), and [`scenario::write`] is the one
//!   writer that `record`, the fuzz reproducer and differential shrinking write YAML through.
//! - [`suite`] finds the files, launches a fresh [`target`] per scenario (a server, or a cluster
//!   of nodes with their redis-server and HAProxy, with any fake services it depends on; or
//!   uses a URL: the targets file's schema, placeholders, launching, readiness and the running
//!   target each have their file in `target/`), and hands each scenario to
//!   the [`runner`], `--jobs` at a time and `--repeat` times.
//! - [`hooks`] run before and after each scenario (a target's `reset`), for servers the
//!   harness does not launch; [`init`] writes a starter folder for someone else's server.
//! - [`schema`] generates the JSON Schemas of scenario and targets files from the parser's own
//!   types (`schemars` derives beside the `Deserialize` ones), for editors and validators.
//! - [`runner`] executes the steps, one file per step family with its `run`, dispatched from
//!   one place; a failing step is a typed error with its line and column, rendered into the
//!   report in `runner::failure`; tokens are minted or fetched in `runner::tokens`. Steps,
//!   token fetching and [`hooks`] send HTTP as one [`request::HttpRequest`]. Each client is a
//!   [`client::Client`] of the `sio_wire` crate (Engine.IO over [`transport`], packets by
//!   [`codec`]) behind its own loopback [`proxy`] (cuts and blackholes, moves to another node,
//!   latency, jitter, bandwidth and loss modelled by [`shaping`]), with a [`cookies`] jar for a
//!   load balancer's stickiness; values come from [`template`] and [`jwt`], expectations are
//!   checked by [`matcher`]. Every fact a client sees or does is an [`client::Observation`].
//! - [`lint`] is what `check` refuses beyond parsing: undefined variables, unknown matchers,
//!   namespaces a client never connected.
//! - [`transcript`] merges each client's observations by causal facts only and redacts ids and
//!   times into stable text; [`snapshot`] compares that text with the insta `.snap` file (or,
//!   with `--repeat`, the runs are compared with each other); [`report`] prints the results and
//!   writes JUnit, JSON and an HTML page per run (timelines, highlighted snapshot diffs).
//! - [`common`] holds what the modes below share, so that none imports another: the virtual
//!   clients of a load profile ([`scenario::profile`], rendered once per client), the preflight
//!   that checks a target follows the profile, the control client timed while a mode works, the
//!   figures read from `/proc`, and this repository's load users (`load-N`) as SQL.
//! - [`load`] is the other way in: thousands of lightweight clients (no history, milestones
//!   only) of any app's load profile for reconnect storms, fan-out and churn, with figures
//!   instead of transcripts.
//! - [`record`] goes the other way: a proxy that turns live traffic into a scenario file.
//! - [`fuzz`] is the third: seeded valid and mutated frames over many short connections, the
//!   control client timed throughout, the server's health and memory watched, failures saved
//!   as `raw` scenarios for the [`runner`] to replay; with two targets, generated event
//!   sequences run on both through the [`runner`], transcripts compared, differences shrunk.
//! - [`exhaust`] holds connections that never become users (silent, slowloris, unconnected
//!   sessions) and idle ones, one kind at a time, while the same control client is timed.
//!
//! The executable (`main.rs`) is only the command line: `cli/` has a file per subcommand, each
//! turning its options into one of the calls above, and one error type for the exit codes.

// The wire client lives in its own crate; these keep `crate::client::..` paths working.
pub use sio_wire::{client, codec, cookies, proxy, shaping, transport};

pub mod common;
pub mod exhaust;
pub mod fuzz;
pub mod hooks;
pub mod init;
pub mod jwt;
pub mod lint;
pub mod load;
pub mod matcher;
pub mod record;
pub mod report;
pub mod request;
pub mod runner;
pub mod scenario;
pub mod schema;
pub mod snapshot;
pub mod suite;
pub mod target;
pub mod template;
pub mod transcript;
