//! Uptime Kuma behind HTTPS: the fake Kuma behind a TLS front whose certificates are made here.
//!
//! A certificate from a private CA named by `KUMA_CA_FILE` is polled like plain HTTP; a
//! self-signed one, one for another host and an expired one are refused, and `/health` and the
//! log say why; a CA file that cannot be used stops the server at start.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{FakeKuma, POLL, fixture, fresh, until};
use crate::common::{ServerProcess, TestServer, random_secret, seeded_database};
use realtime_server::kuma::KumaConfig;

/// A private certificate authority.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Authority {
    fn new() -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "homelab test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `host`, valid now unless `expired`.
    fn issue(&self, host: &str, expired: bool) -> Identity {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let certificate = params.signed_by(&key, &self.issuer).expect("signed");
        Identity {
            certificate: certificate.der().clone(),
            key,
        }
    }
}

/// What the TLS front presents.
struct Identity {
    certificate: CertificateDer<'static>,
    key: KeyPair,
}

impl Identity {
    fn self_signed(host: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        let certificate = params.self_signed(&key).expect("self-signed");
        Self {
            certificate: certificate.der().clone(),
            key,
        }
    }
}

/// Terminates TLS on a free loopback port and forwards each connection to the fake Kuma.
struct TlsFront {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TlsFront {
    async fn start(identity: Identity, backend: SocketAddr) -> Self {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.serialize_der()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![identity.certificate], key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            while let Ok((incoming, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to forward.
                    let Ok(mut tls) = acceptor.accept(incoming).await else {
                        return;
                    };
                    if let Ok(mut plain) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        Self { addr, task }
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.addr.port())
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn kuma_address(kuma: &FakeKuma) -> SocketAddr {
    *kuma.mock.address()
}

async fn serving_kuma() -> FakeKuma {
    let kuma = FakeKuma::start("home").await;
    kuma.serve(
        &fixture("2.x-status-page"),
        &fresh(fixture("2.x-heartbeat")),
    )
    .await;
    kuma
}

fn write_ca(dir: &Path, pem: &str) -> std::path::PathBuf {
    let path = dir.join("homelab-ca.pem");
    std::fs::write(&path, pem).expect("CA file written");
    path
}

fn tls_config(url: &str, ca_file: Option<std::path::PathBuf>) -> KumaConfig {
    let mut config = KumaConfig::new(url, "home")
        .expect("valid")
        .with_ca_file(ca_file)
        .expect("https takes a CA file");
    config.poll_interval = POLL;
    config.request_timeout = std::time::Duration::from_secs(2);
    config
}

/// The feed's `/health` once it has failed.
async fn failing_feed(server: &TestServer) -> Value {
    until("the feed failing", || async {
        server.health().await["kuma"]["state"] == "failing"
    })
    .await;
    server.health().await["kuma"].clone()
}

#[tokio::test]
async fn a_kuma_behind_a_private_ca_is_polled_with_kuma_ca_file() {
    let kuma = serving_kuma().await;
    let authority = Authority::new();
    let front = TlsFront::start(authority.issue("localhost", false), kuma_address(&kuma)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write_ca(dir.path(), &authority.pem);

    let server = TestServer::start_with_kuma(tls_config(&front.url("localhost"), Some(ca))).await;
    until("a successful poll over TLS", || async {
        server.health().await["kuma"]["state"] == "ok"
    })
    .await;
    assert!(
        kuma.requests_to("heartbeat/").await >= 1,
        "the polls went through the TLS front to Kuma"
    );
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_and_named() {
    let kuma = serving_kuma().await;
    let front = TlsFront::start(Identity::self_signed("localhost"), kuma_address(&kuma)).await;

    let server = TestServer::start_with_kuma(tls_config(&front.url("localhost"), None)).await;
    let feed = failing_feed(&server).await;
    let error = feed["error"].as_str().expect("an error text");
    assert!(
        error.starts_with("Uptime Kuma's TLS certificate does not verify: issued by a CA"),
        "{error}"
    );
    assert!(error.contains("KUMA_CA_FILE"), "says what to set: {error}");
    assert_eq!(
        kuma.requests_to("").await,
        0,
        "nothing was sent over a connection that did not verify"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_even_from_a_trusted_ca() {
    let kuma = serving_kuma().await;
    let authority = Authority::new();
    let front = TlsFront::start(authority.issue("localhost", true), kuma_address(&kuma)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write_ca(dir.path(), &authority.pem);

    let server = TestServer::start_with_kuma(tls_config(&front.url("localhost"), Some(ca))).await;
    let feed = failing_feed(&server).await;
    assert_eq!(
        feed["error"],
        "Uptime Kuma's TLS certificate does not verify: the certificate has expired"
    );
    assert_eq!(kuma.requests_to("").await, 0);
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_and_the_log_says_why() {
    let kuma = serving_kuma().await;
    let authority = Authority::new();
    let front = TlsFront::start(authority.issue("kuma.example", false), kuma_address(&kuma)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = write_ca(dir.path(), &authority.pem);
    let database = seeded_database(dir.path()).await;
    let (secret, _) = random_secret();

    let server = ServerProcess::start(
        &secret,
        &database,
        0,
        &[
            ("KUMA_URL", front.url("localhost").as_str()),
            ("KUMA_STATUS_PAGE", "home"),
            ("KUMA_POLL_MS", "50"),
            ("KUMA_CA_FILE", ca.to_str().expect("UTF-8 path")),
        ],
    )
    .await;
    let health_url = format!("http://{}/health", server.addr);
    until("the feed failing", || async {
        let health: Value = match reqwest::get(&health_url).await {
            Ok(reply) => reply.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        health["kuma"]["state"] == "failing"
    })
    .await;
    server.signal("TERM");
    let (status, logs) = server.exited().await;
    assert!(status.success(), "{logs}");
    assert!(
        logs.contains("the certificate is not valid for KUMA_URL's host name"),
        "the log names the failed check: {logs}"
    );
}

#[tokio::test]
async fn a_ca_file_that_cannot_be_used_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("written");
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            "https://127.0.0.1:9",
            &empty,
            format!("KUMA_CA_FILE {} holds no PEM certificate", empty.display()),
        ),
        (
            "https://127.0.0.1:9",
            &missing,
            format!("cannot read KUMA_CA_FILE {}", missing.display()),
        ),
        (
            "http://127.0.0.1:9",
            &empty,
            "KUMA_CA_FILE is set but KUMA_URL is not https://".to_owned(),
        ),
    ];
    let database = seeded_database(dir.path()).await;
    let (secret, _) = random_secret();
    for (url, ca_file, expected) in cases {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_realtime-server"))
            .args(["serve", "--port", "0"])
            .env("JWT_SECRET", &secret)
            .env("DATABASE_URL", &database)
            .env("KUMA_URL", url)
            .env("KUMA_STATUS_PAGE", "home")
            .env("KUMA_CA_FILE", ca_file)
            .output()
            .await
            .expect("server runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "refused to start with {url}");
        assert!(stderr.contains(&expected), "{expected:?} in: {stderr}");
    }
}
