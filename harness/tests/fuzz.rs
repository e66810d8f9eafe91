//! A short fuzz run (about 2 000 frames, a fixed seed) against the Rust server launched from
//! `scenarios/targets.yaml`: the server stays up, panics nowhere, and the control client gets
//! every answer. Needs `realtime-server` built beside this test (`cargo build -p
//! realtime-server`, which the test command does); without it the test skips, unless `CI` or
//! `SIO_REQUIRE_SERVER` is set.

use std::path::Path;
use std::time::Duration;

use sio_harness::common::virtual_client::VirtualClients;
use sio_harness::fuzz::generate::DEFAULT_MAX_PAYLOAD;
use sio_harness::fuzz::{self, FuzzOptions};
use sio_harness::scenario::profile::load_profile;
use sio_harness::target::{Target, bin_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_seeded_run_against_the_rust_server_passes() {
    if !bin_dir().join("realtime-server").exists() {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("SIO_REQUIRE_SERVER").is_none(),
            "realtime-server is not built in {}",
            bin_dir().display()
        );
        eprintln!("skipping: build realtime-server first (cargo build -p realtime-server)");
        return;
    }
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
    let target = Target::resolve("rust", &targets, None).expect("the rust target");
    let users = 20;
    let profile = load_profile(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/dashboard.profile.yaml"),
    )
    .expect("the dashboard profile");
    let sql = VirtualClients::new(profile.clone(), None)
        .seed_sql(users)
        .expect("renders")
        .expect("the dashboard profile seeds its users");
    let mut running = target
        .start_with_sql(Some(&sql))
        .await
        .expect("the server starts");
    let profile = VirtualClients::new(profile, running.secret.clone());
    let save_dir = tempfile::tempdir().expect("temp dir");
    let options = FuzzOptions {
        seed: 16,
        frames: 2_000,
        concurrency: 8,
        settle: Duration::from_secs(1),
        save_dir: save_dir.path().to_path_buf(),
        max_payload: DEFAULT_MAX_PAYLOAD,
        clients: users,
    };
    let report = fuzz::run(&mut running, "rust", &profile, &options)
        .await
        .expect("the run is carried out");
    running.shutdown().await;
    let table = fuzz::table(&report);
    assert!(report.passed(), "{table}");
    assert!(report.frames_generated >= 2_000, "{table}");
    assert!(report.frames_sent > 1_000, "{table}");
    assert!(report.control.rounds > 0, "{table}");
    assert!(report.memory.start_kib.is_some() && report.memory.settled_kib.is_some());
    assert_eq!(report.reproducer, None);
    assert!(
        std::fs::read_dir(save_dir.path()).map_or(0, |d| d.count()) == 0,
        "no reproducer for a passing run"
    );
}
