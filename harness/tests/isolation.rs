//! A server the harness does not launch, as someone else's app would be: its `reset` and `after`
//! hooks run around every scenario, `{{run.id}}` is new on every run and written as a template in
//! transcripts, tokens come from its login endpoint (and stay out of transcripts and errors), and
//! `server` steps fail naming the scenario and the step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::routing::{get, post};
use serde_json::{Value, json};
use sio_harness::hooks::{Hook, Hooks};
use sio_harness::scenario::parse_str;
use sio_harness::suite::{self, Outcome, SuiteOptions};
use sio_harness::target::Target;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler as _;
use tokio::net::TcpListener;

const TOKEN_PREFIX: &str = "login-token-";

/// An app with `POST /login` (a token for `{username}`; 401 for `mallory`), `POST /test/reset`
/// (counted) and a socket.io endpoint that wants a token from `/login` and echoes with an ack.
async fn app() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let resets = Arc::new(AtomicUsize::new(0));
    let (layer, io) = SocketIo::builder().build_layer();
    let check = async |TryData(auth): TryData<Value>| {
        let token = auth
            .ok()
            .and_then(|a| a["token"].as_str().map(str::to_owned));
        match token {
            Some(token) if token.starts_with(TOKEN_PREFIX) => Ok(()),
            _ => Err("bad token"),
        }
    };
    io.ns(
        "/",
        (async |socket: SocketRef| {
            socket.on("echo", async |Data(value): Data<Value>, ack: AckSender| {
                let _ = ack.send(&value);
            });
        })
        .with(check),
    );
    let counter = resets.clone();
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/login",
            post(|Json(body): Json<Value>| async move {
                let user = body["username"].as_str().unwrap_or_default().to_owned();
                if user == "mallory" {
                    return Err((
                        axum::http::StatusCode::UNAUTHORIZED,
                        Json(json!({ "error": "no", "token": format!("{TOKEN_PREFIX}leak") })),
                    ));
                }
                Ok(Json(json!({ "token": format!("{TOKEN_PREFIX}{user}") })))
            }),
        )
        .route(
            "/test/reset",
            post(move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
        .layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, resets, task)
}

const ISOLATED: &str = r#"
tokens:
  alice:
    http:
      path: /login
      body: { username: "alice-{{run.id}}" }
      capture: body.token
scenarios:
  - name: a room of its own
    steps:
      - connect: { client: alice, auth: { token: "{{alice}}" } }
      - emit:
          client: alice
          event: echo
          args: [{ room: "room-{{run.id}}" }]
          ack: { args: [{ room: "room-{{run.id}}" }] }
  - name: another
    steps:
      - connect: { client: bob, auth: { token: "{{alice}}" } }
"#;

fn url_target(url: &str, hooks: Hooks) -> Target {
    Target::Url {
        url: url.to_owned(),
        secret: None,
        hooks: Box::new(hooks),
    }
}

