//! The complete example in harness/README.md runs, as written, against the real server.

use sio_harness::scenario::parse_str;
use sio_harness::suite::{self, Outcome, SuiteOptions};
use sio_harness::target::Target;

use crate::common::TestServer;

const README: &str = include_str!("../../../harness/README.md");

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
    let server = TestServer::start().await;
    let file = parse_str("example.yaml", example()).unwrap_or_else(|e| panic!("{e}"));
    let target = Target::Url {
        url: server.url(),
        secret: Some(server.secret_text.clone()),
        hooks: Default::default(),
    };
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
