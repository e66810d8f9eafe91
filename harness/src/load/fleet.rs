//! Many clients at once, each driven in its own task that reports only milestones: connected,
//! lost, a reconnect attempt, ready (as the load profile's [`Conversation`] says), a failure,
//! or a fan-out delivery. With network conditions, the fleet's clients reach each
//! node through one shaping [`Proxy`] in front of it, each connection shaped on its own.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use super::reports::{FleetCommand, FleetOptions, Milestone, Report};
use super::workers::{Worker, WorkerError, Workers};
use crate::client::{self, Command, Observation};
use crate::common::virtual_client::ClientPlan;
use crate::proxy::Proxy;
use crate::shaping::Conditions;
use crate::transport::EndpointOptions;

pub struct Fleet {
    members: Members,
    reports: mpsc::UnboundedReceiver<Report>,
    /// The shaping proxies the clients connect through; dropping them resets their connections.
    _shaping: Vec<Proxy>,
}

/// One shaping proxy in front of each of `base_urls` (each `http://host:port`), and the URLs
/// that lead through them, in the same order. Each proxy's draws are seeded by its node's URL.
pub async fn shaping_proxies(
    base_urls: &[String],
    conditions: Conditions,
) -> std::io::Result<(Vec<String>, Vec<Proxy>)> {
    let mut urls = Vec::new();
    let mut proxies = Vec::new();
    for base_url in base_urls {
        let url = reqwest::Url::parse(base_url)
            .map_err(|e| std::io::Error::other(format!("{base_url}: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| std::io::Error::other(format!("{base_url} names no host")))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let upstream = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
        let proxy = Proxy::start(upstream).await?;
        proxy.shape(conditions, crate::shaping::seed_of(&[base_url]));
        urls.push(format!(
            "{}://{}{}",
            url.scheme(),
            proxy.addr,
            url.path().trim_end_matches('/')
        ));
        proxies.push(proxy);
    }
    Ok((urls, proxies))
}

/// Where the clients run.
enum Members {
    /// In this process, one task each.
    InProcess(Vec<mpsc::UnboundedSender<Command>>),
    /// Spread over worker processes (see [`super::workers`]).
    Workers(Vec<Worker>),
}

impl Fleet {
    /// Connects one client per plan; each emits the profile's on-connect events on every
    /// connect and reports when it is ready.
    pub fn start(clients: Vec<ClientPlan>, options: &FleetOptions) -> Self {
        let (report_tx, reports) = mpsc::unbounded_channel();
        let http = reqwest::Client::new();
        let ramp = std::sync::Arc::new(Semaphore::new(options.ramp_concurrency.max(1)));
        let mut commands = Vec::with_capacity(clients.len());
        let first_url = options.base_urls.first().map_or("", String::as_str);
        let sources = source_addresses(first_url, clients.len());
        for (index, plan) in clients.into_iter().enumerate() {
            let url = options
                .base_urls
                .get(index % options.base_urls.len().max(1))
                .cloned()
                .unwrap_or_default();
            let mut endpoint = EndpointOptions::with_http(url, http.clone());
            endpoint.ws_read_buffer = 1024;
            endpoint.local_address = sources.get(index % sources.len().max(1)).copied();
            endpoint.timeout = Duration::from_secs(20);
            let mut client_options = plan.options(&options.conversation, endpoint);
            client_options.reconnect = options.reconnect.clone();
            let (command_tx, command_rx) = mpsc::unbounded_channel();
            commands.push(command_tx);
            let reports = report_tx.clone();
            let ramp = ramp.clone();
            let conversation = options.conversation.clone();
            tokio::spawn(async move {
                // Held until the first connect is settled, so the ramp bounds attempts in flight.
                let permit = Mutex::new(ramp.acquire_owned().await.ok());
                let acks = AtomicUsize::new(0);
                let observer = move |observation: Observation| {
                    if let Some(milestone) = conversation.milestone(&observation.what, &acks) {
                        if matches!(milestone, Milestone::Ready | Milestone::Failure(_))
                            && let Ok(mut held) = permit.lock()
                        {
                            held.take();
                        }
                        let _ = reports.send(Report {
                            client: index,
                            at: Instant::now(),
                            milestone,
                        });
                    }
                };
                client::run_observed(client_options, command_rx, observer).await;
            });
        }
        Self {
            members: Members::InProcess(commands),
            reports,
            _shaping: Vec::new(),
        }
    }

    /// In this process, or spread over `workers` worker processes (this harness's executable
    /// as `load-worker`) when there are more than one, for more clients than one process may
    /// hold.
    pub async fn launch(
        clients: Vec<ClientPlan>,
        options: &FleetOptions,
        workers: Option<&Workers>,
    ) -> Result<Self, WorkerError> {
        match workers {
            Some(workers) if workers.count > 1 => {
                let (report_tx, reports) = mpsc::unbounded_channel();
                let workers =
                    super::workers::start(&workers.exe, clients, options, workers.count, report_tx)
                        .await?;
                Ok(Self {
                    members: Members::Workers(workers),
                    reports,
                    _shaping: Vec::new(),
                })
            }
            _ => match options.network {
                Some(conditions) => {
                    let (base_urls, proxies) = shaping_proxies(&options.base_urls, conditions)
                        .await
                        .map_err(WorkerError::Shaping)?;
                    let shaped = FleetOptions {
                        base_urls,
                        network: None,
                        ..options.clone()
                    };
                    let mut fleet = Self::start(clients, &shaped);
                    fleet._shaping = proxies;
                    Ok(fleet)
                }
                None => Ok(Self::start(clients, options)),
            },
        }
    }

    /// The next report, `None` once every client has stopped.
    pub async fn next_report(&mut self) -> Option<Report> {
        self.reports.recv().await
    }

    /// Reports received but not yet taken.
    pub fn reports_waiting(&self) -> usize {
        self.reports.len()
    }

    /// Sends `command` to every client.
    pub fn broadcast(&self, command: FleetCommand) {
        match &self.members {
            Members::InProcess(clients) => {
                for client in clients {
                    let _ = client.send(match command {
                        FleetCommand::NetworkLoss => Command::SimulateNetworkLoss,
                        FleetCommand::Close => Command::Close,
                    });
                }
            }
            Members::Workers(workers) => {
                for worker in workers {
                    worker.send(command);
                }
            }
        }
    }

    /// Collects reports until `done` says so or `deadline` passes; `done` also sees a
    /// [`Collected::Tick`] about every quarter second, reports or not, for progress lines and
    /// for stopping a phase that cannot finish.
    pub async fn collect(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(Collected<'_>) -> bool,
    ) -> bool {
        loop {
            let wake = deadline.min(Instant::now() + TICK);
            match tokio::time::timeout_at(wake, self.reports.recv()).await {
                Ok(Some(report)) => {
                    if done(Collected::Report(&report)) {
                        return true;
                    }
                }
                Ok(None) => return false,
                Err(_) if wake >= deadline => return false,
                Err(_) => {
                    if done(Collected::Tick) {
                        return true;
                    }
                }
            }
        }
    }
}

/// What [`Fleet::collect`] hands its callback.
pub enum Collected<'a> {
    Report(&'a Report),
    /// Time passed.
    Tick,
}

const TICK: Duration = Duration::from_millis(250);

/// Clients that share a source address.
const CLIENTS_PER_SOURCE: usize = 64;

/// Source addresses for `clients` connections to `base_url`: for an IPv4 loopback target, one
/// address of 127.0.0.0/8 per [`CLIENTS_PER_SOURCE`] clients, so each address keeps few
/// connections and few TIME-WAIT ports and the kernel finds a free port at once; none otherwise
/// (the system picks, as for any client).
pub(crate) fn source_addresses(base_url: &str, clients: usize) -> Vec<IpAddr> {
    let loopback_target = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|url| {
            url.host_str().map(|host| {
                host == "localhost"
                    || host
                        .parse::<Ipv4Addr>()
                        .is_ok_and(|address| address.is_loopback())
            })
        })
        .unwrap_or(false);
    if !loopback_target {
        return Vec::new();
    }
    // 127.1.0.1 upwards, away from 127.0.0.1 where the servers listen.
    let first = u32::from(Ipv4Addr::new(127, 1, 0, 1));
    (0..clients.div_ceil(CLIENTS_PER_SOURCE).clamp(1, 1 << 16) as u32)
        .map(|offset| IpAddr::V4(Ipv4Addr::from(first + offset)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_get_one_source_address_per_group_of_clients() {
        let sources = source_addresses("http://127.0.0.1:3000", 20_000);
        assert_eq!(sources.len(), 20_000usize.div_ceil(CLIENTS_PER_SOURCE));
        assert_eq!(sources[0], IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(sources[255], IpAddr::V4(Ipv4Addr::new(127, 1, 1, 0)));
        assert!(sources.iter().all(IpAddr::is_loopback));
        let unique: std::collections::HashSet<_> = sources.iter().collect();
        assert_eq!(unique.len(), sources.len());
        assert_eq!(source_addresses("http://localhost:3000", 1).len(), 1);
    }

    #[test]
    fn other_targets_let_the_system_choose() {
        assert!(source_addresses("http://10.0.0.5:3000", 1000).is_empty());
        assert!(source_addresses("http://example.org", 1000).is_empty());
        assert!(source_addresses("http://[::1]:3000", 1000).is_empty());
        assert!(source_addresses("not a url", 1000).is_empty());
    }

    #[tokio::test]
    async fn shaping_proxies_lead_to_their_nodes_in_order() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for name in [b'a', b'b'] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            urls.push(format!("http://{}/", listener.local_addr().expect("addr")));
            nodes.push(tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.expect("accept");
                stream.write_all(&[name]).await.expect("write");
            }));
        }
        let conditions = Conditions::parse("latency=5ms").expect("valid");
        let (shaped, proxies) = shaping_proxies(&urls, conditions).await.expect("proxies");
        assert_eq!(proxies.len(), 2);
        for (url, name) in shaped.iter().zip([b'a', b'b']) {
            assert!(!urls.contains(url), "{url} is not a proxy");
            let addr = url.trim_start_matches("http://");
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let mut got = [0u8; 1];
            stream.read_exact(&mut got).await.expect("read");
            assert_eq!(got[0], name);
        }
    }
}
