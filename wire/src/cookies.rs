//! A minimal cookie jar per client, for load balancers that keep a session on one node with a
//! cookie (HAProxy's `cookie SRV insert`): long-polling requests and the websocket upgrade of one
//! Engine.IO session must reach the node that holds it.
//!
//! It keeps `name=value` from every `Set-Cookie` a response carries and sends them all back on
//! the same client's later requests, as a browser does for one site with `withCredentials`.
//! Attributes (path, domain, expiry, `Secure`) are ignored: every request of a client goes to
//! the one server it was pointed at. An empty value removes the cookie.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Cookies of one client; clones share the same jar (a client's transports and reconnects).
#[derive(Debug, Clone, Default)]
pub struct CookieJar(Arc<Mutex<BTreeMap<String, String>>>);

impl CookieJar {
    /// Keeps the cookie a `Set-Cookie` header value sets; ignores a malformed one.
    pub fn store(&self, set_cookie: &str) {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            return;
        };
        let (name, value) = (name.trim(), value.trim().trim_matches('"'));
        if name.is_empty() {
            return;
        }
        let mut cookies = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if value.is_empty() {
            cookies.remove(name);
        } else {
            cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    /// Keeps every `Set-Cookie` of a response's headers.
    pub fn store_all<'a>(&self, set_cookies: impl IntoIterator<Item = &'a [u8]>) {
        for value in set_cookies {
            if let Ok(text) = std::str::from_utf8(value) {
                self.store(text);
            }
        }
    }

    /// The `Cookie` header to send (`a=1; b=2`, sorted by name), or `None` when empty.
    pub fn header(&self) -> Option<String> {
        let cookies = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cookies.is_empty() {
            return None;
        }
        Some(
            cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::CookieJar;

    #[test]
    fn keeps_name_and_value_and_sends_them_back_sorted() {
        let jar = CookieJar::default();
        assert_eq!(jar.header(), None);
        jar.store("SRV=b; path=/");
        jar.store("io=abc123; Path=/; HttpOnly; SameSite=Lax");
        assert_eq!(jar.header().as_deref(), Some("SRV=b; io=abc123"));
    }

    #[test]
    fn a_new_value_replaces_and_an_empty_one_removes() {
        let jar = CookieJar::default();
        jar.store("SRV=a");
        jar.store("SRV=b; Max-Age=60");
        assert_eq!(jar.header().as_deref(), Some("SRV=b"));
        jar.store("SRV=; Max-Age=0");
        assert_eq!(jar.header(), None);
    }

    #[test]
    fn malformed_headers_are_ignored() {
        let jar = CookieJar::default();
        jar.store("no equals sign");
        jar.store("=value-without-name");
        jar.store("");
        jar.store_all([&b"\xff\xfe=1"[..], b"ok=\"quoted\""]);
        assert_eq!(jar.header().as_deref(), Some("ok=quoted"));
    }

    #[test]
    fn clones_share_one_jar_and_separate_jars_do_not() {
        let jar = CookieJar::default();
        let same = jar.clone();
        let other = CookieJar::default();
        same.store("SRV=a");
        assert_eq!(jar.header().as_deref(), Some("SRV=a"));
        assert_eq!(other.header(), None);
    }
}
