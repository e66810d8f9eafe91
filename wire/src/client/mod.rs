//! A Socket.IO v4 client that reports everything it sees and does as typed [`Observation`]s.
//!
//! [`Client::connect`] spawns a driver task that owns the Engine.IO [`Link`]: it answers pings,
//! notices a dead server after `pingInterval + pingTimeout`, connects namespaces with their auth,
//! tracks acks in both directions with timeouts, and reconnects with the official client's
//! back-off, re-joining every namespace with the same auth. The caller sends [`Command`]s through
//! the handle and reads observations in order; a load generator runs the driver in its own task
//! with [`run_observed`] and is handed each observation as it happens. Disconnect reasons and
//! error messages are named as the official JavaScript client names them, so transcripts read
//! the same.

mod driver;
mod observation;
mod options;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use driver::Driver;
pub use observation::{Command, Observation, Observed};
pub use options::{ClientOptions, NamespaceOptions, ReconnectPolicy};

/// Handle to a running client.
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    /// How many commands were handed to the driver; the driver numbers them the same way.
    commands_sent: AtomicU64,
    observations: mpsc::UnboundedReceiver<Observation>,
    /// When the driver started: `Observation::at` counts from here.
    started: Instant,
    /// Everything received so far, in order.
    history: Vec<Observation>,
    /// Indices into `history` not yet taken by [`Client::wait_for`].
    unconsumed: VecDeque<usize>,
    /// What [`Client::wait_for`] took, in the order it took it.
    taken: Vec<Taken>,
}

/// One observation taken by [`Client::wait_for`]: its index in the history, and how many
/// commands had been sent when it was taken (so it had arrived before the later ones were sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub index: usize,
    pub commands_sent: u64,
}

/// The driver is gone (the client was closed and every observation read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client is closed")]
pub struct ClientClosed;

impl Client {
    /// Starts the client: opens the transport and connects the configured namespaces.
    pub fn connect(options: ClientOptions) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (observation_tx, observations) = mpsc::unbounded_channel();
        let observer = Box::new(move |observation| {
            // The handle may be gone; the driver then finishes when its commands end.
            let _ = observation_tx.send(observation);
        });
        let started = Instant::now();
        tokio::spawn(Driver::new(options, command_rx, observer, started).run());
        Self {
            commands,
            commands_sent: AtomicU64::new(0),
            observations,
            started,
            history: Vec::new(),
            unconsumed: VecDeque::new(),
            taken: Vec::new(),
        }
    }

    pub fn send(&self, command: Command) -> Result<(), ClientClosed> {
        self.commands.send(command).map_err(|_| ClientClosed)?;
        self.commands_sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// How many commands this handle has sent; the next one gets this number.
    pub fn commands_sent(&self) -> u64 {
        self.commands_sent.load(Ordering::Relaxed)
    }

    /// When the client started: every `Observation::at` counts from this instant.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// What [`Client::wait_for`] took so far, in order.
    pub fn taken(&self) -> &[Taken] {
        &self.taken
    }

    pub fn emit(
        &self,
        nsp: &str,
        event: &str,
        args: Vec<Value>,
        ack_timeout: Option<Duration>,
    ) -> Result<(), ClientClosed> {
        self.send(Command::Emit {
            nsp: nsp.to_owned(),
            event: event.to_owned(),
            args,
            ack_timeout,
        })
    }

    pub fn ack(&self, nsp: &str, id: u64, args: Vec<Value>) -> Result<(), ClientClosed> {
        self.send(Command::Ack {
            nsp: nsp.to_owned(),
            id,
            args,
        })
    }

    pub fn close(&self) {
        let _ = self.send(Command::Close);
    }

    /// Everything observed so far (only what has been pulled by `next` or `wait_for`).
    pub fn history(&self) -> &[Observation] {
        &self.history
    }

    /// Observations received but not yet taken by a matching `wait_for`.
    pub fn unconsumed(&self) -> impl Iterator<Item = &Observation> {
        self.unconsumed.iter().filter_map(|&i| self.history.get(i))
    }

    fn record(&mut self, observation: Observation) {
        self.unconsumed.push_back(self.history.len());
        self.history.push(observation);
    }

    /// Pulls whatever has already arrived, without waiting.
    pub fn drain(&mut self) {
        while let Ok(observation) = self.observations.try_recv() {
            self.record(observation);
        }
    }

    /// Pulls observations for `window`; returns false if the driver is gone.
    pub async fn pump_for(&mut self, window: Duration) -> bool {
        let deadline = Instant::now() + window;
        loop {
            match tokio::time::timeout_at(deadline, self.observations.recv()).await {
                Ok(Some(observation)) => self.record(observation),
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    /// Takes the first unconsumed observation matching `wanted`, waiting up to `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&Observed) -> bool,
    ) -> Option<Observation> {
        let deadline = Instant::now() + timeout;
        self.drain();
        let mut checked = 0;
        loop {
            let position = self
                .unconsumed
                .iter()
                .skip(checked)
                .position(|&i| self.history.get(i).is_some_and(|o| wanted(&o.what)));
            if let Some(offset) = position {
                let index = self.unconsumed.remove(checked + offset)?;
                self.taken.push(Taken {
                    index,
                    commands_sent: self.commands_sent(),
                });
                return self.history.get(index).cloned();
            }
            checked = self.unconsumed.len();
            match tokio::time::timeout_at(deadline, self.observations.recv()).await {
                Ok(Some(observation)) => self.record(observation),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Takes the next unconsumed observation, whatever it is.
    pub async fn next(&mut self, timeout: Duration) -> Option<Observation> {
        self.wait_for(timeout, |_| true).await
    }
}

/// Runs a client in the calling task until it finishes (closed, its command senders gone, or
/// out of reconnection attempts), handing every observation to `observer` as it happens. A load
/// generator with thousands of clients uses this: no handle task, no queue, no history.
pub async fn run_observed(
    options: ClientOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    observer: impl Fn(Observation) + Send + Sync + 'static,
) {
    Driver::new(options, commands, Box::new(observer), Instant::now())
        .run()
        .await;
}
