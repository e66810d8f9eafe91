//! The runner end to end against in-process socketioxide servers: a passing scenario, a wrong
//! expectation that fails with a useful message, a failure that names the step that took the
//! awaited observation, the snapshot workflow, `diff` finding a planted difference between two
//! servers, and `--repeat` finding a planted scheduling-dependent transcript.

use serde_json::Value;
use sio_harness::runner::StepFailure;
use sio_harness::scenario::parse_str;
use sio_harness::snapshot::{self, UpdateMode};
use sio_harness::suite::{self, Outcome, SuiteOptions};
use sio_harness::target::Target;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::handler::ConnectHandler as _;
use tokio::net::TcpListener;

/// A server that greets with `greeting` and acks `echo`.
async fn server(greeting: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let (layer, io) = SocketIo::builder().build_layer();
    io.ns("/", async move |socket: SocketRef| {
        let _ = socket.emit(
            "hello",
            &serde_json::json!({ "greeting": greeting, "id": socket.id.to_string() }),
        );
        socket.on("echo", async |Data(value): Data<Value>, ack: AckSender| {
            let _ = ack.send(&value);
        });
    });
    serve(layer).await
}

/// A server that answers `ping` with `a` and `b` in a random order: a transcript that depends
/// on it is flaky by construction.
async fn coin_flip_server() -> (String, tokio::task::JoinHandle<()>) {
    let (layer, io) = SocketIo::builder().build_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("ping", async |socket: SocketRef| {
            let order = if rand::random::<bool>() {
                ["a", "b"]
            } else {
                ["b", "a"]
            };
            for event in order {
                let _ = socket.emit(event, &());
            }
        });
    });
    serve(layer).await
}

/// A server that refuses every connection with `go away`.
async fn refusing_server() -> (String, tokio::task::JoinHandle<()>) {
    let (layer, io) = SocketIo::builder().build_layer();
    let refuse = async |_: SocketRef| Err::<(), _>("go away");
    io.ns("/", (async |_: SocketRef| {}).with(refuse));
    serve(layer).await
}

async fn serve(layer: socketioxide::layer::SocketIoLayer) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().layer(layer);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

const COIN_FLIP: &str = r#"
name: answers in any order
steps:
  - connect: { client: alice }
  - emit: { client: alice, event: ping }
  - expect: { client: alice, events: [{ event: a }, { event: b }], order: any }
"#;

const TAKEN_TWICE: &str = r#"
name: a refusal awaited three times
steps:
  - connect: { client: alice, expect: connect_error }
  - expect: { client: alice, connect_error: { message: go away }, timeout: 300ms }
  - expect: { client: alice, connect_error: { message: go away }, timeout: 300ms }
"#;

const SCENARIO: &str = r#"
name: greet and echo
steps:
  - connect: { client: alice, transport: polling }
  - expect:
      client: alice
      event: hello
      args: [{ greeting: hi }]
      partial: true
      capture: { sid: 0.id }
  - emit: { client: alice, event: echo, args: ["{{sid}}"], ack: { args: ["{{sid}}"] } }
  - expect_none: { client: alice, for: 100ms }
"#;

const WRONG: &str = r#"
name: wrong expectation
steps:
  - connect: { client: alice }
  - expect:
      client: alice
      event: hello
      args: [{ greeting: bonjour }]
      partial: true
      timeout: 500ms
"#;

const GREET_ONLY: &str = r#"
name: greet
steps:
  - connect: { client: alice }
  - expect: { client: alice, event: hello }
"#;

fn options(snapshots: Option<(std::path::PathBuf, UpdateMode)>) -> SuiteOptions {
    SuiteOptions {
        snapshots,
        ..SuiteOptions::default()
    }
}

fn target(url: &str) -> Target {
    Target::Url {
        url: url.to_owned(),
        secret: None,
        hooks: Default::default(),
    }
}

#[tokio::test]
async fn a_passing_scenario_records_a_redacted_transcript() {
    let (url, task) = server("hi").await;
    let file = parse_str("greet.yaml", SCENARIO).expect("parses");
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options(None)).await;
    assert!(
        matches!(results[0].outcome, Outcome::Passed),
        "{:?}",
        results[0].outcome
    );
    let transcript = &results[0].transcript;
    assert!(
        transcript.starts_with("client alice\n  open polling sid=<session:1>"),
        "{transcript}"
    );
    assert!(
        transcript.contains("event / hello [{\"greeting\":\"hi\",\"id\":\"<sid:1>\"}]"),
        "{transcript}"
    );
    assert!(transcript.contains("ack / 0 ["), "{transcript}");
    assert!(
        transcript.ends_with("disconnect / io client disconnect\n"),
        "{transcript}"
    );
    task.abort();
}

