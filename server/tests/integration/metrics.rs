//! `GET /metrics`: the text exposition format, counters that move with what clients do, and the
//! bearer token that guards it when set.

use std::collections::HashMap;
use std::time::Duration;

use realtime_server::metrics::MetricsToken;
use serde_json::json;
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, WAIT, connected, counted_actions, emit, event, quota};

const TOKEN: &str = "metrics-token-for-tests-0123";

/// One scrape: each sample's value under its series, `name{label="value",...}` as written.
type Samples = HashMap<String, f64>;

/// Parses the text format strictly: every line a comment (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`)
/// or `series value`; every sample's family declared by a `# TYPE` line before it.
fn parse(text: &str) -> Samples {
    let mut declared: Vec<String> = Vec::new();
    let mut samples = Samples::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "info",
                            "unknown"
                        ]
                        .contains(&kind),
                        "unknown type in {line:?}"
                    );
                    declared.push(name.to_owned());
                }
                (Some("HELP" | "UNIT"), Some(_), _) | (Some("EOF"), None, None) => {}
                _ => panic!("bad comment line {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap_or(series);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line:?}"
            );
        }
        assert!(
            declared.iter().any(
                |family| name == family || name.strip_prefix(family.as_str()) == Some("_total")
            ),
            "{name} has no # TYPE line before it"
        );
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

async fn scrape(server: &TestServer, token: Option<&str>) -> reqwest::Response {
    let request = server.http().get(format!("{}/metrics", server.url()));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("/metrics answers")
}

async fn samples(server: &TestServer) -> Samples {
    let response = scrape(server, Some(TOKEN)).await;
    assert_eq!(response.status(), 200);
    parse(&response.text().await.expect("a body"))
}

fn value(samples: &Samples, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:?}"))
}

#[tokio::test]
async fn a_scrape_needs_the_token_when_one_is_set() {
    let server = TestServer::start_with(|config| {
        config.metrics_token = MetricsToken::new(TOKEN);
    })
    .await;
    assert_eq!(scrape(&server, None).await.status(), 401);
    assert_eq!(scrape(&server, Some("metrics-token")).await.status(), 401);
    let wrong_scheme = server
        .http()
        .get(format!("{}/metrics", server.url()))
        .basic_auth("prometheus", Some(TOKEN))
        .send()
        .await
        .expect("answers");
    assert_eq!(wrong_scheme.status(), 401);
    let refused = scrape(&server, Some("not-it"))
        .await
        .text()
        .await
        .expect("body");
    assert!(!refused.contains("realtime_"), "{refused}");
    let admitted = scrape(&server, Some(TOKEN)).await;
    assert_eq!(admitted.status(), 200);
    assert!(
        admitted.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text"),
    );
}

#[tokio::test]
async fn counters_move_with_handshakes_events_rate_limits_and_emits() {
    let server = TestServer::start_with(|config| {
        config.metrics_token = MetricsToken::new(TOKEN);
        config.rate_quota = quota(2, Duration::from_secs(60));
    })
    .await;
    let before = samples(&server).await;
    for series in [
        "realtime_handshakes_accepted_total",
        "realtime_handshakes_refused_total{reason=\"invalid_token\"}",
        "realtime_events_received_total{event=\"subscribe:status\"}",
        "realtime_events_rate_limited_total{event=\"subscribe:status\"}",
        "realtime_emits_total{event=\"status:current\"}",
        "realtime_connected_sockets{transport=\"websocket\"}",
    ] {
        assert_eq!(value(&before, series), 0.0, "{series} at start");
    }
    assert_eq!(value(&before, "realtime_database_up"), 1.0);
    assert!(value(&before, "process_resident_memory_bytes") > 1e6);
    assert!(value(&before, "process_open_fds") >= 3.0);
    assert!(
        !before.keys().any(|k| k.starts_with("realtime_redis_")),
        "no Redis, no Redis metrics"
    );

    // Accepted over websocket, refused with a forged token, subscribes rate-limited; accepted
    // over polling; an unknown event and one answered with an error.
    let mut client = counted_actions(&server.url(), &server.token("user-1")).await;
    let mut polling = server.client("user-2", TransportKind::Polling);
    connected(&mut polling).await;
    emit(&client, "no-such-event", vec![]);
    emit(&client, "notification:read", vec![json!("no-such-id")]);
    event(&mut client, "notification:read:error").await;

    let after = samples(&server).await;
    for (series, expected) in [
        ("realtime_handshakes_accepted_total", 2.0),
        (
            "realtime_handshakes_refused_total{reason=\"invalid_token\"}",
            1.0,
        ),
        (
            "realtime_handshakes_refused_total{reason=\"missing_token\"}",
            0.0,
        ),
        (
            "realtime_events_received_total{event=\"subscribe:status\"}",
            3.0,
        ),
        (
            "realtime_events_received_total{event=\"notification:read\"}",
            1.0,
        ),
        ("realtime_events_received_total{event=\"other\"}", 1.0),
        (
            "realtime_events_rate_limited_total{event=\"subscribe:status\"}",
            1.0,
        ),
        ("realtime_emits_total{event=\"status:current\"}", 2.0),
        ("realtime_emits_total{event=\"error\"}", 1.0),
        (
            "realtime_emits_total{event=\"notification:read:error\"}",
            1.0,
        ),
        ("realtime_connected_sockets{transport=\"websocket\"}", 1.0),
        ("realtime_connected_sockets{transport=\"polling\"}", 1.0),
    ] {
        assert_eq!(value(&after, series), expected, "{series}");
    }
    assert!(
        value(&after, "realtime_database_pool_max_connections")
            >= value(&after, "realtime_database_pool_connections{state=\"idle\"}")
    );

    // A socket gone is a socket less.
    drop(client);
    tokio::time::timeout(WAIT, async {
        loop {
            let now = samples(&server).await;
            if value(&now, "realtime_connected_sockets{transport=\"websocket\"}") == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the closed socket leaves the gauge");
}

#[tokio::test]
async fn database_query_errors_are_counted() {
    let server =
        TestServer::start_with(|config| config.metrics_token = MetricsToken::new(TOKEN)).await;
    let before = value(
        &samples(&server).await,
        "realtime_database_query_errors_total",
    );
    assert_eq!(before, 0.0);
    // The database closes under the server: an API call's user lookup fails.
    server.store.close().await;
    let me = server
        .http()
        .get(format!("{}/api/v1/me", server.url()))
        .bearer_auth(server.token("user-1"))
        .send()
        .await
        .expect("answers");
    assert_eq!(me.status(), 503);
    let after = samples(&server).await;
    assert_eq!(value(&after, "realtime_database_up"), 0.0);
    assert!(
        value(&after, "realtime_database_query_errors_total") >= 1.0,
        "{after:?}"
    );
}
