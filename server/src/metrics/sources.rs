//! The figures read at scrape time from the parts that keep them: sockets by transport, the
//! database's state, pool and query errors, the Redis link, the Uptime Kuma feed, the process.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::{Metrics, counter, gauge, labelled_gauges, process};
use crate::cluster::{Cluster, LinkState};
use crate::kuma::{FeedHandle, FeedState};
use crate::socket_service::SocketService;
use crate::store::Store;

/// What one scrape reads; the registry's only collector.
#[derive(Clone)]
pub struct Sources {
    pub metrics: Metrics,
    pub sockets: SocketService,
    pub store: Store,
    pub kuma: FeedHandle,
    pub cluster: Cluster,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let encoder = &mut encoder;
        let (polling, websocket) = self.sockets.connected_by_transport();
        labelled_gauges(
            encoder,
            "realtime_connected_sockets",
            "Sockets connected to the main namespace, by the transport they use now.",
            "transport",
            [("polling", polling as f64), ("websocket", websocket as f64)],
        )?;
        self.metrics.encode(encoder)?;

        let pool = self.store.pool_use();
        gauge(
            encoder,
            "realtime_database_up",
            "1 while the database answers the server's probe, else 0.",
            f64::from(u8::from(self.store.availability().is_up())),
        )?;
        labelled_gauges(
            encoder,
            "realtime_database_pool_connections",
            "Database pool connections, by state (in_use: lent to a query).",
            "state",
            [
                ("idle", f64::from(pool.idle)),
                ("in_use", f64::from(pool.in_use)),
            ],
        )?;
        gauge(
            encoder,
            "realtime_database_pool_max_connections",
            "The most connections the database pool opens.",
            f64::from(pool.max),
        )?;
        counter(
            encoder,
            "realtime_database_query_errors",
            "Database queries that failed (including those refused at once while the database is down).",
            self.store.query_errors(),
        )?;

        if let Some(link) = self.cluster.health() {
            gauge(
                encoder,
                "realtime_redis_adapter_up",
                "1 while the Redis adapter's connections are up and subscribed, else 0.",
                f64::from(u8::from(link.state == LinkState::Connected)),
            )?;
            counter(
                encoder,
                "realtime_redis_adapter_lost_messages",
                "Cross-node messages dropped or possibly dropped since start.",
                link.lost,
            )?;
        }

        if let Some(feed) = self.kuma.health() {
            let counts = self.kuma.poll_counts();
            counter(
                encoder,
                "realtime_kuma_polls",
                "Reads of the Uptime Kuma status page, successful or not.",
                counts.polls,
            )?;
            counter(
                encoder,
                "realtime_kuma_poll_failures",
                "Reads of the Uptime Kuma status page that failed.",
                counts.failures,
            )?;
            gauge(
                encoder,
                "realtime_kuma_feed_failing",
                "1 while this node polls Uptime Kuma and its last read failed, else 0.",
                f64::from(u8::from(feed.state == FeedState::Failing)),
            )?;
        }

        process::encode(encoder)
    }
}
