//! What the feed is told: which Kuma, which status page, and its timings.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

/// Default time between polls. Kuma caches these replies for 60 s and drops the cache on every
/// status change, so 30 s sees a change within one poll and costs Kuma little.
pub const DEFAULT_POLL: Duration = Duration::from_secs(30);
/// Default age after which a monitor's last beat no longer counts.
pub const DEFAULT_STALE: Duration = Duration::from_secs(600);
/// Default limit for one request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default length of the polling lease: how long a cluster goes without a poller after the
/// holder dies without releasing it. Renewed every third of it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KumaConfigError {
    /// The URL's text is not repeated: it may hold credentials.
    #[error("KUMA_URL is not an absolute http:// or https:// URL")]
    InvalidUrl,
    #[error("KUMA_URL uses {0}://; Uptime Kuma is read over http:// or https://")]
    UnsupportedScheme(String),
    #[error("KUMA_CA_FILE is set but KUMA_URL is not https://: the file would not be used")]
    CaFileWithoutTls,
    #[error("KUMA_STATUS_PAGE is required with KUMA_URL")]
    MissingStatusPage,
    #[error("KUMA_URL is required with KUMA_STATUS_PAGE")]
    MissingUrl,
    #[error("KUMA_POLL_MS, KUMA_STALE_MS and KUMA_TIMEOUT_MS must be above 0")]
    ZeroDuration,
}

/// A validated feed configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct KumaConfig {
    /// Kuma's base URL; a path prefix (Kuma behind `/kuma/`) is kept.
    pub url: Url,
    /// The status page's slug.
    pub status_page: String,
    pub poll_interval: Duration,
    pub stale_after: Duration,
    pub request_timeout: Duration,
    /// See [`DEFAULT_LEASE_TTL`].
    pub lease_ttl: Duration,
    /// PEM file of the CA(s) that issued Kuma's certificate, trusted besides the system's roots:
    /// most Kuma installs sit behind a reverse proxy with a certificate from a private CA.
    pub ca_file: Option<PathBuf>,
}

impl KumaConfig {
    /// A configuration with the default timings.
    pub fn new(url: &str, status_page: &str) -> Result<Self, KumaConfigError> {
        let url = Url::parse(url.trim()).map_err(|_| KumaConfigError::InvalidUrl)?;
        if url.cannot_be_a_base() || url.host().is_none() {
            return Err(KumaConfigError::InvalidUrl);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(KumaConfigError::UnsupportedScheme(url.scheme().to_owned()));
        }
        let status_page = status_page.trim().trim_matches('/');
        if status_page.is_empty() {
            return Err(KumaConfigError::MissingStatusPage);
        }
        Ok(Self {
            url,
            status_page: status_page.to_owned(),
            poll_interval: DEFAULT_POLL,
            stale_after: DEFAULT_STALE,
            request_timeout: DEFAULT_TIMEOUT,
            lease_ttl: DEFAULT_LEASE_TTL,
            ca_file: None,
        })
    }

    /// Trusts the CA(s) in `ca_file` for an `https://` Kuma.
    pub fn with_ca_file(self, ca_file: Option<PathBuf>) -> Result<Self, KumaConfigError> {
        if ca_file.is_some() && self.url.scheme() != "https" {
            return Err(KumaConfigError::CaFileWithoutTls);
        }
        Ok(Self { ca_file, ..self })
    }