#[tokio::test]
async fn a_wrong_expectation_says_what_came_instead_and_where() {
    let (url, task) = server("hi").await;
    let file = parse_str("wrong.yaml", WRONG).expect("parses");
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options(None)).await;
    let Outcome::Failed(failure) = &results[0].outcome else {
        panic!("expected a failure, got {:?}", results[0].outcome);
    };
    assert_eq!(
        (failure.index, failure.keyword, failure.line),
        (1, "expect", 5)
    );
    assert_eq!(failure.source_line, "  - expect:");
    assert!(
        failure.message.contains("bonjour") && failure.message.contains("\"hi\""),
        "{}",
        failure.message
    );
    let text = failure.to_string();
    assert!(
        text.contains("step 2 (expect) at line 5:5 failed"),
        "{text}"
    );
    task.abort();
}

#[tokio::test]
async fn snapshots_are_written_for_review_then_matched() {
    let (url, task) = server("hi").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = parse_str("greet.yaml", SCENARIO).expect("parses");
    let run = async |mode| {
        let results = suite::run(
            std::slice::from_ref(&file),
            &target(&url),
            &options(Some((dir.path().to_path_buf(), mode))),
        )
        .await;
        results.into_iter().next().expect("one result").outcome
    };
    assert!(matches!(
        run(UpdateMode::New).await,
        Outcome::SnapshotMissing { pending: Some(_) }
    ));
    assert!(matches!(
        run(UpdateMode::Always).await,
        Outcome::SnapshotWritten
    ));
    assert!(matches!(run(UpdateMode::No).await, Outcome::Passed));
    let snap =
        std::fs::read_to_string(dir.path().join("greet__greet-and-echo.snap")).expect("snapshot");
    assert!(snap.starts_with(
        "---\nsource: greet.yaml\nexpression: \"greet and echo\"\n---\nclient alice\n"
    ));
    task.abort();
}

#[tokio::test]
async fn diff_finds_a_planted_difference() {
    let (left_url, left) = server("hi").await;
    let (right_url, right) = server("hi there").await;
    let file = parse_str("greet.yaml", GREET_ONLY).expect("parses");
    let a = suite::run(
        std::slice::from_ref(&file),
        &target(&left_url),
        &options(None),
    )
    .await;
    let b = suite::run(
        std::slice::from_ref(&file),
        &target(&right_url),
        &options(None),
    )
    .await;
    assert!(a[0].outcome.passed() && b[0].outcome.passed());
    let same = suite::run(
        std::slice::from_ref(&file),
        &target(&left_url),
        &options(None),
    )
    .await;
    assert_eq!(
        a[0].transcript, same[0].transcript,
        "two runs against one server give the same text"
    );
    let diff = snapshot::diff(&a[0].transcript, &b[0].transcript, "left", "right");
    assert!(
        diff.contains("-  event / hello") && diff.contains("+  event / hello"),
        "{diff}"
    );
    assert!(diff.contains("\"hi there\""), "{diff}");
    left.abort();
    right.abort();
}

#[tokio::test]
async fn a_failure_names_the_step_that_took_the_awaited_observation() {
    let (url, task) = refusing_server().await;
    let file = parse_str("taken.yaml", TAKEN_TWICE).expect("parses");
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options(None)).await;
    let Outcome::Failed(failure) = &results[0].outcome else {
        panic!("expected a failure, got {:?}", results[0].outcome);
    };
    // The first `expect` checks the refusal the connect step waited for; the second waits for
    // another one.
    assert_eq!((failure.index, failure.line), (2, 6));
    assert!(
        failure
            .message
            .contains("one arrived, but step 1 (connect) at taken.yaml:4:5 already took it: connect_error / {\"message\":\"go away\"}"),
        "{}",
        failure.message
    );
    let text = failure.to_string();
    assert!(
        text.contains("alice received nothing since the last observation a step took"),
        "{text}"
    );
    task.abort();
}

#[tokio::test]
async fn repeat_reports_a_scheduling_dependent_transcript_as_flaky() {
    let (url, task) = coin_flip_server().await;
    let file = parse_str("coin.yaml", COIN_FLIP).expect("parses");
    let options = SuiteOptions {
        repeat: 24,
        jobs: 4,
        ..SuiteOptions::default()
    };
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options).await;
    assert_eq!(results.len(), 1, "one result per scenario, not per run");
    let Outcome::Flaky {
        runs,
        differing,
        failed,
        detail,
    } = &results[0].outcome
    else {
        panic!("expected flaky, got {:?}", results[0].outcome);
    };
    // Each order has probability 1/2 per run: all 24 alike is a 1 in 8 million chance.
    assert_eq!((*runs, *failed), (24, 0));
    assert!((1..=12).contains(differing), "{differing}");
    assert!(detail.starts_with("first differing line 5:"), "{detail}");
    let report = sio_harness::report::terminal(&results);
    assert!(
        report.contains(&format!("flaky: {differing} of 24 runs differ")),
        "{report}"
    );
    task.abort();
}

#[tokio::test]
async fn repeat_passes_a_stable_scenario_and_writes_nothing() {
    let (url, task) = server("hi").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = parse_str("greet.yaml", SCENARIO).expect("parses");
    let options = SuiteOptions {
        repeat: 5,
        jobs: 2,
        snapshots: Some((dir.path().to_path_buf(), UpdateMode::Always)),
        ..SuiteOptions::default()
    };
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options).await;
    assert!(
        matches!(results[0].outcome, Outcome::Passed),
        "{:?}",
        results[0].outcome
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    task.abort();
}

