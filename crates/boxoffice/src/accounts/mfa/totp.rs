//! RFC 6238 one-time codes (SHA-1, six digits, 30-second steps, one step of skew each
//! way) and the random material of the second factor: secrets, backup codes, the QR
//! code an authenticator app scans.
use boxoffice_domain::mfa::{BACKUP_CODE_CHARS, BACKUP_CODE_COUNT, TOTP_DIGITS};
use boxoffice_domain::Timestamp;
use rand::{Rng, RngCore};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

pub const STEP_SECS: u64 = 30;
/// Steps accepted either side of the current one (clock drift, slow typing).
pub const SKEW_STEPS: i64 = 1;
/// The issuer authenticator apps show.
pub const ISSUER: &str = "boxoffice";
/// Bytes of a secret: 160 bits, RFC 4226's recommendation for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn totp(secret: &[u8], digits: usize, account: &str) -> TOTP {
    // Unchecked: the RFC's test secret is shorter than the 128 bits `new` demands;
    // ours are always 160 bits.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        digits,
        0,
        STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
}

/// A fresh 160-bit secret, base32 (what users type into an app by hand).
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn secret_bytes(base32: &str) -> anyhow::Result<Vec<u8>> {
    Secret::Encoded(base32.to_owned())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("stored TOTP secret is not base32: {e:?}"))
}

/// The `otpauth://` URI of a secret, labelled `boxoffice:<email>`.
pub fn otpauth_uri(base32: &str, email: &str) -> anyhow::Result<String> {
    Ok(totp(&secret_bytes(base32)?, TOTP_DIGITS, email).get_url())
}

/// The URI as an SVG QR code.
pub fn qr_svg(uri: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(uri.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build())
}

/// The time step of an instant.
pub fn step_of(now: Timestamp) -> i64 {
    now.millis().div_euclid(1000) / STEP_SECS as i64
}

/// The code of one step.
pub fn code_at_step(base32: &str, step: i64) -> anyhow::Result<String> {
    let time = u64::try_from(step.max(0))? * STEP_SECS;
    Ok(totp(&secret_bytes(base32)?, TOTP_DIGITS, "").generate(time))
}

/// The step within the skew window whose code is `code`, latest first; compared in
/// constant time.
pub fn matching_step(base32: &str, code: &str, now: Timestamp) -> anyhow::Result<Option<i64>> {
    let current = step_of(now);
    let mut found = None;
    for step in (current - SKEW_STEPS..=current + SKEW_STEPS).rev() {
        let expected = code_at_step(base32, step)?;
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// Ten fresh backup codes, normalised (ten base32 characters each).
pub fn new_backup_codes() -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..BACKUP_CODE_COUNT)
        .map(|_| {
            (0..BACKUP_CODE_CHARS)
                .map(|_| char::from(BASE32[rng.gen_range(0..BASE32.len())]))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the 20-byte ASCII secret "12345678901234567890".
    const RFC_SECRET: &[u8] = b"12345678901234567890";
    const RFC_SHA1: &[(u64, &str)] = &[
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc_6238_test_vectors() {
        for (time, code) in RFC_SHA1 {
            assert_eq!(&totp(RFC_SECRET, 8, "").generate(*time), code, "T = {time}");
        }
    }

    #[test]
    fn six_digit_codes_and_the_skew_window() {
        let base32 = Secret::Raw(RFC_SECRET.to_vec()).to_encoded().to_string();
        for (time, code) in RFC_SHA1 {
            let now = Timestamp::from_millis(i64::try_from(*time).unwrap() * 1000);
            let six = &code[2..];
            assert_eq!(code_at_step(&base32, step_of(now)).unwrap(), six);
            assert_eq!(
                matching_step(&base32, six, now).unwrap(),
                Some(step_of(now))
            );
            // One step late or early still matches; two do not.
            let later = now.plus_secs(30);
            assert_eq!(
                matching_step(&base32, six, later).unwrap(),
                Some(step_of(now))
            );
            let earlier = now.plus_secs(-30);
            assert_eq!(
                matching_step(&base32, six, earlier).unwrap(),
                Some(step_of(now))
            );
            assert_eq!(
                matching_step(&base32, six, now.plus_secs(61)).unwrap(),
                None
            );
        }
        let now = Timestamp::from_millis(59_000);
        assert_eq!(matching_step(&base32, "000000", now).unwrap(), None);
    }

    #[test]
    fn secrets_uris_and_qr_codes() {
        let a = new_secret();
        assert_ne!(a, new_secret());
        assert_eq!(secret_bytes(&a).unwrap().len(), SECRET_BYTES);
        let uri = otpauth_uri(&a, "ana@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/boxoffice:ana%40example.com?"),
            "{uri}"
        );
        // SHA-1, six digits and 30 s are the defaults the URI leaves implicit.
        for part in [&format!("secret={a}"), "issuer=boxoffice"] {
            assert!(uri.contains(part), "{uri} lacks {part}");
        }
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    #[test]
    fn backup_codes_are_ten_distinct_base32_codes() {
        let codes = new_backup_codes();
        assert_eq!(codes.len(), BACKUP_CODE_COUNT);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        for c in &codes {
            assert_eq!(boxoffice_domain::mfa::parse_backup_code(c).unwrap(), *c);
        }
    }
}
