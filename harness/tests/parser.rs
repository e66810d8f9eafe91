//! Scenario files: every shipped scenario parses, and each kind of mistake gets an error with
//! file, line, column and the source line (snapshotted, so the wording is reviewed).

use std::path::Path;

use sio_harness::scenario::{Step, load_file, parse_str};

#[test]
fn every_shipped_scenario_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let files = sio_harness::suite::discover(&[
        dir.clone(),
        dir.join("cluster"),
        examples.join("chat/scenarios"),
        examples.join("market/scenarios"),
    ])
    .expect("scenarios dirs");
    assert!(files.len() >= 20, "{files:?}");
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

#[test]
fn cluster_steps_parse_in_their_short_and_long_forms() {
    use sio_harness::scenario::{ClusterStep, Millis, RedisAction, ServerAction, ServerStep};
    let source = "name: cluster\nsteps:\n  - connect: { client: alice, node: b }\n  - connect: { client: carol, via: haproxy }\n  - server: restart\n  - server: { kill: b }\n  - redis: freeze\n  - move: { clients: [alice], node: a }\n  - cluster: ready\n  - cluster: { ready: 5s }\n  - http: { node: b, path: /health }\n";
    let file = parse_str("cluster.yaml", source).expect("parses");
    let steps: Vec<&Step> = file.scenarios[0].steps.iter().map(|s| &s.value).collect();
    assert!(matches!(steps[0], Step::Connect(c) if c.node.as_deref() == Some("b")));
    assert!(matches!(steps[1], Step::Connect(c) if c.via.is_some() && c.node.is_none()));
    let server = |action, node: Option<&str>| ServerStep {
        action,
        node: node.map(str::to_owned),
        start_as: None,
    };
    assert!(matches!(steps[2], Step::Server(s) if *s == server(ServerAction::Restart, None)));
    assert!(matches!(steps[3], Step::Server(s) if *s == server(ServerAction::Kill, Some("b"))));
    assert!(matches!(steps[4], Step::Redis(RedisAction::Freeze)));
    assert!(matches!(steps[5], Step::Move(m) if m.clients == ["alice"] && m.node == "a"));
    assert!(matches!(
        steps[6],
        Step::Cluster(ClusterStep { timeout: None })
    ));
    let five = Millis(std::time::Duration::from_secs(5));
    assert!(matches!(steps[7], Step::Cluster(ClusterStep { timeout: Some(t) }) if *t == five));
    assert!(matches!(steps[8], Step::Http(h) if h.node.as_deref() == Some("b")));
}

#[test]
fn database_steps_and_http_through_haproxy_parse() {
    use sio_harness::scenario::{DatabaseAction, Via};
    let source = "name: outage\nsteps:\n  - database: stop\n  - database: start\n  - http: { via: haproxy, path: /, expect_headers: { retry-after: \"1\" } }\n";
    let file = parse_str("outage.yaml", source).expect("parses");
    let steps: Vec<&Step> = file.scenarios[0].steps.iter().map(|s| &s.value).collect();
    assert!(matches!(steps[0], Step::Database(DatabaseAction::Stop)));
    assert!(matches!(steps[1], Step::Database(DatabaseAction::Start)));
    assert!(matches!(steps[2], Step::Http(h)
        if h.via == Some(Via::Haproxy) && h.expect_headers["retry-after"] == "1"));
}

#[test]
fn a_server_step_takes_one_action_at_a_time() {
    let source = "name: two\nsteps:\n  - server: { kill: b, stop: a }\n";
    let error = parse_str("two.yaml", source).expect_err("two actions");
    assert_eq!(error.line, 3, "{error}");
    assert!(error.message.contains("one action at a time"), "{error}");
}

#[test]
fn a_node_is_started_as_another_server_with_as() {
    use sio_harness::scenario::{ServerAction, ServerStep};
    let source = "name: swap\nsteps:\n  - server: { stop: b }\n  - server: { start: b, as: rust }\n  - server: { as: node, restart: a }\n";
    let file = parse_str("swap.yaml", source).expect("parses");
    let steps: Vec<&Step> = file.scenarios[0].steps.iter().map(|s| &s.value).collect();
    let start_as = |action, node: &str, server: &str| ServerStep {
        action,
        node: Some(node.to_owned()),
        start_as: Some(server.to_owned()),
    };
    assert!(
        matches!(steps[1], Step::Server(s) if *s == start_as(ServerAction::Start, "b", "rust"))
    );
    assert!(
        matches!(steps[2], Step::Server(s) if *s == start_as(ServerAction::Restart, "a", "node"))
    );

    for (step, expected) in [
        (
            "{ stop: b, as: rust }",
            "`as: rust` goes with `start` or `restart`, not `stop`",
        ),
        ("{ as: rust }", "`server` needs an action"),
        ("{ start: b, as: Rust }", "as: \"Rust\" is not a node name"),
    ] {
        let source = format!("name: bad\nsteps:\n  - server: {step}\n");
        let error = parse_str("bad.yaml", &source).expect_err(step);
        assert_eq!(error.line, 3, "{step}: {error}");
        assert!(error.message.contains(expected), "{step}: {error}");
    }
}

