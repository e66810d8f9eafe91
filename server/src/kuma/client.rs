//! HTTP reads of Kuma's two public status-page endpoints, bounded in time and size.
//!
//! Kuma 1.23 never answers a request for an unknown slug, so every request carries a total
//! timeout, which also cuts off a reply that trickles in. Errors never carry the URL: it may
//! hold credentials for a proxy in front of Kuma.
//!
//! `https://` Kuma is read with rustls, trusting the system's roots plus `KUMA_CA_FILE`. A
//! certificate that does not verify is its own error, naming why (unknown issuer, expired, wrong
//! host), so `/health` and the log tell an operator what to fix; it is never accepted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{StatusCode, Url, header};
use serde::de::DeserializeOwned;

use super::api::{HeartbeatResponse, PageMonitor, ShapeError, Snapshot, StatusPageResponse};
use super::config::KumaConfig;

/// Largest reply read, in bytes. A page of 500 monitors with 100 beats each is about 4 MB.
pub const MAX_REPLY_BYTES: usize = 8 * 1024 * 1024;

/// Why a read failed; the text is what the log and `/health` show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("no complete answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("cannot reach Uptime Kuma: {0}")]
    Unreachable(String),
    #[error("Uptime Kuma's TLS certificate does not verify: {0}")]
    Certificate(String),
    /// Kuma (2.x) answered that it has no status page by this slug.
    #[error("status page not found (HTTP 404): check KUMA_STATUS_PAGE")]
    NotFound,
    /// A 404 that is not Kuma's own "Status Page Not Found": nothing at that path, so the path
    /// in KUMA_URL is wrong (a prefix Kuma is not served under, a proxy's other site).
    #[error("no Uptime Kuma API at this address (HTTP 404): check the path in KUMA_URL")]
    NoApiAtPath,
    /// An HTML page where JSON was expected: Kuma answers any unknown path with its web app,
    /// so KUMA_URL's path is wrong (or it names another web site).
    #[error("an HTML page instead of Uptime Kuma's API: check the path in KUMA_URL")]
    HtmlPage,
    #[error("Uptime Kuma answered HTTP {0}")]
    Status(u16),
    #[error("reply larger than {MAX_REPLY_BYTES} bytes")]
    TooLarge,
    #[error("reply is not a status-page JSON: {0}")]
    Malformed(String),
}

impl From<ShapeError> for FetchError {
    fn from(error: ShapeError) -> Self {
        Self::Malformed(error.to_string())
    }
}

/// Why the client for Kuma could not be built: the server refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum KumaClientError {
    #[error("cannot read KUMA_CA_FILE {}: {source}", path.display())]
    CaFileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("KUMA_CA_FILE {} holds no PEM certificate", path.display())]
    CaFileEmpty { path: PathBuf },
    #[error("KUMA_CA_FILE {}: {source}", path.display())]
    CaFileInvalid {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Reads one status page of one Kuma.
#[derive(Debug, Clone)]
pub struct KumaClient {
    http: reqwest::Client,
    timeout: Duration,
    page_url: Url,
    heartbeat_url: Url,
}

impl KumaClient {
    pub fn new(config: &KumaConfig) -> Result<Self, KumaClientError> {
        // rustls by name: a crate that enables reqwest's default (OpenSSL) backend in the same
        // build (the tests' rust_socketio does) would otherwise make it the one used, and
        // `certificate_failure` reads rustls's errors.
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.request_timeout)
            .user_agent(concat!("realtime-server/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            for certificate in read_ca_file(path)? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build()?;
        Ok(Self {
            http,
            timeout: config.request_timeout,
            page_url: config.endpoint(&["api", "status-page"]),
            heartbeat_url: config.endpoint(&["api", "status-page", "heartbeat"]),
        })
    }

    /// The monitors the status page shows.
    pub async fn monitors(&self) -> Result<Vec<PageMonitor>, FetchError> {
        let page: StatusPageResponse = self.get_json(&self.page_url).await?;
        Ok(page.monitors())
    }

    /// The newest beat and the uptime of every monitor on the page.
    pub async fn heartbeats(&self) -> Result<Snapshot, FetchError> {
        let reply: HeartbeatResponse = self.get_json(&self.heartbeat_url).await?;
        Ok(reply.into_snapshot()?)
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        let mut response = self
            .http
            .get(url.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| self.transport_error(error))?;
        let status = response.status();
        if !status.is_success() && status != StatusCode::NOT_FOUND {
            return Err(FetchError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_REPLY_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.transport_error(error))?
        {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        if status == StatusCode::NOT_FOUND {
            return Err(not_found(&body));
        }
        serde_json::from_slice(&body).map_err(|error| {
            if looks_like_html(&body) {
                FetchError::HtmlPage
            } else {
                FetchError::Malformed(error.to_string())
            }
        })
    }

    fn transport_error(&self, error: reqwest::Error) -> FetchError {
        if error.is_timeout() {
            return FetchError::Timeout(self.timeout);
        }
        if let Some(reason) = certificate_failure(&error) {
            return FetchError::Certificate(reason);
        }
        // reqwest's own text is generic ("error sending request"); the cause is in the chain.
        // `without_url` keeps the URL (and any credentials in it) out of the text.
        let error = error.without_url();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        FetchError::Unreachable(text)
    }
}

/// The certificates in a PEM file; a file with none is refused rather than trusted as empty.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, KumaClientError> {
    let pem = std::fs::read(path).map_err(|source| KumaClientError::CaFileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
        KumaClientError::CaFileInvalid {
            path: path.to_owned(),
            source,
        }
    })?;
    if certificates.is_empty() {
        return Err(KumaClientError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// Why the peer's certificate was refused, when that is what failed. rustls's error travels
/// inside an `io::Error` (tokio-rustls), itself inside another (hyper-rustls 0.27's
/// `io::Error::other`), inside hyper's connect error; an `io::Error`'s `source()` skips its own
/// payload, so each one is opened by hand.
fn certificate_failure(error: &reqwest::Error) -> Option<String> {
    use rustls::{CertificateError, Error as TlsError};
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(TlsError::InvalidCertificate(reason)) = tls_error(current) {
            return Some(match reason {
                CertificateError::UnknownIssuer => {
                    "issued by a CA this server does not trust (set KUMA_CA_FILE to that CA's \
                     PEM file)"
                        .to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the certificate has expired".to_owned()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the certificate is not valid yet (check both clocks)".to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "the certificate is not valid for KUMA_URL's host name".to_owned()
                }
                other => other.to_string(),
            });
        }
        cause = current.source();
    }
    None
}

/// The rustls error `error` is, or carries as the payload of nested `io::Error`s.
fn tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let payload = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())?;
    tls_error(payload)
}

/// Which 404 this is: Kuma 2.x answers an unknown slug with JSON
/// (`{"status":"fail","msg":"Status Page Not Found"}`); anything else answering 404 is not
/// Kuma's API.
fn not_found(body: &[u8]) -> FetchError {
    let kuma_says = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|reply| reply.get("msg").is_some_and(serde_json::Value::is_string));
    if kuma_says {
        FetchError::NotFound
    } else {
        FetchError::NoApiAtPath
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    body.trim_ascii_start().first() == Some(&b'<')
}
