//! A recorded session with every kind of fact written and read back: no secret in the file,
//! every step as the replay needs it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::*;
use crate::record::session::Session;
use crate::scenario::{self, Step as Parsed};

fn jwt(claims: Value) -> String {
    let header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    format!(
        "{header}.{}.c2VjcmV0LXNpZ25hdHVyZQ",
        B64.encode(claims.to_string())
    )
}

const NOTE_ID: &str = "0b7e4a52-3c1d-4f7e-9a2b-5d6c7e8f9a0b";

/// A session with a token in `auth` and in an `Authorization` header, a login body with a
/// password, an ack, a second namespace, an id sent back, and a server disconnect.
fn recording(alice: &str, admin: &str) -> Recording {
    let session = |authorization: Option<String>| Session {
        transport: TransportKind::Upgrade,
        query: vec![("room".into(), "lobby".into())],
        authorization,
    };
    Recording {
        sessions: vec![session(None), session(Some(format!("Bearer {alice}")))],
        facts: vec![
            Fact::Connect {
                client: 0,
                nsp: "/".into(),
                auth: Some(json!({ "token": alice })),
            },
            Fact::Connect {
                client: 0,
                nsp: "/admin".into(),
                auth: Some(json!({ "token": alice })),
            },
            Fact::ConnectError {
                client: 0,
                nsp: "/admin".into(),
            },
            Fact::Http(HttpCall {
                method: "POST".into(),
                path_and_query: "/login".into(),
                authorization: None,
                request_json: Some(json!({ "user": "alice", "password": "hunter2" })),
                status: 200,
                response_is_json: true,
                response_json: Some(json!({ "token": admin })),
            }),
            Fact::Http(HttpCall {
                method: "POST".into(),
                path_and_query: "/api/v1/notifications".into(),
                authorization: Some(format!("Bearer {admin}")),
                request_json: Some(json!({ "userId": "user-1", "title": "Hi" })),
                status: 201,
                response_is_json: true,
                response_json: Some(json!({ "id": NOTE_ID, "createdAt": "2026-11-27T22:00:00Z" })),
            }),
            Fact::Received {
                client: 0,
                nsp: "/".into(),
                event: "notification:new".into(),
                args: vec![json!({ "id": NOTE_ID, "title": "Hi" })],
            },
            Fact::Emit {
                client: 0,
                nsp: "/".into(),
                event: "notification:read".into(),
                args: vec![json!(NOTE_ID)],
                ack: Some(3),
            },
            Fact::Acked {
                client: 0,
                nsp: "/".into(),
                id: 3,
                args: vec![json!({ "ok": true, "at": 1_795_000_000_000_i64 })],
            },
            Fact::Http(HttpCall {
                method: "GET".into(),
                path_and_query: format!("/api/v1/notifications/{NOTE_ID}"),
                authorization: Some(format!("Bearer {admin}")),
                request_json: None,
                status: 200,
                response_is_json: true,
                response_json: Some(json!({ "id": NOTE_ID })),
            }),
            Fact::Http(HttpCall {
                method: "GET".into(),
                path_and_query: "/dashboard.css".into(),
                authorization: None,
                request_json: None,
                status: 200,
                response_is_json: false,
                response_json: None,
            }),
            Fact::Connect {
                client: 1,
                nsp: "/".into(),
                auth: None,
            },
            Fact::ServerDisconnect {
                client: 1,
                nsp: "/".into(),
            },
            Fact::ClientDisconnect {
                client: 0,
                nsp: None,
            },
        ],
    }
}

