//! deploy/: the systemd unit is one systemd accepts, warnings included, and runs this binary's
//! `serve`.

use std::path::Path;
use std::process::Command;

use crate::common::BINARY;

const UNIT: &str = include_str!("../../../deploy/realtime-server.service");
const INSTALLED_AT: &str = "/usr/local/bin/realtime-server";

/// `systemd-analyze verify` on `unit` (written as `realtime-server.service` in a temporary
/// directory): its exit status and everything it printed. `None` when systemd-analyze is not
/// installed (a failure under CI, where scripts/test.sh installs it).
fn verify(unit: &str) -> Option<(bool, String)> {
    let installed = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing (Debian package systemd; scripts/test.sh installs it)"
        );
        eprintln!("skipping: systemd-analyze is not installed");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("realtime-server.service");
    std::fs::write(&path, unit).expect("write the unit");
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .expect("systemd-analyze runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success(), printed))
}

/// The unit with its `ExecStart` pointing at the binary under test (verify checks that the
/// program exists and is executable).
fn unit_for_this_build() -> String {
    assert!(Path::new(BINARY).exists());
    assert_eq!(
        UNIT.matches(&format!("ExecStart={INSTALLED_AT} serve\n"))
            .count(),
        1,
        "the unit runs `{INSTALLED_AT} serve`"
    );
    UNIT.replace(INSTALLED_AT, BINARY)
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let Some((ok, printed)) = verify(&unit_for_this_build()) else {
        return;
    };
    assert!(
        ok && printed.trim().is_empty(),
        "systemd-analyze verify:\n{printed}"
    );
}

/// The check can fail: a mistyped setting is reported (only as a warning, so the test above
/// also requires silence).
#[test]
fn a_broken_unit_is_reported() {
    let broken = unit_for_this_build().replace("Type=exec", "Type=exce");
    let Some((_, printed)) = verify(&broken) else {
        return;
    };
    assert!(
        printed.contains("Failed to parse service type"),
        "{printed}"
    );
    let missing = UNIT.replace(INSTALLED_AT, "/nonexistent/realtime-server");
    let Some((ok, printed)) = verify(&missing) else {
        return;
    };
    assert!(!ok && printed.contains("is not executable"), "{printed}");
}
