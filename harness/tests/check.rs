//! `check` refuses what the file alone shows would fail at run time, each at its line and
//! column: an undefined `{{variable}}`, an unknown matcher (with the nearest known one), an
//! `emit` or `expect` on a namespace its client never connected. What the runner does define
//! (vars, tokens, captures of earlier steps, `{{run.id}}`, `--var`) passes.

use std::process::Command;

/// Runs `sio-harness check` on `source` (as `scenario.yaml`): exit code and standard error.
fn check(source: &str, extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("scenario.yaml");
    std::fs::write(&file, source).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_sio-harness"))
        .arg("check")
        .arg(&file)
        .args(extra)
        .output()
        .expect("sio-harness runs");
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&*file.to_string_lossy(), "F");
    (output.status.code().unwrap_or(-1), stderr)
}

const DEFINED: &str = "\
name: all defined
vars: { room: lobby }
tokens:
  alice: { user: user-1 }
steps:
  - connect: { client: alice, namespace: /market, auth: { token: \"{{alice}}\" } }
  - emit: { client: alice, namespace: /market, event: join, args: [\"{{room}}-{{run.id}}\", \"{{who}}\", \"$strng\"] }
  - expect: { client: alice, namespace: /market, event: joined, args: [{ id: $string }], capture: { note: 0.id } }
  - emit: { client: alice, namespace: /market, event: read, args: [\"{{note}}\"] }
";

#[test]
fn what_the_runner_defines_passes_and_a_var_given_on_the_command_line_counts() {
    let (code, stderr) = check(DEFINED, &["--var", "who=bob"]);
    assert_eq!(code, 0, "{stderr}");
    // `who` comes only from --var; `$strng` in what is sent is data, not a matcher.
    let (code, stderr) = check(DEFINED, &[]);
    assert_eq!(code, 3);
    assert!(stderr.contains("undefined variable {{who}}"), "{stderr}");
    assert!(stderr.contains("--> F:7:92"), "{stderr}");
    assert!(!stderr.contains("unknown matcher"), "{stderr}");
}

#[test]
fn an_undefined_variable_is_refused_at_its_line_and_column() {
    let source = "\
name: typo
steps:
  - connect: { client: alice }
  - expect: { client: alice, event: welcome, capture: { greeting: 0 } }
  - emit: { client: alice, event: echo, args: [\"{{greting.text}}\"] }
";
    let (code, stderr) = check(source, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(
            "error: undefined variable {{greting.text}}: no `vars`, `tokens`, earlier `capture` or --var defines \"greting\" (built in: run)\n  --> F:5:49"
        ),
        "{stderr}"
    );
}

#[test]
fn a_variable_used_before_the_step_that_captures_it_is_refused() {
    let source = "\
name: order
steps:
  - connect: { client: alice }
  - emit: { client: alice, event: read, args: [\"{{note}}\"] }
  - expect: { client: alice, event: note, capture: { note: 0 } }
";
    let (code, stderr) = check(source, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("undefined variable {{note}}"), "{stderr}");
    assert!(stderr.contains("--> F:4:49"), "{stderr}");
}

#[test]
fn an_unknown_matcher_is_refused_with_the_nearest_known_one() {
    let source = "\
name: matcher typo
steps:
  - connect: { client: alice }
  - emit: { client: alice, event: quote, ack: { args: [{ at: $integer }] } }
  - expect:
      client: alice
      event: quote
      args: [{ symbol: $strng, at: $integer }]
";
    let (code, stderr) = check(source, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("error: unknown matcher $strng (known: $any, $string,"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean $string?\n  --> F:8:24"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
}

#[test]
fn an_emit_or_expect_on_a_namespace_the_client_never_connected_is_refused() {
    let source = "\
name: namespaces
steps:
  - connect: { client: alice, namespace: /market }
  - emit: { client: alice, namespace: /market, event: subscribe }
  - emit: { client: alice, namespace: /admin, event: subscribe }
  - expect: { client: alice, namespace: /markets, event: quote }
";
    let (code, stderr) = check(source, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(
            "error: emit on namespace /admin, which \"alice\" never connected (it connected /market); add `namespace:` or connect it first\n  --> F:5:28"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: expect on namespace /markets, which \"alice\" never connected"),
        "{stderr}"
    );
    assert!(stderr.contains("--> F:6:30"), "{stderr}");
}
