//! Who is at the other end of a request, for the audit and refusal log lines (and so for
//! fail2ban): the peer's address, or, when the peer is a proxy the operator trusts
//! (`TRUSTED_PROXIES`), the client address that proxy forwarded in `X-Forwarded-For`.
//!
//! The forwarded header is believed only from a trusted peer: anyone else could write any
//! address into it and have a bystander banned. Behind several trusted proxies the header is read
//! from its right end, skipping trusted hops; the first other address is the client (the entries
//! left of it were written by the client itself, so they prove nothing).
//!
//! The accept loop ([`crate::http_server`]) attaches the peer address to each request
//! ([`axum::extract::ConnectInfo`]); [`attach`] turns it into a [`ClientAddr`], which handlers and
//! Socket.IO middleware read from the request's extensions (socketioxide keeps the handshake
//! request's head for the socket's life).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;

/// The client's address as the logs show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ClientAddr {
    /// The address attached to a request (or a Socket.IO handshake's request), if any.
    pub fn of(extensions: &axum::http::Extensions) -> Option<Self> {
        extensions.get::<Self>().copied()
    }
}

/// Peers whose `X-Forwarded-For` is believed: addresses and networks (`127.0.0.1`,
/// `10.0.0.0/8`, `::1`, `fd00::/8`). Empty by default: no header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an IP address or network (like 127.0.0.1, 10.0.0.0/8 or ::1)")]
pub struct TrustedProxiesError(String);

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    /// A comma-separated list; blanks are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| Network::parse(entry).ok_or_else(|| TrustedProxiesError(entry.into())))
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client behind a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            // A hop that is not an address ends the trail: the last good one is the best known.
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// An address with a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = addr.parse::<IpAddr>().ok()?.to_canonical();
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|p| *p <= bits)?,
            None => bits,
        };
        Some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Middleware: replaces the peer address the accept loop attached with the [`ClientAddr`] it
/// stands for.
pub async fn attach(State(trusted): State<TrustedProxies>, mut request: Request) -> Request {
    if let Some(ConnectInfo(peer)) = request.extensions_mut().remove::<ConnectInfo<SocketAddr>>() {
        let client = trusted.client(peer.ip(), request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn networks_parse_and_match() {
        let trusted: TrustedProxies = " 127.0.0.1, 10.0.0.0/8 ,fd00::/8,".parse().expect("valid");
        assert!(trusted.trusts(ip("127.0.0.1")));
        assert!(trusted.trusts(ip("::ffff:127.0.0.1")), "v4-mapped is v4");
        assert!(!trusted.trusts(ip("127.0.0.2")));
        assert!(trusted.trusts(ip("10.200.3.4")));
        assert!(!trusted.trusts(ip("11.0.0.1")));
        assert!(trusted.trusts(ip("fd12::1")));
        assert!(!trusted.trusts(ip("fe80::1")));
        let everything: TrustedProxies = "0.0.0.0/0".parse().expect("valid");
        assert!(everything.trusts(ip("203.0.113.9")));
        for bad in ["localhost", "10.0.0.0/33", "10.0.0.0/", "::1/129"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_peer() {
        let none = TrustedProxies::default();
        let spoofed = forwarded(&["198.51.100.7"]);
        assert_eq!(none.client(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        let proxy: TrustedProxies = "127.0.0.1".parse().expect("valid");
        assert_eq!(proxy.client(ip("203.0.113.9"), &spoofed), ip("203.0.113.9"));
        assert_eq!(proxy.client(ip("127.0.0.1"), &spoofed), ip("198.51.100.7"));
        assert_eq!(
            proxy.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1"),
            "no header: the proxy itself"
        );
    }

    #[test]
    fn the_header_is_read_from_the_right_skipping_trusted_hops() {
        let proxies: TrustedProxies = "127.0.0.1, 10.0.0.0/8".parse().expect("valid");
        // The client wrote the first entry itself; 198.51.100.7 reached the first proxy.
        let chain = forwarded(&["1.2.3.4, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &chain), ip("198.51.100.7"));
        let garbage = forwarded(&["nonsense, 10.0.0.5"]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &garbage), ip("10.0.0.5"));
    }
}