#[test]
fn network_steps_give_the_conditions_they_write() {
    use std::time::Duration;

    use sio_harness::shaping::Conditions;
    let source = "name: shaped\nsteps:\n  - connect: { client: alice }\n  - network: { client: alice, latency: 150ms, jitter: 1s, bandwidth: 256kbps, loss: 0.5%, seed: 7 }\n  - network: { client: alice, loss: \"1%\" }\n  - network: { client: alice }\n  - network: { client: alice, reset: true }\n";
    let file = parse_str("shaped.yaml", source).expect("parses");
    let network: Vec<_> = file.scenarios[0]
        .steps
        .iter()
        .filter_map(|s| match &s.value {
            Step::Network(n) => Some(n),
            _ => None,
        })
        .collect();
    assert_eq!(
        network[0].conditions(),
        Conditions {
            latency: Duration::from_millis(150),
            jitter: Duration::from_secs(1),
            bandwidth_bps: Some(256_000),
            loss_ppm: 5_000,
        }
    );
    assert_eq!(network[0].seed, Some(7));
    assert_eq!(network[1].conditions().loss_ppm, 10_000);
    assert!(network[2].conditions().is_clean() && network[3].conditions().is_clean());
}

#[test]
fn steps_default_to_the_namespace_their_client_connected_and_files_set_connect_defaults() {
    use sio_harness::transport::TransportKind;
    let source = "defaults: { namespace: /market, path: /rt/, transport: polling }\nscenarios:\n  - name: defaults\n    steps:\n      - connect: { client: alice }\n      - connect: { client: bob, namespace: /, transport: websocket }\n      - connect: { client: bob, namespace: /admin }\n      - emit: { client: alice, event: subscribe }\n      - expect: { client: alice, disconnect: {} }\n      - emit: { client: bob, event: ping }\n      - ack: { client: alice, id: 1 }\n";
    let file = parse_str("defaults.yaml", source).expect("parses");
    let steps: Vec<&Step> = file.scenarios[0].steps.iter().map(|s| &s.value).collect();
    let Step::Connect(alice) = steps[0] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (
            alice.namespace.as_str(),
            alice.path.as_deref(),
            alice.transport
        ),
        ("/market", Some("/rt/"), Some(TransportKind::Polling))
    );
    let Step::Connect(bob) = steps[1] else {
        panic!("{steps:?}")
    };
    assert_eq!(
        (bob.namespace.as_str(), bob.transport),
        ("/", Some(TransportKind::Websocket))
    );
    assert!(matches!(steps[3], Step::Emit(e) if e.namespace == "/market"));
    assert!(matches!(steps[4], Step::Expect(e) if e.namespace == "/market"));
    // Bob connected `/` and `/admin`: `/` stays the default, as it always was.
    assert!(matches!(steps[5], Step::Emit(e) if e.namespace == "/"));
    assert!(matches!(steps[6], Step::Ack(a) if a.namespace == "/market"));
}

#[test]
fn broadcaster_and_deliveries_mistakes_point_at_the_step() {
    let broadcaster = "broadcaster: { name: t, every: 100ms, http: { method: POST, path: /n, body: { n: \"{{tick}}\" } } }";
    let deliveries =
        "deliveries: { broadcaster: t, clients: [alice], event: n, args: [\"{{tick}}\"] }";
    let ok = format!(
        "name: ok\nsteps:\n  - connect: {{ client: alice }}\n  - {broadcaster}\n  - {deliveries}\n"
    );
    parse_str("ok.yaml", &ok).expect("parses");
    for (steps, line, expected) in [
        (
            format!("  - {deliveries}\n"),
            4,
            "no broadcaster \"t\" is running here (running: none)",
        ),
        (
            format!("  - {broadcaster}\n  - {broadcaster}\n"),
            5,
            "broadcaster \"t\" is running already",
        ),
        (
            "  - broadcaster: { name: t, every: 100ms, http: { method: POST, path: /n } }\n"
                .to_owned(),
            4,
            "must carry `{{tick}}`",
        ),
        (
            format!(
                "  - {broadcaster}\n  - deliveries: {{ broadcaster: t, clients: [alice], event: n, args: [1] }}\n"
            ),
            5,
            "needs `{{tick}}` in `args`",
        ),
        (
            format!(
                "  - {broadcaster}\n  - deliveries: {{ broadcaster: t, clients: [bob], event: n, args: [\"{{{{tick}}}}\"] }}\n"
            ),
            5,
            "client \"bob\" is not connected",
        ),
        (
            "  - broadcaster: { name: t, every: soon, http: { path: /n } }\n".to_owned(),
            4,
            "soon",
        ),
    ] {
        let source = format!("name: bad\nsteps:\n  - connect: {{ client: alice }}\n{steps}");
        let error = parse_str("bad.yaml", &source).expect_err(expected);
        assert_eq!(error.line, line, "{expected}: {error}");
        assert!(error.message.contains(expected), "{expected}: {error}");
    }
}
