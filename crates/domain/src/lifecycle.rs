//! Rules of an account's life after sign-up: how long emailed tokens live, when
//! repeated login failures lock an email out and for how long. Pure, so the service,
//! the store and the tests all read the same numbers.

/// An email verification link works this long.
pub const VERIFY_EMAIL_TTL_SECS: i64 = 24 * 3600;
/// A password reset link works this long.
pub const RESET_PASSWORD_TTL_SECS: i64 = 3600;

/// Consecutive failed logins an email may have before each further one locks it.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// Lock after the first failure past the threshold; it doubles with each one after.
pub const LOCKOUT_BASE_MILLIS: i64 = 1_000;
/// The longest lock.
pub const LOCKOUT_MAX_MILLIS: i64 = 15 * 60 * 1_000;
/// A failure counter untouched this long starts over (failures are no longer
/// consecutive in any useful sense after a day).
pub const LOCKOUT_FORGET_MILLIS: i64 = 24 * 3600 * 1_000;

/// What an emailed single-use token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "verify_email" => Ok(TokenPurpose::VerifyEmail),
            "reset_password" => Ok(TokenPurpose::ResetPassword),
            _ => Err("must be verify_email or reset_password".into()),
        }
    }

    /// Seconds a token of this purpose stays valid.
    pub fn ttl_secs(self) -> i64 {
        match self {
            TokenPurpose::VerifyEmail => VERIFY_EMAIL_TTL_SECS,
            TokenPurpose::ResetPassword => RESET_PASSWORD_TTL_SECS,
        }
    }
}

/// How long an email is locked after its `failures`-th consecutive failed login:
/// nothing up to the threshold, then 1 s, 2 s, 4 s … capped at 15 minutes.
pub fn lockout_millis(failures: i64) -> i64 {
    if failures < LOCKOUT_THRESHOLD {
        return 0;
    }
    let doublings = (failures - LOCKOUT_THRESHOLD).min(20) as u32;
    LOCKOUT_BASE_MILLIS
        .saturating_mul(1_i64 << doublings)
        .min(LOCKOUT_MAX_MILLIS)
}

/// A short label for a session's device from its user agent: `Firefox on Linux`,
/// `curl`, or `Unknown device`.
pub fn device_label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|u| !u.trim().is_empty()) else {
        return "Unknown device".into();
    };
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("Edg/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("Firefox/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        // Tools name themselves first: `curl/8.5.0`, `okhttp/4.12`.
        let name = ua.split(['/', ' ']).next().unwrap_or(ua);
        return name.chars().take(40).collect();
    };
    let os = if has("Android") {
        "Android"
    } else if has("iPhone") || has("iPad") {
        "iOS"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") {
        "Linux"
    } else {
        return browser.into();
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_from_user_agents() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0", "Edge on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36", "Chrome on Android"),
            ("curl/8.5.0", "curl"),
        ];
        for (ua, label) in cases {
            assert_eq!(device_label(Some(ua)), label, "{ua}");
        }
        assert_eq!(device_label(None), "Unknown device");
        assert_eq!(device_label(Some("  ")), "Unknown device");
    }

    #[test]
    fn the_lock_starts_at_the_threshold_grows_and_is_capped() {
        assert_eq!(lockout_millis(0), 0);
        assert_eq!(lockout_millis(LOCKOUT_THRESHOLD - 1), 0);
        assert_eq!(lockout_millis(LOCKOUT_THRESHOLD), 1_000);
        assert_eq!(lockout_millis(LOCKOUT_THRESHOLD + 1), 2_000);
        assert_eq!(lockout_millis(LOCKOUT_THRESHOLD + 2), 4_000);
        assert_eq!(lockout_millis(LOCKOUT_THRESHOLD + 9), 512_000);
        assert_eq!(lockout_millis(LOCKOUT_THRESHOLD + 10), LOCKOUT_MAX_MILLIS);
        assert_eq!(lockout_millis(i64::MAX), LOCKOUT_MAX_MILLIS);
    }

    #[test]
    fn purposes_round_trip_and_have_their_lifetimes() {
        for p in [TokenPurpose::VerifyEmail, TokenPurpose::ResetPassword] {
            assert_eq!(TokenPurpose::parse(p.as_str()), Ok(p));
        }
        assert!(TokenPurpose::parse("other").is_err());
        assert_eq!(TokenPurpose::VerifyEmail.ttl_secs(), 86_400);
        assert_eq!(TokenPurpose::ResetPassword.ttl_secs(), 3_600);
    }
}
