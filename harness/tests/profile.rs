//! Load profiles: the committed ones parse; a mistake is reported at its line and column with
//! what is wrong; and a profile renders each virtual client's own values (auth, tokens with
//! `{{client.index}}` in their claims) while what every client waits for is shared.

use std::path::Path;

use serde_json::json;
use sio_harness::common::virtual_client::{ReadySignal, VirtualClients};
use sio_harness::scenario::profile::{ChurnEnd, load_profile, parse_profile};

fn repository_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The error for `text`, as `line:column message`.
fn error_of(text: &str) -> String {
    let error = parse_profile("p.yaml", text).expect_err("a mistake");
    format!("{}:{} {}", error.line, error.column, error.message)
}

const CHAT_LIKE: &str = "name: t
client:
  auth: { username: \"u-{{client.index}}\" }
  on_connect:
    - { event: join, args: [{ room: r }], ack: { args: [{ ok: true }] } }
ready: ack
";

#[test]
fn the_committed_profiles_parse() {
    let chat = load_profile(&repository_file("examples/chat/load.profile.yaml")).expect("chat");
    assert_eq!(chat.profile.name, "chat");
    let churn = chat.profile.churn.as_ref().expect("a churn section");
    assert_eq!(churn.end, Some(ChurnEnd::Clean));
    assert_eq!(churn.phases.len(), 2);
    let dashboard =
        load_profile(&repository_file("benches/dashboard.profile.yaml")).expect("dashboard");
    assert!(dashboard.profile.fanout.is_some() && dashboard.profile.control.is_some());
}

#[test]
fn mistakes_are_reported_at_their_line_and_column() {
    // An unknown key, where it stands.
    let typo = error_of("name: t\nclient:\n  auht: {}\n");
    assert!(typo.starts_with("3:3 ") && typo.contains("auht"), "{typo}");
    // `ready: ack` with nothing that asks for one.
    let ack = error_of("name: t\nclient: {}\nready: ack\n");
    assert!(
        ack.starts_with("3:8 ") && ack.contains("needs an `on_connect` emit with `ack`"),
        "{ack}"
    );
    // An unknown variable in the client.
    let unknown = error_of("name: t\nclient:\n  auth: { token: \"{{tokn}}\" }\n");
    assert!(
        unknown.starts_with("3:3 ") && unknown.contains("unknown variable {{tokn}}"),
        "{unknown}"
    );
    // A sequence field the trigger never fills.
    let sequence = error_of(&format!(
        "{CHAT_LIKE}fanout:\n  trigger:\n    emit: {{ event: say, args: [hello] }}\n  deliver: {{ event: said, sequence: 0.text }}\n"
    ));
    assert!(
        sequence.starts_with("8:3 ") && sequence.contains("never sends `{{seq}}`"),
        "{sequence}"
    );
    // A phase without arrivals per second that make sense.
    let phase = error_of(&format!(
        "{CHAT_LIKE}churn:\n  phases:\n    - {{ duration: 5s, rate: 10 }}\n    - {{ duration: 5s, rate: -1 }}\n"
    ));
    assert!(
        phase.starts_with("10:7 ") && phase.contains("arrivals per second"),
        "{phase}"
    );
    // `ready` waits for the same thing on every client.
    let shared = error_of(
        "name: t\ntokens: { token: { user: u } }\nclient: {}\nready: { event: hi, args: [\"{{token}}\"] }\n",
    );
    assert!(
        shared.starts_with("4:8 ") && shared.contains("the same for every client"),
        "{shared}"
    );
}

#[test]
fn each_client_is_rendered_with_its_index_and_what_they_wait_for_is_shared() {
    let file = parse_profile(
        "p.yaml",
        &format!("{CHAT_LIKE}tokens:\n  token: {{ user: \"load-{{{{client.index}}}}\" }}\n"),
    )
    .expect("parses");
    let secret = "a-secret-of-at-least-thirty-two-bytes!!";
    let profile = VirtualClients::new(file, Some(secret.to_owned()));
    let clients = profile.clients([1, 7]).expect("renders");
    assert_eq!(clients[0].auth, Some(json!({ "username": "u-1" })));
    assert_eq!(clients[1].auth, Some(json!({ "username": "u-7" })));
    assert_eq!(
        clients[1].on_connect,
        vec![(
            "join".to_owned(),
            vec![json!({ "room": "r" })],
            Some(10_000)
        )]
    );
    let conversation = profile.conversation().expect("shared");
    assert_eq!(conversation.path, "/socket.io/");
    assert_eq!(
        conversation.ready,
        ReadySignal::Acks {
            count: 1,
            expected: vec![Some(vec![json!({ "ok": true })])],
        }
    );
    assert_eq!(
        clients[1].connect_packet(&conversation),
        r#"40{"username":"u-7"}"#
    );
}

#[test]
fn a_token_claim_carries_the_client_index() {
    let file = parse_profile(
        "p.yaml",
        "name: t\ntokens:\n  token: { user: \"load-{{client.index}}\" }\nclient:\n  auth: { token: \"{{token}}\" }\n",
    )
    .expect("parses");
    let secret = "a-secret-of-at-least-thirty-two-bytes!!";
    let profile = VirtualClients::new(file.clone(), Some(secret.to_owned()));
    let clients = profile.clients([42]).expect("renders");
    let token = clients[0].auth.as_ref().expect("auth")["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64"),
    )
    .expect("JSON claims");
    assert_eq!(claims["userId"], "load-42");
    // Longer than any run: a scenario's default hour would end a soak.
    let lifetime = claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat");
    assert_eq!(lifetime, 6 * 3600);
    // Without a secret there is nothing to sign with, and the error names the token.
    let unsigned = VirtualClients::new(file, None)
        .clients([1])
        .expect_err("no secret");
    assert!(unsigned.contains("token \"token\""), "{unsigned}");
}
