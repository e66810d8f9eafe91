//! What a fleet's clients report and are told, the same in this process and over a worker
//! process's pipes: each client's [`Milestone`]s (as [`Report`]s), the [`FleetCommand`]s every
//! client obeys, and the [`FleetOptions`] they connect with. [`super::fleet`] runs clients in
//! this process, [`super::workers`] spreads them over processes; both speak this.

use tokio::time::Instant;

use std::sync::Arc;

use crate::client::ReconnectPolicy;
use crate::common::virtual_client::Conversation;
use crate::shaping::Conditions;

/// What a fleet member reports.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Milestone {
    /// Ready, as the load profile says (connected, its on-connect acks in, or an event).
    Ready,
    /// The namespace accepted the connection (readiness still to come).
    Connected,
    /// The connection was lost.
    Lost,
    Attempt,
    Failure(String),
    GaveUp,
    /// A fan-out delivery, labelled by its sequence value when the profile names where it is
    /// (`None`: matched by arrival order).
    Message(Option<String>),
}

impl Milestone {
    /// A short name, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Milestone::Ready => "ready",
            Milestone::Connected => "connected",
            Milestone::Lost => "lost",
            Milestone::Attempt => "reconnect attempt",
            Milestone::Failure(_) => "failure",
            Milestone::GaveUp => "gave up",
            Milestone::Message(_) => "message",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub client: usize,
    pub at: Instant,
    pub milestone: Milestone,
}

/// What a load run tells every client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FleetCommand {
    /// Lose the connection as a network failure would, then reconnect.
    NetworkLoss,
    /// Disconnect and stop.
    Close,
}

/// How the fleet's clients connect and reconnect.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// What every client says and waits for (from the load profile).
    pub conversation: Arc<Conversation>,
    /// The nodes' URLs: client `i` connects to `base_urls[i % len]`.
    pub base_urls: Vec<String>,
    pub reconnect: ReconnectPolicy,
    /// Connection attempts in flight while the fleet is built.
    pub ramp_concurrency: usize,
    /// `--network`: every connection shaped by these conditions.
    pub network: Option<Conditions>,
}
