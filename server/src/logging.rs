//! Log output: the tracing subscriber (text or JSON on stderr, level by `RUST_LOG`) and the
//! redaction of secrets from every line it writes.
//!
//! Our own code logs ids, never tokens, but dependencies print what they hold: at `debug`
//! socketioxide prints a handshake's auth payload whole (`auth: Some(Str("{\"token\":\"eyJ...`)
//! and every packet it parses. Two ways to keep that out were weighed:
//!
//! - capping the level of the targets known to leak (`socketioxide=info`): it silences output an
//!   operator turned debug on to see, and misses the next leak, from a target not on the list,
//!   an upgraded dependency, or a format we did not foresee;
//! - redacting the formatted line on its way out ([`RedactingWriter`]): every line, from any
//!   target, at any level, in either format, passes one place that knows what a secret looks
//!   like. This is the one used.
//!
//! What is replaced by `<redacted>`: JWT-shaped strings (`eyJ` + two more base64url segments;
//! every JWT's header starts `{"`, which is `eyJ`), the credentials after `Bearer ` or `Basic `,
//! the password of a URL (`scheme://user:PASSWORD@host`), `password=...` pairs, and the literal
//! values of the secrets this process was configured with ([`Secrets`]: the JWT secret, the
//! database, Redis and Kuma passwords), so one printed alone is caught too. A line without any
//! of their markers is written untouched; the check is a scan of the line, far cheaper than
//! formatting it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Shortest configured secret also replaced where it stands alone: a shorter one (a 3-letter
/// password) would blank out ordinary words, and is still replaced inside a URL.
pub const MIN_LITERAL_SECRET_LEN: usize = 6;

/// The patterns, compiled once. Each keeps a prefix (group `keep`) and a suffix (group `tail`)
/// and replaces what lies between.
static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // A JWT (or its first two segments, should a dependency cut it).
        r"(?P<keep>)eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?(?P<tail>)",
        // An Authorization header's credentials: `Bearer` in any case (the word is rare in
        // logs), `Basic` followed by base64 only (the word is not rare).
        r#"(?i)(?P<keep>\bbearer\s+)[^\s"',;\\]+(?P<tail>)"#,
        r"(?P<keep>\bBasic\s+)[A-Za-z0-9+/]{4,}=*(?P<tail>)",
        // A URL's password: `scheme://user:password@`.
        r#"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@"]*:)[^\s/@"]+(?P<tail>@)"#,
        // `password=...` in a query string or a key-value connection string.
        r#"(?i)(?P<keep>\b(?:password|passwd|pwd)=)[^\s&"']+(?P<tail>)"#,
    ]
    .iter()
    .map(|pattern| Regex::new(pattern).unwrap_or_else(|error| panic!("{pattern}: {error}")))
    .collect()
});

/// The secrets this process was configured with, replaced wherever they appear.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// Adds a secret value (the JWT secret), in the forms a log line may carry it: as it is and
    /// escaped inside a JSON or `Debug` string.
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_LITERAL_SECRET_LEN {
            return;
        }
        for form in [
            secret.to_owned(),
            secret.escape_debug().to_string(),
            serde_json::to_string(secret)
                .map(|quoted| quoted.trim_matches('"').to_owned())
                .unwrap_or_default(),
        ] {
            if form.len() >= MIN_LITERAL_SECRET_LEN && !self.0.contains(&form) {
                self.0.push(form);
            }
        }
    }

    /// Adds the password of a URL (`postgres://user:password@host/db`), if it has one, both as
    /// written (percent-encoded) and decoded.
    pub fn add_url_password(&mut self, url: &str) {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return;
        };
        let Some(password) = parsed.password() else {
            return;
        };
        self.add(password);
        if let Some(decoded) = percent_decode(password) {
            self.add(&decoded);
        }
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Replaces every secret in `line`; borrows it when there is none.
pub fn redact<'a>(line: &'a str, secrets: &Secrets) -> Cow<'a, str> {
    let mut text = Cow::Borrowed(line);
    for secret in &secrets.0 {
        if text.contains(secret.as_str()) {
            text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
        }
    }
    for pattern in PATTERNS.iter() {
        if pattern.is_match(&text) {
            let replaced = pattern
                .replace_all(&text, format!("${{keep}}{REDACTED}${{tail}}").as_str())
                .into_owned();
            text = Cow::Owned(replaced);
        }
    }
    text
}