#[tokio::test]
async fn run_ids_differ_per_run_but_transcripts_do_not() {
    let (url, _, task) = app().await;
    let file = parse_str("isolated.yaml", ISOLATED).expect("parses");
    let options = SuiteOptions {
        filter: Some("a room of its own".into()),
        repeat: 3,
        ..SuiteOptions::default()
    };
    let results = suite::run(
        std::slice::from_ref(&file),
        &url_target(&url, Hooks::default()),
        &options,
    )
    .await;
    assert!(
        matches!(results[0].outcome, Outcome::Passed),
        "{:?}",
        results[0].outcome
    );
    let transcript = &results[0].transcript;
    assert!(
        transcript.contains(r#"emit / echo [{"room":"room-{{run.id}}"}]"#),
        "{transcript}"
    );
    // The login token went into `auth`, which transcripts do not show, and nowhere else.
    assert!(!transcript.contains(TOKEN_PREFIX), "{transcript}");
    task.abort();
}

#[tokio::test]
async fn hooks_run_around_every_scenario() {
    let (url, resets, task) = app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = parse_str("isolated.yaml", ISOLATED).expect("parses");
    let hooks = Hooks {
        reset: Hook::parse_http("POST /test/reset").ok(),
        after: Some(Hook::Command(vec![
            "sh".into(),
            "-c".into(),
            "echo \"$SIO_TARGET_URL\" >> after.log".into(),
        ])),
        dir: dir.path().to_path_buf(),
        redact: Vec::new(),
    };
    let results = suite::run(
        std::slice::from_ref(&file),
        &url_target(&url, hooks),
        &SuiteOptions::default(),
    )
    .await;
    assert!(results.iter().all(|r| r.outcome.passed()), "{results:?}");
    assert_eq!(resets.load(Ordering::SeqCst), 2);
    let log = std::fs::read_to_string(dir.path().join("after.log")).expect("after hook ran");
    assert_eq!(log, format!("{url}\n{url}\n"));

    // A reset that fails is a target failure naming the hook; the scenario does not run.
    let failing = Hooks {
        reset: Hook::parse_http("POST /no/such/reset").ok(),
        ..Hooks::default()
    };
    let results = suite::run(
        std::slice::from_ref(&file),
        &url_target(&url, failing),
        &SuiteOptions::default(),
    )
    .await;
    let Outcome::TargetFailed(error) = &results[0].outcome else {
        panic!("{:?}", results[0].outcome);
    };
    assert!(
        error.starts_with("reset hook: POST") && error.contains("404"),
        "{error}"
    );
    task.abort();
}

#[tokio::test]
async fn targets_files_name_url_targets_with_hooks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("targets.yaml");
    // SAFETY: no other thread of this test binary reads or writes this variable.
    unsafe { std::env::set_var("SIO_ISOLATION_TEST_PORT", "4567") };
    std::fs::write(
        &file,
        "targets:\n  shared:\n    url: \"http://127.0.0.1:{env:SIO_ISOLATION_TEST_PORT}/\"\n    reset: { http: { path: /test/reset, status: 204 } }\n  both:\n    url: http://x\n    command: [x]\n",
    )
    .expect("write");
    let Target::Url { url, hooks, .. } = Target::resolve("shared", &file, None).expect("resolves")
    else {
        panic!("not a URL target");
    };
    assert_eq!(url, "http://127.0.0.1:4567");
    assert!(
        matches!(hooks.reset, Some(Hook::Http(ref r)) if r.method == "POST" && r.status == Some(204))
    );
    assert_eq!(hooks.dir, dir.path());
    let error = Target::resolve("both", &file, None).expect_err("url and command");
    assert!(error.to_string().contains("does not go with"), "{error}");
}

#[tokio::test]
async fn a_refused_login_says_so_without_the_answer() {
    let (url, _, task) = app().await;
    let source = r#"
name: mallory logs in
tokens:
  mallory: { http: { path: /login, body: { username: mallory }, capture: body.token } }
steps:
  - connect: { client: mallory, auth: { token: "{{mallory}}" } }
"#;
    let file = parse_str("login.yaml", source).expect("parses");
    let results = suite::run(
        std::slice::from_ref(&file),
        &url_target(&url, Hooks::default()),
        &SuiteOptions::default(),
    )
    .await;
    let Outcome::Failed(failure) = &results[0].outcome else {
        panic!("{:?}", results[0].outcome);
    };
    assert!(
        failure
            .message
            .contains("token \"mallory\": POST /login answered 401"),
        "{}",
        failure.message
    );
    assert!(!failure.to_string().contains(TOKEN_PREFIX), "{failure}");
    task.abort();
}

#[tokio::test]
async fn server_steps_against_a_url_name_the_scenario_and_step() {
    let (url, _, task) = app().await;
    let source = "name: restart a server I do not own\nsteps:\n  - connect: { client: a, auth: { token: login-token-a } }\n  - server: restart\n";
    let file = parse_str("server.yaml", source).expect("parses");
    let results = suite::run(
        std::slice::from_ref(&file),
        &url_target(&url, Hooks::default()),
        &SuiteOptions::default(),
    )
    .await;
    let Outcome::Failed(failure) = &results[0].outcome else {
        panic!("{:?}", results[0].outcome);
    };
    let text = failure.to_string();
    assert!(
        text.contains("step 2 (server) at line 4:5 failed"),
        "{text}"
    );
    assert!(
        text.contains("scenario \"restart a server I do not own\"")
            && text.contains("need a target the harness launches"),
        "{text}"
    );
    task.abort();
}

#[test]
fn a_token_fetched_over_http_takes_no_minting_keys() {
    let source = "name: x\ntokens:\n  alice:\n    user: user-1\n    http: { path: /login, capture: body.token }\nsteps:\n  - sleep: 1ms\n";
    let error = parse_str("mixed.yaml", source).expect_err("refused");
    assert_eq!((error.line, error.column), (3, 3));
    assert!(error.message.contains("takes no other key"), "{error}");
}
