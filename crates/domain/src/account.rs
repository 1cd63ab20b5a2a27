//! Accounts: who may do what. Emails are normalised once at the edge so lookups are
//! exact; roles are a closed set checked by services, never by string comparison.
use crate::validate::TextRule;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

/// Longest email address accepted, in characters.
pub const EMAIL_MAX_CHARS: usize = 254;
/// Longest local part (before the `@`), in characters.
pub const EMAIL_LOCAL_MAX_CHARS: usize = 64;
/// Fewest and most characters of a password.
pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// A password must not repeat one character only (ECMA-262 and Python syntax).
pub const PASSWORD_PATTERN: &str = r"^(?!([\s\S])\1*$)";
/// Display name: one line, 1 to 80 characters.
pub const DISPLAY_NAME: TextRule = TextRule::line(80);
/// Most buyer accounts one bulk call creates.
pub const MAX_BULK_ACCOUNTS: u32 = 10_000;
/// Prefix of bulk-created buyer emails.
pub const BULK_PREFIX_PATTERN: &str = "^[A-Za-z0-9.-]{1,40}$";

/// What `Email::parse` accepts, as the API schema states it (length aside).
pub fn email_pattern() -> String {
    let local = format!(
        "[^@{}{}]{{1,{EMAIL_LOCAL_MAX_CHARS}}}",
        crate::validate::class_body(crate::validate::CONTROL, &[]),
        crate::validate::class_body(crate::validate::WHITESPACE, &[]),
    );
    format!("^{local}@[A-Za-z0-9-][A-Za-z0-9.-]*\\.[A-Za-z0-9.-]*[A-Za-z0-9-]$")
}

impl Email {
    /// An address with one `@`, a local part of 1 to 64 characters without white
    /// space or control characters and a dotted domain of letters, digits, `-` and
    /// `.`; kept lower-cased. Nothing is trimmed: what is sent is what is checked.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > EMAIL_MAX_CHARS {
            return Err(format!("must be at most {EMAIL_MAX_CHARS} characters"));
        }
        let Some((local, domain)) = raw.split_once('@') else {
            return Err("must be an email address like name@example.com".into());
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.chars().count() <= EMAIL_LOCAL_MAX_CHARS
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@');
        if !domain_ok || !local_ok {
            return Err("must be an email address like name@example.com".into());
        }
        Ok(Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Buyer,
    Organizer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Buyer, Role::Organizer, Role::Admin];
    /// Roles anyone may sign up with; admins are created by operators.
    pub const SELF_SERVICE: [Role; 2] = [Role::Buyer, Role::Organizer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Buyer => "buyer",
            Role::Organizer => "organizer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "buyer" => Ok(Role::Buyer),
            "organizer" => Ok(Role::Organizer),
            "admin" => Ok(Role::Admin),
            _ => Err("must be one of buyer, organizer, admin".into()),
        }
    }

    /// Organizers and admins may publish and manage events.
    pub fn can_publish(self) -> bool {
        matches!(self, Role::Organizer | Role::Admin)
    }
}

/// Password policy: 10 to 128 characters, not all the same character.
pub fn check_password(raw: &str) -> Result<(), String> {
    let n = raw.chars().count();
    if n < PASSWORD_MIN_CHARS {
        return Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
    }
    let mut chars = raw.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err("must not repeat a single character".into());
    }
    Ok(())
}

/// A display name (see `DISPLAY_NAME`), without surrounding white space.
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    DISPLAY_NAME.parse(raw)
}

/// A phone number in international form: `+`, a country code not starting with 0 and
/// 7 to 15 digits in all, without spaces (what `parse_phone` accepts).
pub const PHONE_PATTERN: &str = "^\\+[1-9][0-9]{6,14}$";

/// A phone number (see `PHONE_PATTERN`), exactly as given.
pub fn parse_phone(raw: &str) -> Result<String, String> {
    let digits = raw.strip_prefix('+').unwrap_or("");
    let ok = raw.starts_with('+')
        && (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be '+' and 7 to 15 digits, the first not 0 (e.g. +4915112345678)".into())
    }
}

/// The prefix of bulk-created buyer emails (see `BULK_PREFIX_PATTERN`).
pub fn check_bulk_prefix(raw: &str) -> Result<String, String> {
    let ok = (1..=40).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 1 to 40 letters, digits, '-' or '.'".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_international() {
        for ok in ["+4915112345678", "+1234567", "+123456789012345"] {
            assert_eq!(parse_phone(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "",
            "+",
            "4915112345678",
            "+0151123456",
            "+123456",
            "+1234567890123456",
            "+49 151 1234567",
            "+49151a234567",
            "++4915112345678",
            "+４９１５１１２３４５６",
        ] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("Ana@Example.COM").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
            " ana@example.com",
            "ana@example.com\n",
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a na@example.com",
            "ana@ex_ample.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    use crate::validate::agreement::{schema_accepts, tricky_text};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn email_and_its_pattern_agree(s in tricky_text(10)) {
            prop_assert_eq!(
                schema_accepts(&email_pattern(), 0, EMAIL_MAX_CHARS, &s),
                Email::parse(&s).is_ok(),
                "{:?}", s
            );
        }

        #[test]
        fn emails_shaped_by_the_pattern_pass(local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.é-]{1,64}", domain in "[a-z0-9-]{1,20}\\.[a-z]{2,10}") {
            let email = format!("{local}@{domain}");
            prop_assert!(schema_accepts(&email_pattern(), 0, EMAIL_MAX_CHARS, &email));
            prop_assert!(Email::parse(&email).is_ok(), "{}", email);
        }

        #[test]
        fn bulk_prefix_and_its_pattern_agree(s in tricky_text(3)) {
            prop_assert_eq!(
                schema_accepts(BULK_PREFIX_PATTERN, 0, usize::MAX, &s),
                check_bulk_prefix(&s).is_ok(),
                "{:?}", s
            );
        }
    }

    #[test]
    fn password_pattern_states_the_repetition_rule() {
        // The regex crate has no look-ahead; the pattern is checked in its own terms
        // by the contract stage. Here: the rule it encodes, on the cases that matter.
        assert!(PASSWORD_PATTERN.starts_with('^') && PASSWORD_PATTERN.contains(r"\1*$"));
        for (p, ok) in [
            ("aaaaaaaaaa", false),
            ("aaaaaaaaab", true),
            ("ééééééééééé", false),
            ("          ", false),
            ("0000000000", false),
            ("correct horse", true),
        ] {
            assert_eq!(check_password(p).is_ok(), ok, "{p:?}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password("short").is_err());
        assert!(check_password("aaaaaaaaaaaa").is_err());
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password(&"ab".repeat(65)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
        assert!(!Role::Buyer.can_publish());
    }
}
