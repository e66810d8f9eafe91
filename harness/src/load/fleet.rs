//! Many clients at once, each read by its own small task that reports only milestones: when a
//! reconnect attempt starts, when the client is back and re-subscribed (`status:current`), a
//! failure, or a `service:status` message (fan-out).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::client::{Client, ClientOptions, Command, NamespaceOptions, Observed, ReconnectPolicy};
use crate::transport::{EndpointOptions, TransportKind};

/// What a fleet member reports.
#[derive(Debug, Clone)]
pub enum Milestone {
    /// Subscribed (`status:current` after a connect).
    Ready,
    Attempt,
    Failure(String),
    GaveUp,
    Message(String),
}

#[derive(Debug, Clone)]
pub struct Report {
    pub client: usize,
    pub at: Instant,
    pub milestone: Milestone,
}

pub struct Fleet {
    pub commands: Vec<mpsc::UnboundedSender<Command>>,
    pub reports: mpsc::UnboundedReceiver<Report>,
}

/// How the fleet's clients connect and reconnect.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub base_url: String,
    pub reconnect: ReconnectPolicy,
    /// Connection attempts in flight while the fleet is built.
    pub ramp_concurrency: usize,
}

impl Fleet {
    /// Connects one client per token; each subscribes to status and its notifications on
    /// every connect, like the seed's browser client.
    pub fn start(tokens: Vec<String>, options: &FleetOptions) -> Self {
        let (report_tx, reports) = mpsc::unbounded_channel();
        let http = reqwest::Client::new();
        let ramp = std::sync::Arc::new(Semaphore::new(options.ramp_concurrency.max(1)));
        let mut commands = Vec::with_capacity(tokens.len());
        for (index, token) in tokens.into_iter().enumerate() {
            let mut endpoint = EndpointOptions::with_http(options.base_url.clone(), http.clone());
            endpoint.transport = TransportKind::Websocket;
            endpoint.ws_read_buffer = 1024;
            endpoint.timeout = Duration::from_secs(20);
            let client_options = ClientOptions {
                endpoint,
                namespaces: vec![NamespaceOptions {
                    auth: Some(json!({ "token": token })),
                    on_connect: vec![
                        ("subscribe:status".to_owned(), Vec::new()),
                        ("subscribe:notifications".to_owned(), Vec::new()),
                    ],
                    ..NamespaceOptions::new("/")
                }],
                reconnect: options.reconnect.clone(),
                observe_heartbeat: false,
            };
            let (command_tx, command_rx) = mpsc::unbounded_channel();
            commands.push(command_tx);
            let reports = report_tx.clone();
            let ramp = ramp.clone();
            tokio::spawn(async move {
                let permit = ramp.acquire_owned().await.ok();
                let client = Client::connect(client_options);
                watch(index, client, command_rx, reports, permit).await;
            });
        }
        Self { commands, reports }
    }

    /// Sends `command` to every client.
    pub fn broadcast(&self, command: impl Fn() -> Command) {
        for sender in &self.commands {
            let _ = sender.send(command());
        }
    }

    /// Collects reports until `done` says so or `deadline` passes.
    pub async fn collect(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Report) -> bool,
    ) -> bool {
        loop {
            match tokio::time::timeout_at(deadline, self.reports.recv()).await {
                Ok(Some(report)) => {
                    if done(&report) {
                        return true;
                    }
                }
                Ok(None) | Err(_) => return false,
            }
        }
    }
}

async fn watch(
    index: usize,
    mut client: Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    reports: mpsc::UnboundedSender<Report>,
    mut ramp_permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let report = |milestone| {
        let _ = reports.send(Report {
            client: index,
            at: Instant::now(),
            milestone,
        });
    };
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => { let _ = client.send(command); }
                None => { client.close(); return; }
            },
            observation = client.next(Duration::from_secs(3600)) => {
                let Some(observation) = observation else { return };
                match observation.what {
                    Observed::Event { event, .. } if event == "status:current" => {
                        drop(ramp_permit.take());
                        report(Milestone::Ready);
                    }
                    Observed::Event { event, args, .. } if event == "service:status" => {
                        let status = args.first().and_then(|a| a.get("status")).and_then(Value::as_str).unwrap_or_default();
                        report(Milestone::Message(status.to_owned()));
                    }
                    Observed::ReconnectAttempt { .. } => report(Milestone::Attempt),
                    Observed::ConnectError { message, .. } | Observed::ReconnectError { message, .. } => {
                        drop(ramp_permit.take());
                        report(Milestone::Failure(message));
                    }
                    Observed::ReconnectFailed => report(Milestone::GaveUp),
                    _ => {}
                }
                // Keep no history: a load client must stay small.
                client.forget();
            }
        }
    }
}
