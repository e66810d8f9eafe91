//! The complete example in harness/README.md runs, as written, against the Rust server launched
//! from `scenarios/targets.yaml` (as the README says to run it). Needs `realtime-server` built
//! beside this test (`cargo build -p realtime-server`, which the test command does); without it
//! the test skips, unless `CI` or `SIO_REQUIRE_SERVER` is set.

use std::path::Path;

use sio_harness::scenario::parse_str;
use sio_harness::suite::{self, Outcome, SuiteOptions};
use sio_harness::target::{Target, bin_dir};

const README: &str = include_str!("../README.md");

/// The first ```yaml block after the "A complete example" heading.
fn example() -> &'static str {
    let section = README
        .split("## A complete example")
        .nth(1)
        .expect("example section");
    let block = section.split("```yaml\n").nth(1).expect("yaml block");
    block.split("```").next().expect("closed block")
}

#[tokio::test]
async fn the_harness_readme_example_passes() {
    if !bin_dir().join("realtime-server").exists() {
        assert!(
            std::env::var_os("CI").is_none() && std::env::var_os("SIO_REQUIRE_SERVER").is_none(),
            "realtime-server is not built in {}",
            bin_dir().display()
        );
        eprintln!("skipping: build realtime-server first (cargo build -p realtime-server)");
        return;
    }
    let file = parse_str("example.yaml", example()).unwrap_or_else(|e| panic!("{e}"));
    let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/targets.yaml");
    let target = Target::resolve("rust", &targets, None).expect("the rust target");
    let options = SuiteOptions::default();
    let results = suite::run(std::slice::from_ref(&file), &target, &options).await;
    match &results[0].outcome {
        Outcome::Passed => {}
        other => panic!("{other:?}\n{}", results[0].transcript),
    }
    assert!(
        results[0]
            .transcript
            .contains("event / notification:read:success"),
        "{}",
        results[0].transcript
    );
}
