//! `sio-harness exhaust` against the Rust server, small: every kind of useless connection is
//! closed by the server within the phase (silent TCP and slowloris by the request-head deadline,
//! WebSocket and polling sessions that never connect by the connect timeout), idle
//! authenticated sockets are kept, and the control client is never refused.

use std::process::Command;

// With the servers' default heartbeat (target `rust-default-heartbeat`): under the scenarios'
// 1 s ping timeout, a busy machine that delayed a pong past 1 s had idle users and the control
// client dropped, which the harness client did not report for a namespace still connecting, so
// it read as a connect left unanswered (issue 26, docs/reliability.md).
#[test]
fn the_server_drops_what_never_becomes_a_user_and_keeps_idle_users() {
    let output = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .args([
            "exhaust",
            "--profile",
            "../benches/dashboard.profile.yaml",
            "--target",
            "rust-default-heartbeat",
            "--targets-file",
            "../scenarios/targets.yaml",
            "--tcp",
            "40",
            "--websocket",
            "40",
            "--polling",
            "40",
            "--slowloris",
            "10",
            "--clients",
            "30",
            // Past the 10 s request-head deadline and the 10 s connect timeout.
            "--hold-s",
            "12",
            "--quiet-s",
            "2",
            "--json",
        ])
        .output()
        .expect("sio-harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("a JSON report");
    assert_eq!(report["server_alive"], true);
    assert_eq!(report["control_failures"], 0, "{report}");
    let phases = report["phases"].as_array().expect("phases");
    let attacks: Vec<&str> = phases.iter().filter_map(|p| p["attack"].as_str()).collect();
    assert_eq!(
        attacks,
        ["tcp", "websocket", "polling", "slowloris", "idle"]
    );
    for phase in phases {
        let asked = &phase["requested"];
        assert_eq!(&phase["opened"], asked, "{phase}");
        if phase["attack"] == "idle" {
            assert_eq!(phase["closed_by_server"], 0, "idle users are kept: {phase}");
            assert_eq!(&phase["still_open"], asked, "{phase}");
        } else {
            assert_eq!(&phase["closed_by_server"], asked, "{phase}");
            assert_eq!(phase["still_open"], 0, "{phase}");
        }
        assert!(
            phase["control_answers"].as_u64().is_some_and(|n| n > 0),
            "the control client was timed during every phase: {phase}"
        );
    }
}
