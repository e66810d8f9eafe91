//! Differential fuzzing end to end against the Rust server launched from
//! `scenarios/targets.yaml`: against itself every sequence agrees and the model predicts every
//! answer; against a launch allowing one event per window (a server that behaves differently)
//! the difference is found, confirmed on fresh launches, shrunk, and written as a scenario that
//! parses back. Needs `realtime-server` built beside this test (`cargo build -p
//! realtime-server`, which the test command does); without it the test skips, unless `CI` or
//! `SIO_REQUIRE_SERVER` is set.

use std::path::{Path, PathBuf};

use sio_harness::fuzz::differential::known::KnownDifferences;
use sio_harness::fuzz::differential::{self, DifferentialOptions};
use sio_harness::runner::RunSettings;
use sio_harness::target::{Target, bin_dir};

fn server_built() -> bool {
    if bin_dir().join("realtime-server").exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none() && std::env::var_os("SIO_REQUIRE_SERVER").is_none(),
        "realtime-server is not built in {}",
        bin_dir().display()
    );
    eprintln!("skipping: build realtime-server first (cargo build -p realtime-server)");
    false
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options(sequences: u64, save_dir: &Path) -> DifferentialOptions {
    DifferentialOptions {
        seed: 16,
        sequences,
        per_launch: 20,
        save_dir: save_dir.to_path_buf(),
        known: KnownDifferences::default(),
        settings: RunSettings::default(),
        shrink_tries: 60,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_server_agrees_with_itself_and_with_the_model() {
    if !server_built() {
        return;
    }
    let rust = Target::resolve("rust", &repo().join("scenarios/targets.yaml"), None)
        .expect("the rust target");
    let save_dir = tempfile::tempdir().expect("temp dir");
    let report = differential::run([&rust, &rust], &options(40, save_dir.path()))
        .await
        .expect("the run is carried out");
    let table = differential::table(&report);
    assert!(report.passed(), "{table}");
    assert!(report.both_failed.is_empty(), "{table}");
    assert!(
        report.unconfirmed.is_empty() && report.known.is_empty(),
        "{table}"
    );
    assert_eq!(report.launches, 2, "{table}");
    assert!(
        report.actions > 200 && report.steps > report.actions,
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_difference_is_shrunk_and_written_as_a_scenario() {
    if !server_built() {
        return;
    }
    // The same server allowing one event of a kind per window: the second one is refused.
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = dir.path().join("targets.yaml");
    let spec = format!(
        "targets:\n  strict:\n    cwd: {}\n    command: [\"{{bin_dir}}/realtime-server\", serve]\n    setup:\n      - [\"{{bin_dir}}/realtime-server\", db, seed, scenarios/fixtures.sql]\n    seed: [\"{{bin_dir}}/realtime-server\", db, seed, \"{{sql}}\"]\n    env:\n      PORT: \"{{port}}\"\n      HOST: 127.0.0.1\n      JWT_SECRET: \"{{secret}}\"\n      DATABASE_URL: \"sqlite://{{workdir}}/realtime.db\"\n      RATE_LIMIT_EVENTS: \"1\"\n      RATE_LIMIT_WINDOW_MS: \"60000\"\n      PING_INTERVAL_MS: \"1000\"\n      PING_TIMEOUT_MS: \"1000\"\n",
        repo().display()
    );
    std::fs::write(&targets, spec).expect("targets file");
    let rust = Target::resolve("rust", &repo().join("scenarios/targets.yaml"), None)
        .expect("the rust target");
    let strict = Target::resolve("strict", &targets, None).expect("the strict target");
    let save_dir = dir.path().join("found");
    let report = differential::run([&rust, &strict], &options(3, &save_dir))
        .await
        .expect("the run is carried out");
    let table = differential::table(&report);
    assert!(!report.passed(), "{table}");
    for difference in &report.differences {
        assert!(difference.shrunk_to < difference.actions, "{table}");
        // The core: a client, and two events of one kind from its user.
        assert!(difference.shrunk_to <= 3, "{table}");
        let parsed =
            sio_harness::scenario::load_file(&difference.file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.scenarios.len(), 1);
        assert!(
            parsed
                .source
                .contains("# Reproduce: sio-harness diff --target rust --target strict"),
            "{}",
            parsed.source
        );
    }
}
