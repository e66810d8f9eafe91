//! The dashboard page: served from the binary with its security headers, `GET /api/v1/me` that
//! it reads the role from, and the demo's sign-in links. Its behaviour in a browser is tested by
//! page/tests (Playwright, against this server and the Node original).

use realtime_server::auth::JwtSecret;
use realtime_server::page::CONTENT_SECURITY_POLICY;
use realtime_server::store::Store;
use serde_json::{Value, json};

use crate::common::TestServer;

#[tokio::test]
async fn serves_the_page_and_its_assets_with_the_policy() {
    let server = TestServer::start().await;
    for (path, content_type, marker) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<script type=\"module\" src=\"/assets/dashboard.js\">",
        ),
        (
            "/assets/dashboard.js",
            "text/javascript; charset=utf-8",
            "subscribe:status",
        ),
        (
            "/assets/dashboard.css",
            "text/css; charset=utf-8",
            ".services",
        ),
        ("/assets/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let response = server
            .http()
            .get(format!("{}{path}", server.url()))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            header("content-type").as_deref(),
            Some(content_type),
            "{path}"
        );
        assert_eq!(
            header("content-security-policy").as_deref(),
            Some(CONTENT_SECURITY_POLICY),
            "{path}"
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        let body = response.text().await.expect("body");
        assert!(body.contains(marker), "{path} lacks {marker}");
    }
    let missing = server
        .http()
        .get(format!("{}/assets/nothing.js", server.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn me_names_the_token_s_user_and_role() {
    let server = TestServer::start().await;
    let me = |token: Option<String>| {
        let mut request = server.http().get(format!("{}/api/v1/me", server.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(
        me(Some(server.token("admin-1"))).await,
        (
            200,
            json!({"id": "admin-1", "role": "admin", "email": "admin@example.com"})
        )
    );
    assert_eq!(me(Some(server.token("user-1"))).await.1["role"], "user");
    assert_eq!(
        me(Some(server.token("user-3"))).await,
        (401, json!({"error": "User not found or inactive"}))
    );
    assert_eq!(
        me(None).await,
        (401, json!({"error": "Authentication required"}))
    );
}

#[tokio::test]
async fn the_demo_prints_a_sign_in_link_per_user_with_the_token_in_the_fragment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&format!(
        "sqlite://{}",
        dir.path().join("demo.db").display()
    ))
    .await
    .expect("store opens");
    let secret = JwtSecret::generate();
    let guide = realtime_server::demo::prepare(&store, &secret, "http://127.0.0.1:4567")
        .await
        .expect("demo prepares");
    let links: Vec<&str> = guide
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|word| word.starts_with("http://127.0.0.1:4567/"))
        .collect();
    assert_eq!(links.len(), store.list_users().await.expect("users").len());
    for link in links {
        let token = link
            .strip_prefix("http://127.0.0.1:4567/#token=")
            .unwrap_or_else(|| panic!("{link} carries no token in its fragment"));
        assert!(
            !token.is_empty() && !token.contains(['?', '&', '#']),
            "{link}"
        );
    }
    store.close().await;
}