/// Makes a [`RedactingWriter`] per log event; the subscriber's writer.
#[derive(Clone)]
pub struct Redacting<W> {
    inner: W,
    secrets: Arc<Secrets>,
}

impl<W> Redacting<W> {
    pub fn new(inner: W, secrets: Secrets) -> Self {
        Self {
            inner,
            secrets: Arc::new(secrets),
        }
    }
}

impl<'a, W> MakeWriter<'a> for Redacting<W>
where
    W: MakeWriter<'a>,
{
    type Writer = RedactingWriter<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            secrets: self.secrets.clone(),
            line: Vec::new(),
        }
    }
}

/// Collects one event's formatted text and writes it, redacted, when dropped: a secret split
/// over several `write` calls is still seen whole.
pub struct RedactingWriter<W: Write> {
    inner: W,
    secrets: Arc<Secrets>,
    line: Vec<u8>,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let redacted = redact(&text, &self.secrets);
        // Nowhere to report a failed write to stderr.
        let _ = self.inner.write_all(redacted.as_bytes());
        let _ = self.inner.flush();
    }
}

/// Installs the subscriber: `format` on stderr, `RUST_LOG` (default `info`), every line
/// redacted of `secrets` and of anything shaped like a credential.
pub fn init(format: LogFormat, secrets: Secrets) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: never into a file or a pipe, never with NO_COLOR
    // set to anything but the empty string (no-color.org).
    use std::io::IsTerminal as _;
    let colour = io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(Redacting::new(io::stderr, secrets));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiJ1c2VyLTEiLCJleHAiOjE3OTk5OTk5OTl9.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLXRva2Vu";

    fn clean(line: &str) -> String {
        redact(line, &Secrets::default()).into_owned()
    }

    #[test]
    fn a_jwt_is_redacted_wherever_it_stands() {
        let socketioxide = format!(r#"auth: Some(Str("{{\"token\":\"{TOKEN}\"}}"))"#);
        assert_eq!(
            clean(&socketioxide),
            r#"auth: Some(Str("{\"token\":\"<redacted>\"}"))"#
        );
        let (head, _) = TOKEN.rsplit_once('.').expect("three parts");
        assert_eq!(clean(&format!("cut {head}")), "cut <redacted>");
    }

    #[test]
    fn bearer_and_basic_credentials_are_redacted() {
        assert_eq!(
            clean("authorization: Bearer abc.def-not-a-jwt"),
            "authorization: Bearer <redacted>"
        );
        assert_eq!(
            clean(r#"{"authorization":"bearer x","n":1}"#),
            r#"{"authorization":"bearer <redacted>","n":1}"#
        );
        assert_eq!(clean("Basic YWRtaW46aHVudGVyMg=="), "Basic <redacted>");
    }

    #[test]
    fn url_passwords_are_redacted_and_the_rest_kept() {
        assert_eq!(
            clean("connecting to postgres://app:s3cr%40t@db.lan:5432/realtime"),
            "connecting to postgres://app:<redacted>@db.lan:5432/realtime"
        );
        assert_eq!(
            clean("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:<redacted>@127.0.0.1:6379/0"
        );
        assert_eq!(
            clean("postgres://db.lan:5432/x?password=hunter2&sslmode=disable"),
            "postgres://db.lan:5432/x?password=<redacted>&sslmode=disable"
        );
        let plain = "GET http://127.0.0.1:4000/health?x=1 user@example.com 10:30:00 took 3 ms";
        assert_eq!(clean(plain), plain, "nothing secret, nothing changed");
    }

    #[test]
    fn configured_secrets_are_redacted_in_every_form() {
        let mut secrets = Secrets::default();
        secrets.add("jwt-secret-0123456789-abcdefghijklmnop");
        secrets.add_url_password("postgres://app:pa%22ss%2Fword@db/x");
        secrets.add("tiny");
        let line = r#"secret jwt-secret-0123456789-abcdefghijklmnop, password "pa\"ss/word" or pa"ss/word, tiny"#;
        assert_eq!(
            redact(line, &secrets),
            r#"secret <redacted>, password "<redacted>" or <redacted>, tiny"#
        );
    }
}
