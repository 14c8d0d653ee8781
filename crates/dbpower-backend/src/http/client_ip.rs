//! The client's address behind trusted proxies. A request's `X-Forwarded-For` is believed only when the
//! connection comes from a configured proxy (`trusted_proxies`): the client is then the right-most
//! address in the header that is not itself a trusted proxy. Anything else (no proxy, an untrusted peer
//! sending the header, an unreadable entry) falls back to the nearest address that is known.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::http::ClientIp;

/// At most this many `X-Forwarded-For` hops are examined (the header is attacker-controlled).
const MAX_HOPS: usize = 32;

/// Networks whose connections may speak for a client through `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Nobody: the socket peer is the client.
    pub(crate) fn none() -> TrustedProxies {
        TrustedProxies(Vec::new())
    }

    /// The loopback networks (a gateway on the same host).
    pub(crate) fn loopback() -> TrustedProxies {
        TrustedProxies(vec![
            (IpAddr::from([127, 0, 0, 0]), 8),
            (IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 128),
        ])
    }

    /// A comma-separated list of addresses and CIDR networks (`10.0.0.0/8`, `::1`), or `loopback`.
    pub(crate) fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("loopback") {
                out.extend(TrustedProxies::loopback().0);
                continue;
            }
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an IP address or CIDR network"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?}: the prefix length must be 0 to {max}"))?,
                None => max,
            };
            out.push((ip, bits));
        }
        Ok(TrustedProxies(out))
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(net, bits)| in_network(ip, *net, *bits))
    }

    /// The client of a connection from `peer` that carried these `X-Forwarded-For` values (in order).
    pub(crate) fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut candidate = canonical(peer);
        if !self.contains(candidate) {
            return candidate;
        }
        // Right to left, and only the last MAX_HOPS: nothing is collected from a hostile header.
        let hops = forwarded.rev().flat_map(|v| v.rsplit(',')).map(str::trim);
        for hop in hops.take(MAX_HOPS) {
            match parse_hop(hop) {
                Some(ip) => {
                    candidate = ip;
                    if !self.contains(ip) {
                        return ip;
                    }
                }
                None => return candidate,
            }
        }
        candidate
    }
}

/// An IPv4-mapped IPv6 address is its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if hop.len() > 64 {
        return None;
    }
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// Middleware: resolves the client address once per request and stores it as [`ClientIp`].
pub(crate) async fn layer(
    State(trusted): State<Arc<TrustedProxies>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = peer.map(|p| {
        trusted.client(
            p,
            req.headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    });
    req.extensions_mut().insert(ClientIp(client));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("parse");
        // An untrusted peer's header is ignored.
        assert_eq!(
            t.client(ip("203.0.113.9"), ["1.1.1.1"].into_iter()),
            ip("203.0.113.9")
        );
        // Through two trusted proxies; the left-most (client-written) entry is not believed.
        assert_eq!(
            t.client(
                ip("127.0.0.1"),
                ["6.6.6.6, 198.51.100.7", "10.1.2.3"].into_iter()
            ),
            ip("198.51.100.7")
        );
        // All trusted: the left-most known hop.
        assert_eq!(
            t.client(ip("127.0.0.1"), ["10.0.0.2"].into_iter()),
            ip("10.0.0.2")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            t.client(ip("127.0.0.1"), ["1.1.1.1, bogus, 10.0.0.5"].into_iter()),
            ip("10.0.0.5")
        );
        // Ports and brackets are read; mapped IPv6 is IPv4.
        assert_eq!(
            t.client(ip("::ffff:127.0.0.1"), ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            TrustedProxies::none().client(ip("127.0.0.1"), ["1.1.1.1"].into_iter()),
            ip("127.0.0.1")
        );
        // Several header lines read as one list, right to left.
        assert_eq!(
            t.client(
                ip("127.0.0.1"),
                ["198.51.100.1", "10.0.0.1, 10.0.0.2"].into_iter()
            ),
            ip("198.51.100.1")
        );
        // A huge list of trusted hops: only the last 32 are walked, and the last one reached stands.
        let long = vec!["10.9.9.9"; 100_000].join(", ") + ", 10.0.0.7";
        assert_eq!(
            t.client(ip("127.0.0.1"), [long.as_str()].into_iter()),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn lists_parse_or_say_what_is_wrong() {
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        assert!(
            TrustedProxies::parse("loopback")
                .expect("loopback")
                .contains(ip("::1"))
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("example.com").is_err());
        let all = TrustedProxies::parse("0.0.0.0/0").expect("all");
        assert!(all.contains(ip("8.8.8.8")) && !all.contains(ip("::2")));
    }
}
