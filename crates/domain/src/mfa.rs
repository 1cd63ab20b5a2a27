//! Rules of the second factor: the shape of one-time codes, backup codes and the
//! device labels the API accepts, kept here so the OpenAPI schema and the checks
//! are built from the same constants.

/// Digits of a TOTP code (RFC 6238 with SHA-1, 30-second steps).
pub const TOTP_DIGITS: usize = 6;
/// What a TOTP code looks like on the wire.
pub const TOTP_CODE_PATTERN: &str = "^[0-9]{6}$";
/// Backup codes handed out at once.
pub const BACKUP_CODE_COUNT: usize = 10;
/// Characters of a backup code, without its separator (base32: 50 bits).
pub const BACKUP_CODE_CHARS: usize = 10;
/// A backup code as shown (`abcde-fghij`), in any case, the dash optional.
pub const BACKUP_CODE_PATTERN: &str = "^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$";
/// Days a trusted device skips the second step.
pub const TRUSTED_DEVICE_DAYS: i64 = 30;
/// Seconds an MFA challenge (the token between the two login steps) lives.
pub const CHALLENGE_TTL_SECS: i64 = 300;
/// Wrong codes a challenge tolerates before it is spent.
pub const CHALLENGE_MAX_ATTEMPTS: u32 = 5;

/// A TOTP code: exactly six ASCII digits.
pub fn parse_totp_code(raw: &str) -> Result<String, String> {
    if raw.len() == TOTP_DIGITS && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_owned())
    } else {
        Err(format!("must be {TOTP_DIGITS} digits"))
    }
}

/// A backup code, normalised to ten lower-case base32 characters.
pub fn parse_backup_code(raw: &str) -> Result<String, String> {
    let wrong = || Err("must be a backup code like abcde-fghij".to_string());
    let (a, b) = match raw.split_once('-') {
        Some((a, b)) => (a, b),
        None if raw.len() == BACKUP_CODE_CHARS => raw.split_at(5),
        None => return wrong(),
    };
    let part_ok = |p: &str| {
        p.len() == 5
            && p.bytes()
                .all(|c| c.is_ascii_alphabetic() || (b'2'..=b'7').contains(&c))
    };
    if part_ok(a) && part_ok(b) {
        Ok(format!("{a}{b}").to_ascii_lowercase())
    } else {
        wrong()
    }
}

/// How a backup code is shown: `abcde-fghij`.
pub fn format_backup_code(normalised: &str) -> String {
    let (a, b) = normalised.split_at(normalised.len().min(5));
    format!("{a}-{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_are_six_digits() {
        assert_eq!(parse_totp_code("012345").unwrap(), "012345");
        for bad in ["12345", "1234567", "12345a", " 12345", "", "１２３４５６"] {
            assert!(parse_totp_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backup_codes_are_normalised() {
        assert_eq!(parse_backup_code("abcde-fgh23").unwrap(), "abcdefgh23");
        assert_eq!(parse_backup_code("ABCDEFGH23").unwrap(), "abcdefgh23");
        for bad in [
            "abcde-fgh1",
            "abcd-efgh23",
            "abcdefgh2",
            "abcde--fgh23",
            "abcde-fgh8z",
            "ébcde-fgh23",
        ] {
            assert!(parse_backup_code(bad).is_err(), "{bad}");
        }
        assert_eq!(format_backup_code("abcdefgh23"), "abcde-fgh23");
    }

    proptest::proptest! {
        #[test]
        fn backup_code_check_and_pattern_agree(s in "[A-Za-z0-9-]{0,12}") {
            let re = regex::Regex::new(BACKUP_CODE_PATTERN).unwrap();
            proptest::prop_assert_eq!(parse_backup_code(&s).is_ok(), re.is_match(&s));
        }

        #[test]
        fn totp_check_and_pattern_agree(s in "[0-9a]{0,8}") {
            let re = regex::Regex::new(TOTP_CODE_PATTERN).unwrap();
            proptest::prop_assert_eq!(parse_totp_code(&s).is_ok(), re.is_match(&s));
        }
    }
}
