//! Signed HTTP callbacks, Stripe-style: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "t.body">`. One scheme for the payment gateway's webhooks to us and for our
//! webhooks to organizers, so both sides are checked by the same tested code.
//!
//! A header may carry several `v1` values (one per live secret while a secret
//! rotates); a verifier accepts the body if any of its secrets matches any of them.
//! Comparison is constant-time, and a timestamp outside the tolerance is refused so
//! a captured delivery cannot be replayed later.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Default window a signed timestamp may differ from the receiver's clock.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("the signature header is missing or malformed")]
    Malformed,
    #[error("the signed timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body`, one `v1` per secret (newest first while rotating).
pub fn header(secrets: &[&[u8]], timestamp: i64, body: &[u8]) -> String {
    let mut out = format!("t={timestamp}");
    for secret in secrets {
        out.push_str(",v1=");
        out.push_str(&sign(secret, timestamp, body));
    }
    out
}

/// Checks `header` against `body` with any of `secrets`; returns the signed
/// timestamp. `now` and the timestamp are unix seconds.
pub fn verify(
    header: &str,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => candidates.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            // Other schemes (v0, future versions) are ignored, as Stripe does.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        for candidate in &candidates {
            if mac(secret, timestamp, body).verify_slice(candidate).is_ok() {
                return Ok(timestamp);
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    #[test]
    fn a_signed_body_verifies_and_a_changed_one_does_not() {
        let h = header(&[b"whsec_a"], 1_700_000_000, BODY);
        assert_eq!(
            verify(&h, BODY, &[b"whsec_a"], 1_700_000_010, 300),
            Ok(1_700_000_000)
        );
        assert_eq!(
            verify(&h, br#"{"id":"evt_2"}"#, &[b"whsec_a"], 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, BODY, &[b"whsec_b"], 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_and_malformed_headers_are_refused() {
        let h = header(&[b"k"], 1_000, BODY);
        assert_eq!(
            verify(&h, BODY, &[b"k"], 1_000 + 301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&h, BODY, &[b"k"], 1_000 - 301, 300),
            Err(SignatureError::Stale)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(bad, BODY, &[b"k"], 1, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn rotation_signs_with_both_secrets_and_either_verifies() {
        let h = header(&[b"new", b"old"], 50, BODY);
        assert!(verify(&h, BODY, &[b"old"], 50, 300).is_ok());
        assert!(verify(&h, BODY, &[b"new"], 50, 300).is_ok());
        assert_eq!(h.matches("v1=").count(), 2);
    }
}
