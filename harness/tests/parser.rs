//! Scenario files: every shipped scenario parses, and each kind of mistake gets an error with
//! file, line, column and the source line (snapshotted, so the wording is reviewed).

use std::path::Path;

use sio_harness::scenario::{Step, load_file, parse_str};

#[test]
fn every_shipped_scenario_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files =
        sio_harness::suite::discover(&[dir.clone(), dir.join("cluster")]).expect("scenarios dirs");
    assert!(files.len() >= 12, "{files:?}");
    for file in files {
        let parsed = load_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert!(!parsed.scenarios.is_empty());
    }
}

#[test]
fn bad_files_point_at_the_mistake() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read");
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let error = parse_str(&name, &source).expect_err("must not parse");
        insta::assert_snapshot!(name.trim_end_matches(".yaml").to_owned(), error.to_string());
    }
}

#[test]
fn file_level_tokens_and_vars_reach_every_scenario() {
    let source = "tokens:\n  alice: { user: user-1 }\nvars:\n  who: alice\nscenarios:\n  - name: one\n    steps:\n      - sleep: 1ms\n  - name: two\n    vars: { who: bob }\n    steps:\n      - sleep: 2ms\n";
    let file = parse_str("inline.yaml", source).expect("parses");
    assert_eq!(file.scenarios.len(), 2);
    assert!(
        file.scenarios
            .iter()
            .all(|s| s.tokens.contains_key("alice"))
    );
    assert_eq!(file.scenarios[0].vars["who"], "alice");
    assert_eq!(file.scenarios[1].vars["who"], "bob");
    assert_eq!(file.scenarios[1].line, 9);
    assert!(matches!(file.scenarios[1].steps[0].value, Step::Sleep(_)));
    assert_eq!(file.scenarios[1].steps[0].referenced.line(), 12);
}

#[test]
fn duplicate_names_are_refused() {
    let source = "scenarios:\n  - name: same\n    steps: [{ sleep: 1ms }]\n  - name: same\n    steps: [{ sleep: 1ms }]\n";
    let error = parse_str("dup.yaml", source).expect_err("duplicate");
    assert_eq!(
        (error.line, error.message.as_str()),
        (4, "two scenarios are named \"same\"")
    );
}