#[test]
fn no_secret_of_the_session_reaches_the_file_and_it_parses_back() {
    let (alice, admin) = (
        jwt(json!({ "userId": "user-1", "exp": 1_900_003_600 })),
        jwt(json!({ "userId": "admin-1", "role": "admin" })),
    );
    let written = write(
        &recording(&alice, &admin),
        "recorded",
        1_900_000_000,
        "a header",
        "/socket.io/",
    )
    .expect("writes");
    let yaml = &written.yaml;
    for secret in [alice.as_str(), admin.as_str(), "hunter2"] {
        assert!(!yaml.contains(secret), "{secret} leaked into:\n{yaml}");
    }
    // No part of a token either (its signature, its payload).
    for token in [&alice, &admin] {
        for part in token.split('.').skip(1) {
            assert!(!yaml.contains(part), "a token part leaked into:\n{yaml}");
        }
    }
    assert_eq!(written.vars.iter().collect::<Vec<_>>(), ["password"]);
    assert!(yaml.starts_with("# a header\n"), "{yaml}");

    let file = scenario::parse_str("recorded.yaml", yaml).expect("parses back");
    let scenario = &file.scenarios[0];
    let user = scenario.tokens.get("user-1").expect("alice's token entry");
    assert_eq!(user.user.as_deref(), Some("user-1"));
    assert_eq!(user.expires_in.map(|m| m.0), Some(3_600_000));
    let admin_spec = scenario
        .tokens
        .get("admin-1")
        .expect("the admin's token entry");
    assert_eq!(admin_spec.claims.get("role"), Some(&json!("admin")));
    assert_eq!(admin_spec.expires_in, None);

    let steps: Vec<&Parsed> = scenario.steps.iter().map(|s| &s.value).collect();
    let keywords: Vec<&str> = steps.iter().map(|s| s.keyword()).collect();
    assert_eq!(
        keywords,
        [
            "connect",
            "connect",
            "http",
            "http",
            "expect",
            "emit",
            "http",
            "connect",
            "expect",
            "disconnect"
        ]
    );
    let Parsed::Connect(first) = steps[0] else {
        unreachable!()
    };
    assert_eq!(first.client, "user-1");
    assert_eq!(first.auth, Some(json!({ "token": "{{user-1}}" })));
    assert_eq!(first.query.get("room").map(String::as_str), Some("lobby"));
    let Parsed::Connect(refused) = steps[1] else {
        unreachable!()
    };
    assert_eq!(
        refused.expect,
        crate::scenario::ConnectOutcome::ConnectError
    );
    let Parsed::Http(login) = steps[2] else {
        unreachable!()
    };
    assert_eq!(
        login.body,
        Some(json!({ "user": "alice", "password": "{{password}}" }))
    );
    assert_eq!(login.expect_body, Some(json!({ "token": "$string" })));
    let Parsed::Http(create) = steps[3] else {
        unreachable!()
    };
    assert_eq!(create.token.as_deref(), Some("{{admin-1}}"));
    assert_eq!(
        create.capture.get("id").map(String::as_str),
        Some("body.id")
    );
    assert_eq!(
        create.expect_body,
        Some(json!({ "id": "$uuid", "createdAt": "$time" }))
    );
    let Parsed::Expect(note) = steps[4] else {
        unreachable!()
    };
    assert_eq!(
        note.args,
        Some(vec![json!({ "id": "$uuid", "title": "Hi" })])
    );
    let Parsed::Emit(read) = steps[5] else {
        unreachable!()
    };
    assert_eq!(read.args, [json!("{{id}}")]);
    let ack = read.ack.as_ref().expect("the emit waits for its ack");
    assert_eq!(ack.args, Some(vec![json!({ "ok": true, "at": "$number" })]));
    let Parsed::Http(fetch) = steps[6] else {
        unreachable!()
    };
    assert_eq!(fetch.path, "/api/v1/notifications/{{id}}");
    assert_eq!(fetch.expect_body, Some(json!({ "id": "{{id}}" })));
    let Parsed::Connect(second) = steps[7] else {
        unreachable!()
    };
    assert_eq!(second.client, "client-2");
    assert_eq!(second.transport, Some(TransportKind::Upgrade));
    assert_eq!(
        second.headers.get("authorization").map(String::as_str),
        Some("Bearer {{user-1}}")
    );
    let Parsed::Expect(dropped) = steps[8] else {
        unreachable!()
    };
    assert_eq!(
        dropped
            .disconnect
            .as_ref()
            .and_then(|d| d.reason.as_deref()),
        Some("io server disconnect")
    );
    let Parsed::Disconnect(leave) = steps[9] else {
        unreachable!()
    };
    assert_eq!(
        (leave.client.as_str(), leave.namespace.as_deref()),
        ("user-1", None)
    );
}

#[test]
fn an_engine_path_other_than_the_default_is_on_each_clients_first_connect() {
    let (alice, admin) = (
        jwt(json!({ "userId": "user-1" })),
        jwt(json!({ "userId": "admin-1" })),
    );
    let recording = recording(&alice, &admin);
    let paths = |engine_path: &str| -> Vec<Option<String>> {
        let written =
            write(&recording, "recorded", 1_900_000_000, "h", engine_path).expect("writes");
        let file = crate::scenario::parse_str("recorded.yaml", &written.yaml).expect("parses");
        file.scenarios[0]
            .steps
            .iter()
            .filter_map(|step| match &step.value {
                Step::Connect(connect) => Some(connect.path.clone()),
                _ => None,
            })
            .collect()
    };
    let rt = Some("/rt/".to_owned());
    // Two clients, the first of them also on a second namespace (one engine session).
    assert_eq!(paths("/rt"), [rt.clone(), None, rt.clone()]);
    assert_eq!(paths("/rt/"), [rt.clone(), None, rt]);
    assert_eq!(paths("/socket.io/"), [None, None, None]);
}
