//! The handshake: every refusal of `docs/protocol.md`, both token sources, both transports.

use std::time::Duration;

use serde_json::{Value, json};
use sio_wire::transport::TransportKind;

use crate::common::{TestServer, connected, refusal};

fn token_with(header: Value, claims: Value, secret: &[u8]) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let head = B64.encode(header.to_string());
    let body = B64.encode(claims.to_string());
    let signing_input = format!("{head}.{body}");
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("sign");
    format!("{signing_input}.{signature}")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn token_in_auth_connects_over_websocket_and_polling() {
    let server = TestServer::start().await;
    for transport in [
        TransportKind::Websocket,
        TransportKind::Polling,
        TransportKind::Upgrade,
    ] {
        let mut client = server.client("user-1", transport);
        connected(&mut client).await;
        client.close();
    }
}

#[tokio::test]
async fn bearer_header_is_the_fallback_token_source() {
    let server = TestServer::start().await;
    let header = vec![(
        "Authorization".to_owned(),
        format!("Bearer {}", server.token("user-1")),
    )];
    for transport in [TransportKind::Polling, TransportKind::Websocket] {
        let mut client = server.client_with(None, header.clone(), transport);
        connected(&mut client).await;
    }
    // auth.token wins over the header.
    let message = refusal(&server, Some(json!({"token": "garbage"})), header).await;
    assert_eq!(message, "Authentication failed");
}

#[tokio::test]
async fn missing_token_is_authentication_required() {
    let server = TestServer::start().await;
    assert_eq!(
        refusal(&server, None, vec![]).await,
        "Authentication required"
    );
    assert_eq!(
        refusal(&server, Some(json!({"token": ""})), vec![]).await,
        "Authentication required"
    );
    assert_eq!(
        refusal(&server, Some(json!({"token": 42})), vec![]).await,
        "Authentication required"
    );
    let basic = vec![("Authorization".to_owned(), "Basic dXNlcjpwYXNz".to_owned())];
    assert_eq!(
        refusal(&server, None, basic).await,
        "Authentication required"
    );
}

#[tokio::test]
async fn tokens_that_do_not_verify_are_authentication_failed() {
    let server = TestServer::start().await;
    let claims = json!({"userId": "user-1", "exp": now() + 600});
    let other_secret = b"another-secret-that-is-long-enough-for-hs256";
    let good = server.token("user-1");
    let (head_and_body, _) = good.rsplit_once('.').expect("three parts");
    let tampered = {
        let other = token_with(
            json!({"alg": "HS256", "typ": "JWT"}),
            json!({"userId": "admin-1", "exp": now() + 600}),
            other_secret,
        );
        let (_, signature) = other.rsplit_once('.').expect("three parts");
        format!("{}.{signature}", head_and_body)
    };
    let cases = [
        (
            "bad signature",
            token_with(
                json!({"alg": "HS256", "typ": "JWT"}),
                claims.clone(),
                other_secret,
            ),
        ),
        ("malformed", "not.a.jwt".to_owned()),
        ("tampered", tampered),
        (
            "expired",
            token_with(
                json!({"alg": "HS256"}),
                json!({"userId": "user-1", "exp": now() - 10}),
                b"x",
            ),
        ),
        ("alg none", {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.",
                b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                b64.encode(claims.to_string())
            )
        }),
        (
            "no exp",
            token_with(json!({"alg": "HS256"}), json!({"userId": "user-1"}), b"x"),
        ),
        (
            "numeric userId",
            token_with(
                json!({"alg": "HS256"}),
                json!({"userId": 1, "exp": now() + 600}),
                b"x",
            ),
        ),
    ];
    for (name, token) in cases {
        let message = refusal(&server, Some(json!({"token": token})), vec![]).await;
        assert_eq!(message, "Authentication failed", "{name}");
    }
}

/// Tokens signed with the real secret that must still be refused (found by the token-attack
/// scenarios, `scenarios/token-attacks.yaml`): a `crit` header, `nbf` or `iat` in the future.
#[tokio::test]
async fn well_signed_tokens_the_policy_refuses() {
    let server = TestServer::start().await;
    let secret = server.secret_text.as_bytes();
    let claims = |extra: Value| {
        let mut claims = json!({"userId": "user-1", "exp": now() + 600, "iat": now()});
        if let (Some(map), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            map.extend(extra.clone());
        }
        claims
    };
    let cases = [
        (
            "crit exp",
            json!({"alg": "HS256", "crit": ["exp"]}),
            claims(json!({})),
        ),
        (
            "crit extension",
            json!({"alg": "HS256", "crit": ["x-must-understand"], "x-must-understand": true}),
            claims(json!({})),
        ),
        (
            "nbf in the future",
            json!({"alg": "HS256"}),
            claims(json!({"nbf": now() + 3600})),
        ),
        (
            "iat in the future",
            json!({"alg": "HS256"}),
            claims(json!({"iat": now() + 3600})),
        ),
        (
            "iat a string",
            json!({"alg": "HS256"}),
            claims(json!({"iat": "0"})),
        ),
    ];
    for (name, header, claims) in cases {
        let token = token_with(header, claims, secret);
        let message = refusal(&server, Some(json!({"token": token})), vec![]).await;
        assert_eq!(message, "Authentication failed", "{name}");
    }
    // The same tokens without the offending part connect: only that part is refused.
    for (header, claims) in [
        (
            json!({"alg": "HS256", "kid": "../../dev/null"}),
            claims(json!({})),
        ),
        (json!({"alg": "HS256"}), claims(json!({"nbf": now() - 60}))),
    ] {
        let token = token_with(header, claims, secret);
        let mut client = server.client_with(
            Some(json!({"token": token})),
            vec![],
            TransportKind::Websocket,
        );
        connected(&mut client).await;
        client.close();
    }
}

#[tokio::test]
async fn expired_token_signed_with_the_real_secret_is_refused() {
    let server = TestServer::start().await;
    // A token valid for 1 s, used 2 s later: no leeway.
    let token = server.secret.mint("user-1", Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        refusal(&server, Some(json!({"token": token})), vec![]).await,
        "Authentication failed"
    );
}

#[tokio::test]
async fn unknown_and_inactive_users_are_refused() {
    let server = TestServer::start().await;
    for user in ["nobody", "user-3"] {
        let message = refusal(&server, Some(json!({"token": server.token(user)})), vec![]).await;
        assert_eq!(message, "User not found or inactive", "{user}");
    }
}

/// A database that does not answer is a transient refusal, never a `connect_error` (final for
/// the official client): a new Engine.IO session gets 503 with `Retry-After`, on long-polling
/// and on a websocket-only handshake alike.
#[tokio::test]
async fn a_database_that_does_not_answer_refuses_new_sessions_transiently() {
    let server = TestServer::start().await;
    server.store.close().await;
    let polling = reqwest::get(format!(
        "{}/socket.io/?EIO=4&transport=polling",
        server.url()
    ))
    .await
    .expect("answered");
    assert_eq!(polling.status().as_u16(), 503);
    assert_eq!(
        polling.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connects");
    let upgrade = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stream.write_all(upgrade.as_bytes()).await.expect("sent");
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.expect("a status line");
    assert_eq!(&head, b"HTTP/1.1 503");

    let (live, ready) = (
        reqwest::get(format!("{}/health/live", server.url()))
            .await
            .expect("answered")
            .status(),
        reqwest::get(format!("{}/health/ready", server.url()))
            .await
            .expect("answered")
            .status(),
    );
    assert_eq!((live.as_u16(), ready.as_u16()), (200, 503));
}
