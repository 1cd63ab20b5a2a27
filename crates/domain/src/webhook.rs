//! Organizer webhooks: which outbox events an endpoint may subscribe to, what a valid
//! endpoint URL is, and the retry schedule. One list here feeds both the validator and
//! the API schema's enum, so the two cannot drift.
use crate::booking::EVENT_RESERVED;
use crate::validate::TextRule;

/// Event types an endpoint can subscribe to: the booking life cycle and payments.
/// Every payload is JSON carrying the `show_id` (and, for payments, the `booking_id`)
/// it concerns.
pub const EVENT_TYPES: [&str; 12] = [
    EVENT_RESERVED,
    "booking.payment_started",
    "booking.payment_failed",
    "booking.confirmed",
    "booking.cancelled",
    "booking.expired",
    "booking.refunded",
    "booking.partially_refunded",
    "payment.succeeded",
    "payment.failed",
    "refund.succeeded",
    "refund.failed",
];

/// The test event `POST …/ping` sends, whatever the endpoint subscribed to.
pub const PING: &str = "webhook.ping";

/// Every `type` a delivery can carry: the subscribable ones and the ping.
pub fn delivered_types() -> Vec<&'static str> {
    let mut all = EVENT_TYPES.to_vec();
    all.push(PING);
    all
}

/// Longest endpoint URL, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// An `http(s)` URL with a host, no credentials and no white space (the API schema's
/// pattern; `parse_url` also applies the scheme policy).
pub const URL_PATTERN: &str = "^https?://[^/?#@\\s]+(?:[/?#]\\S*)?$";
/// Optional description of an endpoint: one line, up to 200 characters.
pub const DESCRIPTION: TextRule = TextRule {
    required: false,
    max: 200,
    multiline: false,
};
/// Prefix of every endpoint secret (`whsec_…`).
pub const SECRET_PREFIX: &str = "whsec_";

/// Checks an endpoint URL: `https` (or `http` when `allow_http`), a host, no user
/// name or password (they would be shown in every listing), at most
/// [`MAX_URL_CHARS`]. Returns it as given.
pub fn parse_url(raw: &str, allow_http: bool) -> Result<String, String> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters".into());
    }
    let rest = if let Some(rest) = raw.strip_prefix("https://") {
        rest
    } else if let Some(rest) = raw.strip_prefix("http://") {
        if !allow_http {
            return Err("must use https".into());
        }
        rest
    } else {
        return Err(if allow_http {
            "must be an http or https URL".into()
        } else {
            "must be an https URL".into()
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(h, _)| h),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("must name a host".into());
    }
    Ok(raw.to_owned())
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// shared (CGNAT), unique-local, multicast, broadcast, unspecified or documentation.
/// Endpoints are refused anything else unless the platform allows it, so an
/// organizer cannot make the platform call its own network.
pub fn is_public_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_address(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Checks a subscription: at least one type, each from [`EVENT_TYPES`]; returns them
/// without repeats, in the order of that list.
pub fn parse_event_types(raw: &[String]) -> Result<Vec<String>, String> {
    if raw.is_empty() {
        return Err("must name at least one event type".into());
    }
    if let Some(bad) = raw.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(format!(
            "unknown event type {bad:?}; must be among {}",
            EVENT_TYPES.join(", ")
        ));
    }
    Ok(EVENT_TYPES
        .iter()
        .filter(|t| raw.iter().any(|r| r == *t))
        .map(|t| (*t).to_owned())
        .collect())
}

/// Delay before the next attempt after `attempts` failed ones: exponential
/// (`base`, doubling, at most `cap`) with full jitter, `unit` being a uniform draw in
/// `[0, 1)`. Full jitter spreads retries of many deliveries that failed together.
pub fn retry_delay_ms(attempts: u32, base_ms: i64, cap_ms: i64, unit: f64) -> i64 {
    let exp = attempts.saturating_sub(1).min(40);
    let ceiling = base_ms
        .max(1)
        .saturating_mul(1_i64 << exp)
        .min(cap_ms.max(1));
    ((ceiling as f64) * unit.clamp(0.0, 1.0)).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::BookingAction;

    #[test]
    fn every_booking_event_is_subscribable() {
        for a in BookingAction::ALL {
            assert!(EVENT_TYPES.contains(&a.event_type()), "{a:?}");
        }
        assert!(EVENT_TYPES.contains(&EVENT_RESERVED));
        assert!(!EVENT_TYPES.contains(&PING));
        assert_eq!(delivered_types().len(), EVENT_TYPES.len() + 1);
    }

    #[test]
    fn urls_follow_the_scheme_policy() {
        assert!(parse_url("https://hooks.example.com/boxoffice", false).is_ok());
        assert!(parse_url("https://hooks.example.com:8443/x?y=1", false).is_ok());
        assert!(parse_url("https://[::1]:8443/x", false).is_ok());
        assert_eq!(
            parse_url("http://hooks.example.com/x", false).unwrap_err(),
            "must use https"
        );
        assert!(parse_url("http://127.0.0.1:9/x", true).is_ok());
        for bad in [
            "ftp://example.com",
            "example.com/x",
            "https://",
            "https:///path",
            "https://:443/",
            "https://user:pw@example.com/",
            "https://exa mple.com/",
            "javascript:alert(1)",
        ] {
            assert!(parse_url(bad, true).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(parse_url(&long, false).is_err());
    }

    #[test]
    fn the_pattern_matches_what_the_parser_accepts() {
        let re = regex::Regex::new(URL_PATTERN).unwrap();
        for ok in ["https://a.example/x", "http://127.0.0.1:9/h?x=1#f"] {
            assert!(re.is_match(ok) && parse_url(ok, true).is_ok(), "{ok}");
        }
        for bad in ["https://u@a.example/", "ftp://a", "https:// a", "https://"] {
            assert!(!re.is_match(bad) && parse_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public_address(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public_address(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn subscriptions_are_closed_and_deduplicated() {
        let types = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_event_types(&types(&[
                "booking.confirmed",
                "booking.reserved",
                "booking.confirmed"
            ]))
            .unwrap(),
            ["booking.reserved", "booking.confirmed"]
        );
        assert!(parse_event_types(&[]).is_err());
        assert!(parse_event_types(&types(&["booking.exploded"]))
            .unwrap_err()
            .contains("booking.exploded"));
        assert!(parse_event_types(&types(&[PING])).is_err());
    }

    #[test]
    fn retries_back_off_exponentially_with_full_jitter_up_to_the_cap() {
        assert_eq!(retry_delay_ms(1, 10_000, 3_600_000, 1.0), 10_000);
        assert_eq!(retry_delay_ms(2, 10_000, 3_600_000, 1.0), 20_000);
        assert_eq!(retry_delay_ms(4, 10_000, 3_600_000, 0.5), 40_000);
        assert_eq!(retry_delay_ms(30, 10_000, 3_600_000, 1.0), 3_600_000);
        assert_eq!(retry_delay_ms(200, 10_000, 3_600_000, 1.0), 3_600_000);
        assert_eq!(retry_delay_ms(3, 10_000, 3_600_000, 0.0), 0);
        for n in 1..50 {
            let d = retry_delay_ms(n, 10_000, 3_600_000, 0.999);
            assert!((0..=3_600_000).contains(&d));
        }
    }
}
