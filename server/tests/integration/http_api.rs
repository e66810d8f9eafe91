//! The HTTP API: authentication, authorisation, validation, and what it stores.

use serde_json::{Value, json};

use crate::common::TestServer;

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<String>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = server
        .http()
        .request(method, format!("{}{path}", server.url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn health_reports_connected_sockets() {
    let server = TestServer::start().await;
    let (status, body) = call(&server, reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "ok", "connections": 0}))
    );
    let mut client = server.client("user-1", sio_wire::transport::TransportKind::Websocket);
    crate::common::connected(&mut client).await;
    let (_, body) = call(&server, reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(body["connections"], 1);
}

#[tokio::test]
async fn writes_need_a_valid_token_and_the_admin_role() {
    let server = TestServer::start().await;
    let body = Some(r#"{"status":"down"}"#);
    let put = reqwest::Method::PUT;
    let (status, error) = call(&server, put.clone(), "/api/v1/status/plex", None, body).await;
    assert_eq!(
        (status, error),
        (401, json!({"error": "Authentication required"}))
    );
    let (status, _) = call(
        &server,
        put.clone(),
        "/api/v1/status/plex",
        Some("bad".into()),
        body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &server,
        put.clone(),
        "/api/v1/status/plex",
        Some(server.token("user-3")),
        body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, error) = call(
        &server,
        put.clone(),
        "/api/v1/status/plex",
        Some(server.token("user-1")),
        body,
    )
    .await;
    assert_eq!(
        (status, error),
        (403, json!({"error": "Admin role required"}))
    );
    let (status, row) = call(
        &server,
        put,
        "/api/v1/status/plex",
        Some(server.token("admin-1")),
        body,
    )
    .await;
    assert_eq!(
        (status, row["status"].clone(), row["service"].clone()),
        (200, json!("down"), json!("plex"))
    );
    assert_eq!(
        server.store.service_statuses().await.expect("query")[1].status,
        "down"
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_and_store_nothing() {
    let server = TestServer::start().await;
    let admin = Some(server.token("admin-1"));
    let post = reqwest::Method::POST;
    for body in [
        "{not json",
        r#"{"userId":"user-1"}"#,
        r#"{"userId":"user-1","title":"","message":"m"}"#,
        r#"{"userId":"user-1","title":"t","message":"m","extra":1}"#,
        r#"{"userId":1,"title":"t","message":"m"}"#,
    ] {
        let (status, error) = call(
            &server,
            post.clone(),
            "/api/v1/notifications",
            admin.clone(),
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {error}"
        );
    }
    let put = reqwest::Method::PUT;
    for body in [
        r#"{"status":"up","uptime":101}"#,
        r#"{"status":"up","responseTime":-1}"#,
        r#"{"status":" "}"#,
    ] {
        let (status, _) = call(
            &server,
            put.clone(),
            "/api/v1/status/plex",
            admin.clone(),
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(
        server
            .store
            .notifications_for("user-1")
            .await
            .expect("query")
            .len(),
        2
    );
    assert_eq!(
        server.store.service_statuses().await.expect("query")[1].status,
        "up"
    );
}

#[tokio::test]
async fn notifications_for_unknown_users_are_404() {
    let server = TestServer::start().await;
    let body = Some(r#"{"userId":"ghost","title":"t","message":"m"}"#);
    let (status, error) = call(
        &server,
        reqwest::Method::POST,
        "/api/v1/notifications",
        Some(server.token("admin-1")),
        body,
    )
    .await;
    assert_eq!((status, error), (404, json!({"error": "User not found"})));
}

#[tokio::test]
async fn listing_shows_only_your_own_notifications_newest_first() {
    let server = TestServer::start().await;
    let (status, list) = call(
        &server,
        reqwest::Method::GET,
        "/api/v1/notifications",
        Some(server.token("user-1")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    assert_eq!(ids, ["n-alice-2", "n-alice-1"]);
    assert_eq!(list[0]["userId"], "user-1");
    assert_eq!(list[0]["createdAt"], "2026-01-02T00:00:00.000Z");
}

#[tokio::test]
async fn cors_allows_the_frontend_with_credentials() {
    let server = TestServer::start().await;
    let response = server
        .http()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/notifications", server.url()),
        )
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("request");
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let polling = server
        .http()
        .get(format!(
            "{}/socket.io/?EIO=4&transport=polling",
            server.url()
        ))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("request");
    assert_eq!(
        polling.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[tokio::test]
async fn roles_are_compared_without_case() {
    let server = TestServer::start().await;
    server
        .store
        .run_script(
            "UPDATE users SET role = 'ADMIN' WHERE id = 'admin-1';\n\
             UPDATE users SET role = 'User' WHERE id = 'user-1';",
        )
        .await
        .expect("upper-case roles are admitted");
    let body = Some(r#"{"status":"up"}"#);
    let (status, _) = call(
        &server,
        reqwest::Method::PUT,
        "/api/v1/status/plex",
        Some(server.token("admin-1")),
        body,
    )
    .await;
    assert_eq!(status, 200, "ADMIN is an admin");
    let (status, _) = call(
        &server,
        reqwest::Method::PUT,
        "/api/v1/status/plex",
        Some(server.token("user-1")),
        body,
    )
    .await;
    assert_eq!(status, 403, "User is a user");
}