    /// The feed's configuration from the settings, `None` when neither URL nor page is set.
    pub fn from_settings(
        url: Option<&str>,
        status_page: Option<&str>,
        poll_ms: u64,
        stale_ms: u64,
        timeout_ms: u64,
    ) -> Result<Option<Self>, KumaConfigError> {
        let blank = |value: Option<&str>| value.is_none_or(|v| v.trim().is_empty());
        match (blank(url), blank(status_page)) {
            (true, true) => return Ok(None),
            (true, false) => return Err(KumaConfigError::MissingUrl),
            (false, true) => return Err(KumaConfigError::MissingStatusPage),
            (false, false) => {}
        }
        if poll_ms == 0 || stale_ms == 0 || timeout_ms == 0 {
            return Err(KumaConfigError::ZeroDuration);
        }
        let mut config = Self::new(url.unwrap_or_default(), status_page.unwrap_or_default())?;
        config.poll_interval = Duration::from_millis(poll_ms);
        config.stale_after = Duration::from_millis(stale_ms);
        config.request_timeout = Duration::from_millis(timeout_ms);
        Ok(Some(config))
    }

    /// `<url>/<segments...>/<status page>`, each segment percent-encoded.
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments).push(&self.status_page);
        }
        url
    }

    /// The URL without credentials, query or fragment: what logs may show.
    pub fn display_url(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        let port = self.url.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{}://{host}{port}{}", self.url.scheme(), self.url.path())
    }
}

impl fmt::Debug for KumaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KumaConfig")
            .field("url", &self.display_url())
            .field("status_page", &self.status_page)
            .field("poll_interval", &self.poll_interval)
            .field("stale_after", &self.stale_after)
            .field("request_timeout", &self.request_timeout)
            .field("lease_ttl", &self.lease_ttl)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix_and_encode_the_slug() {
        let config = KumaConfig::new("http://kuma.lan:3001/kuma/", "home page").expect("valid");
        assert_eq!(
            config
                .endpoint(&["api", "status-page", "heartbeat"])
                .as_str(),
            "http://kuma.lan:3001/kuma/api/status-page/heartbeat/home%20page"
        );
        let bare = KumaConfig::new("http://kuma.lan:3001", "home").expect("valid");
        assert_eq!(
            bare.endpoint(&["api", "status-page"]).as_str(),
            "http://kuma.lan:3001/api/status-page/home"
        );
    }

    #[test]
    fn credentials_never_show() {
        let config = KumaConfig::new("http://admin:hunter2@kuma.lan:3001/x?token=abc", "home")
            .expect("valid");
        assert_eq!(config.display_url(), "http://kuma.lan:3001/x");
        assert!(!format!("{config:?}").contains("hunter2"));
        let error = KumaConfig::new("http//admin:hunter2@kuma", "home").expect_err("invalid");
        assert!(!error.to_string().contains("hunter2"));
    }

    #[test]
    fn settings_are_all_or_nothing() {
        assert_eq!(KumaConfig::from_settings(None, None, 1, 1, 1), Ok(None));
        assert_eq!(
            KumaConfig::from_settings(Some("http://kuma"), Some(" "), 1, 1, 1),
            Err(KumaConfigError::MissingStatusPage)
        );
        assert_eq!(
            KumaConfig::from_settings(None, Some("home"), 1, 1, 1),
            Err(KumaConfigError::MissingUrl)
        );
        assert_eq!(
            KumaConfig::from_settings(Some("ftp://kuma"), Some("home"), 1, 1, 1),
            Err(KumaConfigError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(
            KumaConfig::from_settings(Some("http://kuma"), Some("home"), 0, 1, 1),
            Err(KumaConfigError::ZeroDuration)
        );
        let config = KumaConfig::from_settings(Some("http://kuma"), Some("home"), 250, 900, 100)
            .expect("valid")
            .expect("on");
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.stale_after, Duration::from_millis(900));
    }

    #[test]
    fn a_ca_file_needs_an_https_url() {
        let plain = KumaConfig::new("http://kuma.lan", "home").expect("valid");
        assert_eq!(
            plain.with_ca_file(Some("ca.pem".into())),
            Err(KumaConfigError::CaFileWithoutTls)
        );
        let tls = KumaConfig::new("https://kuma.lan", "home")
            .expect("valid")
            .with_ca_file(Some("ca.pem".into()))
            .expect("https takes a CA file");
        assert_eq!(tls.ca_file, Some(PathBuf::from("ca.pem")));
    }
}
