//! One phase of a load run (everyone connecting, one storm round) as a person watching it sees
//! it: a progress line about every second on a terminal, and a stop with a reason once local
//! failures show the phase cannot finish.
//!
//! A local failure is one the harness's own machine caused (its open-files limit, no free port:
//! [`LocalLimit`]); the clients back off after each (up to 2 s), so it never spins, but waiting
//! out a two-minute deadline for clients that cannot be opened helps nobody. The phase stops
//! once [`LOCAL_STOP_MIN`] of them have happened and no client has come back for
//! [`LOCAL_STOP_QUIET`].

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use tokio::time::Instant;

use crate::transport::LocalLimit;

/// Local failures needed before a phase may stop: a few are transient (a port in TIME-WAIT).
pub const LOCAL_STOP_MIN: u64 = 100;
/// How long without any client coming back, after local failures, before a phase stops.
pub const LOCAL_STOP_QUIET: Duration = Duration::from_secs(3);
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub struct Phase {
    label: String,
    clients: usize,
    print: bool,
    started: Instant,
    last_line: Instant,
    last_back: Instant,
    back: usize,
    failures: u64,
    local: BTreeMap<LocalLimit, u64>,
}

impl Phase {
    /// `print`: whether to write progress lines (to stderr), for a person at a terminal.
    pub fn new(label: impl Into<String>, clients: usize, print: bool) -> Self {
        let now = Instant::now();
        Self {
            label: label.into(),
            clients,
            print,
            started: now,
            last_line: now,
            last_back: now,
            back: 0,
            failures: 0,
            local: BTreeMap::new(),
        }
    }

    /// A client reached the phase's goal.
    pub fn back(&mut self) {
        self.back += 1;
        self.last_back = Instant::now();
    }

    /// A connection attempt failed with the client's `message`.
    pub fn failure(&mut self, message: &str) {
        self.failures += 1;
        if let Some(limit) = LocalLimit::in_client_message(message) {
            *self.local.entry(limit).or_default() += 1;
        }
    }

    /// Prints a progress line when one is due.
    pub fn tick(&mut self) {
        if !self.print || self.last_line.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_line = Instant::now();
        let local: u64 = self.local.values().sum();
        let _ = writeln!(
            std::io::stderr(),
            "  {} {:>5.1}s: {}/{} back, {} failed attempts ({} local)",
            self.label,
            self.started.elapsed().as_secs_f64(),
            self.back,
            self.clients,
            self.failures,
            local,
        );
    }

    /// Why the phase should stop now, if it should.
    pub fn stop_reason(&self) -> Option<String> {
        let local: u64 = self.local.values().sum();
        if local < LOCAL_STOP_MIN || self.last_back.elapsed() < LOCAL_STOP_QUIET {
            return None;
        }
        let (limit, count) = self
            .local
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(limit, count)| (*limit, *count))?;
        Some(format!(
            "stopped {}: {count} connection attempts failed with {limit} and no client came back \
             for {:?} ({} of {} back); {}",
            self.label,
            LOCAL_STOP_QUIET,
            self.back,
            self.clients,
            advice(limit),
        ))
    }

    /// Failed attempts by local limit, for reports.
    pub fn local_failures(&self) -> BTreeMap<String, u64> {
        self.local
            .iter()
            .map(|(limit, count)| (limit.to_string(), *count))
            .collect()
    }
}

fn advice(limit: LocalLimit) -> &'static str {
    match limit {
        LocalLimit::OpenFiles => {
            "this process is out of file descriptors: raise `ulimit -n` (up to the hard limit, \
             `ulimit -Hn`) or run fewer clients"
        }
        LocalLimit::SystemFiles => {
            "the system is out of file descriptors: raise fs.file-max or run fewer clients"
        }
        LocalLimit::Addresses => {
            "no local port is free: wait for TIME-WAIT connections to clear, widen \
             net.ipv4.ip_local_port_range, or run fewer clients"
        }
        LocalLimit::Memory => "the kernel is out of socket memory: run fewer clients",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn local_failures_stop_a_phase_only_once_nobody_comes_back() {
        let local = "websocket error (local: too many open files in this process (EMFILE))";
        let mut phase = Phase::new("round 1", 10, false);
        for _ in 0..LOCAL_STOP_MIN {
            phase.failure(local);
            phase.failure("websocket error");
        }
        assert_eq!(phase.stop_reason(), None, "not before the quiet period");
        tokio::time::advance(LOCAL_STOP_QUIET).await;
        let reason = phase.stop_reason().expect("stops");
        assert!(
            reason.contains("100 connection attempts failed with too many open files"),
            "{reason}"
        );
        assert!(reason.contains("ulimit -n"), "{reason}");
        phase.back();
        assert_eq!(
            phase.stop_reason(),
            None,
            "a client coming back shows progress"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn remote_failures_never_stop_a_phase() {
        let mut phase = Phase::new("connecting", 10, false);
        for _ in 0..1000 {
            phase.failure("websocket error");
            phase.failure("timeout");
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(phase.stop_reason(), None);
        assert!(phase.local_failures().is_empty());
    }
}
