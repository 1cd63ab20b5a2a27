//! Accounts: who may do what. Emails are normalised once at the edge so lookups are
//! exact; roles are a closed set checked by services, never by string comparison.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// A lower-cased address with one `@`, a non-empty local part and a dotted domain.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("must be an email address like name@example.com".into());
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '@');
        if !domain_ok || !local_ok {
            return Err("must be an email address like name@example.com".into());
        }
        Ok(Self(email))
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
    if n < 10 {
        return Err("must be at least 10 characters".into());
    }
    if n > 128 {
        return Err("must be at most 128 characters".into());
    }
    let mut chars = raw.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err("must not repeat a single character".into());
    }
    Ok(())
}

/// A display name: 1 to 80 characters after trimming.
pub fn parse_display_name(raw: &str) -> Result<String, String> {
    crate::validate::bounded_text(raw, 1, 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        for bad in [
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

    #[test]
    fn password_policy() {
        assert!(check_password("short").is_err());
        assert!(check_password("aaaaaaaaaaaa").is_err());
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password(&"ab".repeat(65)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::Buyer, Role::Organizer, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
        assert!(!Role::Buyer.can_publish());
    }
}
