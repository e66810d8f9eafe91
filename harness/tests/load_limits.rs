//! A load run that cannot fit in the open-files limit is refused at once, with what it needs and
//! how to get it, instead of failing connection after connection.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_storm_past_the_descriptor_limit_is_refused_within_seconds() {
    let started = Instant::now();
    // A subshell with a low hard limit; the target is never reached, the check comes first.
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -n 512 && exec {} storm --target http://127.0.0.1:9 --jwt-secret unused --clients 1500",
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
