//! Room broadcast through the real server: one `service:status` to 100 subscribed websocket
//! clients on loopback, timed until every client has the frame.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use realtime_server::app::Heartbeat;
use realtime_server::auth::JwtSecret;
use realtime_server::rate_limit::RateQuota;
use realtime_server::{Server, ServerConfig};
use tokio_tungstenite::tungstenite::Message;

const SUBSCRIBERS: usize = 100;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads frames until one starting with `prefix` (answering pings on the way).
async fn until(ws: &mut Ws, prefix: &str) {
    while let Some(Ok(message)) = ws.next().await {
        let text = message.to_text().unwrap_or_default();
        if text == "2" {
            let _ = ws.send(Message::text("3")).await;
        } else if text.starts_with(prefix) {
            return;
        }
    }
    panic!("connection closed before {prefix}");
}

fn broadcast(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = JwtSecret::generate();
    let (sockets, mut clients) = runtime.block_on(async {
        let server = Server::bind(ServerConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            secret: secret.clone(),
            frontend_url: "http://localhost:3000".into(),
            database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
            store: realtime_server::store::StoreSettings::default(),
            rate_quota: RateQuota::default(),
            heartbeat: Heartbeat::default(),
            connect_timeout: realtime_server::app::DEFAULT_CONNECT_TIMEOUT,
            redis_url: None,
            redis_adapter: Default::default(),
            trusted_proxies: Default::default(),
            metrics_token: None,
        })
        .await
        .expect("server");
        server
            .store()
            .run_script(include_str!("../../scenarios/fixtures.sql"))
            .await
            .expect("fixtures");
        let addr = server.local_addr().expect("addr");
        let sockets = server.sockets();
        tokio::spawn(server.run(std::future::pending()));
        let token = secret.mint("user-1", Duration::from_secs(3600));
        let mut clients = Vec::new();
        for _ in 0..SUBSCRIBERS {
            let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
            let (mut ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            until(&mut ws, "0{").await;
            ws.send(Message::text(format!("40{{\"token\":\"{token}\"}}")))
                .await
                .expect("send");
            until(&mut ws, "40").await;
            ws.send(Message::text("42[\"subscribe:status\"]"))
                .await
                .expect("send");
            until(&mut ws, "42[\"status:current\"").await;
            clients.push(ws);
        }
        (sockets, clients)
    });
    c.bench_function("broadcast service:status to 100 subscribers", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let started = std::time::Instant::now();
                for _ in 0..iterations {
                    sockets
                        .broadcast_status_update("plex", "up")
                        .await
                        .expect("broadcast");
                    futures_util::future::join_all(
                        clients
                            .iter_mut()
                            .map(|ws| until(ws, "42[\"service:status\"")),
                    )
                    .await;
                }
                started.elapsed()
            })
        })
    });
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
