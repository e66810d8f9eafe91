//! The feed's task: poll Kuma, turn its answer into rows, write what changed, broadcast what
//! changed status, and keep going whatever Kuma does.
//!
//! With several server processes on one database, only the holder of the [`LEASE`] polls; the
//! others stand by, renewing their claim, and take over when the holder stops renewing (it
//! releases the lease when it stops; a crashed holder's lease expires after
//! [`KumaConfig::lease_ttl`]). The holder's broadcasts reach every node's clients through the
//! cluster adapter. A node that takes over reloads the stored statuses first, so it broadcasts
//! only what changes after.
//!
//! One loop wakes at the earliest of: the next poll, the moment a monitor's last beat turns
//! stale, the next lease renewal, a refresh request, or the stop signal. A failed poll keeps the last good snapshot (so
//! statuses hold until their beats turn stale) and retries with back-off. Failures are logged
//! when they start or change and once on recovery, never on every poll.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::api::Snapshot;
use super::client::{FetchError, KumaClient};
use super::config::KumaConfig;
use super::handle::FeedHandle;
use super::mapping::{self, Reading};
use crate::socket_service::SocketService;
use crate::store::{Change, StatusReport, Store};

/// How long the status page's monitor list is trusted before it is read again. A beat from an
/// id not on the list triggers a read sooner.
pub const MONITOR_LIST_TTL: Duration = Duration::from_secs(300);

/// Longest wait between retries, in poll intervals: long enough to spare a struggling Kuma,
/// short enough that recovery shows within a few polls.
pub const MAX_BACKOFF_POLLS: u32 = 4;

/// The database lease whose holder polls.
pub const LEASE: &str = "uptime-kuma-poll";

/// The running feed; [`FeedTask::stop`] ends it.
pub struct FeedTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl FeedTask {
    /// Starts polling. `handle` reports the feed's health and carries refresh requests.
    pub fn spawn(
        config: KumaConfig,
        client: KumaClient,
        store: Store,
        sockets: SocketService,
        handle: FeedHandle,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        handle.started();
        let poller = Poller {
            client,
            config,
            store,
            sockets,
            handle,
            names: Vec::new(),
            names_read_at: None,
            off_page: HashSet::new(),
            snapshot: None,
            written: HashMap::new(),
            known_status: HashMap::new(),
            failures: 0,
            last_error: None,
            holder: uuid::Uuid::new_v4().to_string(),
            holding: None,
        };
        Self {
            stop,
            task: tokio::spawn(poller.run(stopped)),
        }
    }

    /// Stops the feed and waits for it: an unfinished request is dropped, a store write in
    /// progress completes. Call before the store closes. (Dropping the task stops it too,
    /// without waiting.)
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "Uptime Kuma feed task failed");
        }
    }
}

struct Poller {
    client: KumaClient,
    config: KumaConfig,
    store: Store,
    sockets: SocketService,
    handle: FeedHandle,
    /// Service name by monitor id, in page order.
    names: Vec<(u64, String)>,
    names_read_at: Option<Instant>,
    /// Ids with beats but not on the page at its last read: not re-read for on every poll.
    off_page: HashSet<u64>,
    /// The last good heartbeat read.
    snapshot: Option<Snapshot>,
    /// The row last written per service, to write only what changed.
    written: HashMap<String, Reading>,
    /// The status clients last heard per service (from the store at start), to broadcast only
    /// status changes.
    known_status: HashMap<String, String>,
    failures: u32,
    last_error: Option<FetchError>,
    /// This process's name in the lease table.
    holder: String,
    /// Whether this process held the lease at the last try; `None` before the first.
    holding: Option<bool>,
}