#[tokio::test]
async fn cluster_steps_on_a_single_server_fail_before_the_first_step_where_they_are() {
    let (url, task) = server("hi").await;
    let cases = [
        (
            "  - connect: { client: alice, node: b }\n",
            "node \"b\": target",
            "is a single server, not a cluster",
        ),
        ("  - redis: freeze\n", "has no redis", "cluster.redis"),
        (
            "  - database: stop\n",
            "has no database of its own",
            "cluster.postgres",
        ),
        (
            "  - http: { via: haproxy, path: / }\n",
            "has no HAProxy",
            "cluster.haproxy",
        ),
        (
            "  - connect: { client: alice, via: haproxy }\n",
            "has no HAProxy",
            "cluster.haproxy",
        ),
    ];
    for (step, first, second) in cases {
        let source = format!(
            "name: cluster\nsteps:\n  - connect: {{ client: bob }}\n  - emit: {{ client: bob, event: hi }}\n{step}"
        );
        let file = parse_str("cluster.yaml", &source).expect("parses");
        let results = suite::run(std::slice::from_ref(&file), &target(&url), &options(None)).await;
        let Outcome::Failed(failure) = &results[0].outcome else {
            panic!("expected a failure, got {:?}", results[0].outcome);
        };
        assert_eq!((failure.index, failure.line, failure.column), (2, 5, 5));
        assert!(
            failure.message.contains(first) && failure.message.contains(second),
            "{}",
            failure.message
        );
        // Nothing ran: bob never connected.
        assert_eq!(results[0].transcript, "", "{}", results[0].transcript);
    }
    task.abort();
}

/// A server that broadcasts `tick` with the body of each `POST /tick` to every socket; it drops
/// the broadcast of tick `drop` (answering 200 all the same), and answers tick `fail` with 500.
async fn ticking_server(drop: u64, fail: u64) -> (String, tokio::task::JoinHandle<()>) {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    let (layer, io) = SocketIo::builder().build_layer();
    io.ns("/", async |_: SocketRef| {});
    let post = async move |State(io): State<SocketIo>, Json(body): Json<Value>| {
        let tick = body["n"].as_u64().unwrap_or_default();
        if tick == fail {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        if tick != drop {
            let _ = io.emit("tick", &body).await;
        }
        StatusCode::OK
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/tick", axum::routing::post(post))
        .with_state(io)
        .layer(layer);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// Ticks every 20 ms to alice, connected before, and bob, who joins while they run.
const TICKS: &str = r#"
name: ticks
steps:
  - connect: { client: alice }
  - broadcaster: { name: ticks, every: 20ms, http: { method: POST, path: /tick, body: { n: "{{tick}}" } } }
  - sleep: 300ms
  - connect: { client: bob }
  - sleep: 300ms
  - deliveries: { broadcaster: ticks, clients: [alice, bob], event: tick, args: [{ n: "{{tick}}" }], settle: 200ms }
"#;

#[tokio::test]
async fn deliveries_count_every_tick_sent_while_each_client_listened() {
    let (url, task) = ticking_server(0, 0).await;
    let file = parse_str("ticks.yaml", TICKS).expect("parses");
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options(None)).await;
    assert!(
        matches!(results[0].outcome, Outcome::Passed),
        "{:?}",
        results[0].outcome
    );
    // The ticks are counted, not listed: how many ran depends on timing.
    let transcript = &results[0].transcript;
    assert!(!transcript.contains("event / tick"), "{transcript}");
    assert!(
        transcript.ends_with(
            "deliveries\n  ticks to alice, bob: tick arrived, each tick sent while the client listened, once\n"
        ),
        "{transcript}"
    );
    task.abort();
}

/// Runs the ticks scenario against a ticking server that drops tick `drop` and fails request
/// `fail` (0: none), which must fail it.
async fn ticks_failure(drop: u64, fail: u64) -> (StepFailure, tokio::task::JoinHandle<()>) {
    let (url, task) = ticking_server(drop, fail).await;
    let file = parse_str("ticks.yaml", TICKS).expect("parses");
    let results = suite::run(std::slice::from_ref(&file), &target(&url), &options(None)).await;
    match &results[0].outcome {
        Outcome::Failed(failure) => (failure.clone(), task),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tick_lost_by_the_server_fails_deliveries_naming_it() {
    let (failure, task) = ticks_failure(3, 0).await;
    assert_eq!((failure.keyword, failure.line), ("deliveries", 9));
    // Alice listened from the start and misses it; bob connected after tick 3, so owed it not.
    assert!(
        failure.message.contains("alice: missed ticks 3 of the"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("bob:"), "{}", failure.message);
    task.abort();
}

#[tokio::test]
async fn a_broadcast_request_that_fails_fails_deliveries() {
    let (failure, task) = ticks_failure(0, 4).await;
    assert!(
        failure
            .message
            .contains("broadcaster ticks failed after 3 answered ticks: tick 4: POST"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("answered 500"),
        "{}",
        failure.message
    );
    task.abort();
}
