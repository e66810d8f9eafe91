//! A load run that cannot fit in the open-files limit is refused at once, with what it needs and
//! how to get it, instead of failing connection after connection; clients past one process's
//! share are spread over worker processes.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_storm_past_the_descriptor_limit_is_refused_within_seconds() {
    let started = Instant::now();
    // A subshell with a low hard limit. The server the harness would launch inherits it and
    // must hold every connection; the check comes before anything starts.
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 512 && exec {} storm --profile ../benches/dashboard.profile.yaml --target rust --targets-file ../scenarios/targets.yaml --clients 1500",
            env!("CARGO_BIN_EXE_sio-harness")
        ))
        .output()
        .expect("bash runs");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1500 connections need about 1756 open files")
            && stderr.contains("may open 512"),
        "{stderr}"
    );
}

#[test]
fn a_storm_spread_over_worker_processes_brings_every_client_back() {
    // Two workers of 150 clients each, under a limit of 600 descriptors per process.
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 600 && exec {} storm --profile ../benches/dashboard.profile.yaml --target rust \
             --targets-file ../scenarios/targets.yaml --clients 300 --rounds 1 --workers 2 --deadline-s 60 --json",
            env!("CARGO_BIN_EXE_sio-harness")
        ))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["workers"], 2);
    assert_eq!(report["clients"], 300);
    assert_eq!(report["rounds"][0]["not_back"], 0, "{report}");
    let stats = &report["rounds"][0]["latency_ms"];
    assert!(
        stats["p50"].as_f64().is_some_and(|p50| p50 > 0.0),
        "{report}"
    );
}
