//! Launching many servers at once (`--jobs`): every launch gets its own port, readiness is
//! answered only by the launch's own process, and a process that exits before it is ready is a
//! launch error with its exit code, its output and its log file. The servers are real processes
//! (a few lines of node) that exit when their port is taken, as any server does.

use std::path::Path;

use sio_harness::target::Target;

/// An HTTP server on 127.0.0.1:PORT answering every request with WHO; it exits with an error
/// when the port is taken (node's `EADDRINUSE`), and by itself after 60 s.
const SERVER: &str = "const [who, port] = process.argv.slice(1); \
    require('http').createServer((q, r) => r.end(who)).listen(+port, '127.0.0.1'); \
    setTimeout(() => process.exit(0), 60000);";

fn targets(dir: &Path, command: &[&str]) -> Target {
    let file = dir.join("targets.yaml");
    let command = serde_json::to_string(command).expect("json");
    std::fs::write(
        &file,
        format!("targets:\n  app:\n    command: {command}\n    ready: /\n"),
    )
    .expect("write targets.yaml");
    Target::resolve("app", &file, None).expect("target resolves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_launches_sixteen_at_a_time_get_distinct_ports_and_each_answers_as_itself() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = targets(dir.path(), &["node", "-e", SERVER, "{secret}", "{port}"]);
    // Every server stays up until the end, so a port handed out twice would show.
    let running: Vec<_> = futures_util::stream::iter((0..50).map(|_| target.start()))
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every launch starts");
    let ports: std::collections::HashSet<u16> = running.iter().map(|r| r.addr.port()).collect();
    assert_eq!(ports.len(), 50, "a port was handed out twice");
    let http = reqwest::Client::new();
    for launch in &running {
        let answer = http
            .get(&launch.base_url)
            .send()
            .await
            .expect("the server answers")
            .text()
            .await
            .expect("a body");
        assert_eq!(
            Some(&answer),
            launch.secret.as_ref(),
            "another launch answered"
        );
        let log = launch.log_path().expect("a launched server has a log");
        assert!(log.exists(), "{}", log.display());
    }
    for launch in running {
        launch.shutdown().await;
    }
}

#[tokio::test]
async fn a_server_that_exits_before_it_is_ready_is_named_with_its_code_output_and_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = targets(
        dir.path(),
        &[
            "sh",
            "-c",
            "echo booting; echo 'Error: listen EADDRINUSE 127.0.0.1' >&2; exit 3",
        ],
    );
    let error = target.start().await.err().expect("the launch fails");
    let message = error.to_string();
    assert!(
        message.contains("exited with exit code 3 before it was ready"),
        "{message}"
    );
    assert!(
        message.contains("booting\nError: listen EADDRINUSE"),
        "{message}"
    );
    let log = message
        .split_once("log ")
        .and_then(|(_, rest)| rest.split_once(", last lines"))
        .map(|(path, _)| path.to_owned())
        .expect("the message names the log");
    let kept = std::fs::read_to_string(&log).expect("the log is kept");
    assert!(kept.contains("EADDRINUSE"), "{kept}");
}

#[tokio::test]
async fn a_port_answered_by_another_process_is_not_taken_for_the_launch() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The launch's own process never listens; a process it leaves behind (no longer its
    // descendant once the subshell has exited) serves the port instead.
    let stray = format!("(node -e \"{SERVER}\" stray {{port}} &); exec sleep 30");
    let target = targets(dir.path(), &["sh", "-c", &stray]);
    let error = target.start().await.err().expect("the launch fails");
    let message = error.to_string();
    let pid: Option<i32> = message
        .split_once("another process (pid [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(pid, _)| pid.parse().ok());
    if let Some(pid) = pid {
        // SAFETY: kill(2) of the stray server this test started, by the pid the error named.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    assert!(pid.is_some(), "{message}");
    assert!(message.contains("not by this launch's"), "{message}");
}
