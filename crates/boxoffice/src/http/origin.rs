//! Where a request comes from: the client's address, its user agent and its request id.
//! Rate limits key anonymous callers by the address and the audit log records all three,
//! so both must agree on one answer, including behind a trusted reverse proxy.
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{header, request::Parts, HeaderMap};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Longest user agent kept; the rest of a longer one is not worth storing.
const MAX_USER_AGENT: usize = 512;

/// The caller's origin, as far as this server can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// The origin of work that no request started (command line, background jobs).
    pub fn internal() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            user_agent: None,
            request_id: None,
        }
    }

    pub fn of(parts: &Parts, trusted_proxy_header: Option<&str>) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Self {
            ip: client_ip(&parts.headers, peer, trusted_proxy_header),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| clip(ua, MAX_USER_AGENT).to_owned()),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Self::of(
            parts,
            state.config.trusted_proxy_header.as_deref(),
        ))
    }
}

/// The client's address: the socket peer, unless a trusted proxy in front of us names
/// the client in `trusted_header`. Of a list (`X-Forwarded-For: client, proxy1`), the
/// last entry is the one our own proxy appended; earlier ones are the caller's word.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted_header: Option<&str>,
) -> IpAddr {
    let forwarded = trusted_header.and_then(|name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse::<IpAddr>().ok())
    });
    forwarded
        .or(peer.map(|p| p.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_peer_is_the_client_unless_a_proxy_is_trusted() {
        let peer = Some("10.0.0.5:40000".parse().unwrap());
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_ip(&h, peer, None).to_string(), "10.0.0.5");
        assert_eq!(
            client_ip(&h, peer, Some("x-forwarded-for")).to_string(),
            "203.0.113.9"
        );
    }

    #[test]
    fn only_the_entry_our_proxy_appended_counts() {
        let peer = Some("10.0.0.5:40000".parse().unwrap());
        let spoofed = headers(&[
            ("x-forwarded-for", "1.2.3.4, 198.51.100.7"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            client_ip(&spoofed, peer, Some("x-forwarded-for")).to_string(),
            "203.0.113.9"
        );
        let garbage = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(
            client_ip(&garbage, peer, Some("x-forwarded-for")).to_string(),
            "10.0.0.5"
        );
    }

    #[test]
    fn long_user_agents_are_clipped_on_a_character_boundary() {
        let ua = "é".repeat(400);
        let clipped = clip(&ua, MAX_USER_AGENT);
        assert!(clipped.len() <= MAX_USER_AGENT);
        assert!(ua.starts_with(clipped));
    }
}