impl Poller {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        tracing::info!(
            kuma = %self.config.display_url(),
            status_page = %self.config.status_page,
            poll_ms = self.config.poll_interval.as_millis() as u64,
            "Uptime Kuma feed starting"
        );
        let mut next_poll = Instant::now();
        loop {
            let renew_at = Instant::now() + self.config.lease_ttl / 3;
            let holding = self.hold_lease().await;
            if holding {
                let outcome = if Instant::now() >= next_poll {
                    Some(tokio::select! {
                        _ = &mut stop => break,
                        outcome = self.poll() => outcome,
                    })
                } else {
                    None
                };
                // After a poll, or between polls when beats may have turned stale. Stored and
                // broadcast before `/health` reports the poll: a client that waits for
                // `kuma.state` `ok` then reads what the poll brought.
                self.publish().await;
                if let Some(outcome) = outcome {
                    next_poll = Instant::now() + self.record(outcome);
                }
            }
            let mut wake = renew_at.min(next_poll);
            if holding && let Some(stale) = self.stale_deadline() {
                wake = wake.min(stale);
            }
            tokio::select! {
                _ = &mut stop => break,
                () = self.handle.refresh_requested() => {
                    next_poll = Instant::now();
                    if !holding {
                        self.poll_once_for_refresh().await;
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        if self.holding == Some(true)
            && let Err(error) = self.store.release_lease(LEASE, &self.holder).await
        {
            tracing::warn!(%error, "could not release the Uptime Kuma lease; another node takes over when it expires");
        }
        self.handle.stopped();
        tracing::info!("Uptime Kuma feed stopped");
    }

    /// Takes or renews the lease; logs when this node starts or stops being the poller. A
    /// database that does not answer counts as not holding: the node cannot store statuses
    /// either, and the lease expires for whoever can.
    async fn hold_lease(&mut self) -> bool {
        let holding = match self
            .store
            .take_lease(LEASE, &self.holder, self.config.lease_ttl)
            .await
        {
            Ok(holding) => holding,
            Err(error) => {
                if self.holding != Some(false) {
                    tracing::warn!(%error, "cannot renew the Uptime Kuma lease; standing by");
                }
                false
            }
        };
        if self.holding != Some(holding) {
            if holding {
                tracing::info!("this node polls Uptime Kuma (it holds the lease)");
                // What the previous holder stored and broadcast is what clients know.
                self.load_known_statuses().await;
                self.written.clear();
            } else {
                tracing::info!("another node polls Uptime Kuma; standing by");
            }
            self.handle.polling(holding);
            self.holding = Some(holding);
        }
        holding
    }

    /// `admin:refresh-status` on a node that does not hold the lease still polls at once, so
    /// the admin sees fresh statuses whichever node they are on; it compares with the stored
    /// statuses, so it broadcasts only real changes. (If the holder polls at that very moment
    /// too, a change can be broadcast twice.)
    async fn poll_once_for_refresh(&mut self) {
        self.load_known_statuses().await;
        self.written.clear();
        let outcome = self.poll().await;
        self.publish().await;
        self.record(outcome);
    }

    async fn load_known_statuses(&mut self) {
        match self.store.service_statuses().await {
            Ok(rows) => {
                self.known_status = rows.into_iter().map(|r| (r.service, r.status)).collect();
            }
            // Not fatal: the first poll then broadcasts every status once.
            Err(error) => tracing::error!(%error, "could not read stored statuses"),
        }
    }

    /// Reads the heartbeats, and the monitor list when it is old or a new id shows up.
    async fn poll(&mut self) -> Result<(), FetchError> {
        if self
            .names_read_at
            .is_none_or(|at| at.elapsed() >= MONITOR_LIST_TTL)
        {
            self.read_monitor_list().await?;
        }
        let snapshot = self.client.heartbeats().await?;
        let off_page = self.off_page(&snapshot);
        let off_page = if off_page.is_subset(&self.off_page) {
            off_page
        } else {
            self.read_monitor_list().await?;
            self.off_page(&snapshot)
        };
        if !off_page.is_empty() && off_page != self.off_page {
            let mut ids: Vec<_> = off_page.iter().collect();
            ids.sort_unstable();
            tracing::warn!(
                ?ids,
                "Uptime Kuma sent beats for monitors its status page does not list; skipped"
            );
        }
        self.off_page = off_page;
        self.snapshot = Some(snapshot);
        Ok(())
    }

    /// The ids with beats in `snapshot` that the monitor list does not name.
    fn off_page(&self, snapshot: &Snapshot) -> HashSet<u64> {
        let named: HashSet<u64> = self.names.iter().map(|(id, _)| *id).collect();
        snapshot
            .latest
            .keys()
            .filter(|id| !named.contains(id))
            .copied()
            .collect()
    }

    async fn read_monitor_list(&mut self) -> Result<(), FetchError> {
        let monitors = self.client.monitors().await?;
        self.names = mapping::service_names(&monitors);
        self.names_read_at = Some(Instant::now());
        Ok(())
    }

    /// Updates health and logs on a change of state; returns the wait before the next poll.
    fn record(&mut self, outcome: Result<(), FetchError>) -> Duration {
        match outcome {
            Ok(()) => {
                if let Some(error) = self.last_error.take() {
                    tracing::info!(
                        failed_polls = self.failures,
                        last_error = %error,
                        "Uptime Kuma feed recovered"
                    );
                } else if self
                    .handle
                    .health()
                    .is_some_and(|h| h.last_success.is_none())
                {
                    tracing::info!(monitors = self.names.len(), "Uptime Kuma feed connected");
                }
                self.failures = 0;
                self.handle.succeeded(self.names.len());
                self.config.poll_interval
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let retry = backoff(self.config.poll_interval, self.failures);
                if self.last_error.as_ref() != Some(&error) {
                    tracing::warn!(
                        kuma = %self.config.display_url(),
                        status_page = %self.config.status_page,
                        %error,
                        retry_ms = retry.as_millis() as u64,
                        "Uptime Kuma feed failing; last statuses kept until stale"
                    );
                }
                self.handle.failed(error.to_string());
                self.last_error = Some(error);
                retry
            }
        }
    }

    /// Writes every row that changed and broadcasts every status that changed.
    async fn publish(&mut self) {
        let Some(snapshot) = &self.snapshot else {
            return;
        };
        let rows = mapping::readings(&self.names, snapshot, Utc::now(), self.config.stale_after);
        for reading in rows {
            if self.written.get(&reading.service) == Some(&reading) {
                continue;
            }
            let report = StatusReport {
                status: reading.state.as_str().to_owned(),
                response_time: Change::To(reading.response_time_ms),
                uptime: Change::To(reading.uptime),
                checked_at: reading.checked_at,
            };
            let stored = match self.store.record_status(&reading.service, report).await {
                Ok(stored) => stored,
                Err(error) => {
                    // Not marked written: the next wake tries again.
                    tracing::error!(%error, service = %reading.service, "could not store a status from Uptime Kuma");
                    continue;
                }
            };
            if self.known_status.get(&stored.service) != Some(&stored.status) {
                if let Err(error) = self
                    .sockets
                    .broadcast_status_update(&stored.service, &stored.status)
                    .await
                {
                    tracing::error!(%error, "stored status could not be broadcast");
                }
                self.known_status.insert(stored.service, stored.status);
            }
            self.written.insert(reading.service.clone(), reading);
        }
    }

    /// When the next fresh beat turns stale, as an instant to wake at.
    fn stale_deadline(&self) -> Option<Instant> {
        let now = Utc::now();
        let at = mapping::next_stale_at(self.snapshot.as_ref()?, now, self.config.stale_after)?;
        let wait = (at - now).to_std().ok()?;
        Some(Instant::now() + wait)
    }
}

/// The wait after `failures` failed polls in a row: one poll interval, then doubling, capped at
/// [`MAX_BACKOFF_POLLS`] intervals.
pub fn backoff(poll_interval: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(MAX_BACKOFF_POLLS.ilog2());
    poll_interval.saturating_mul(factor.min(MAX_BACKOFF_POLLS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let poll = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=6).map(|n| backoff(poll, n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 120, 120, 120]);
        assert_eq!(backoff(poll, u32::MAX), poll * MAX_BACKOFF_POLLS);
    }
}
