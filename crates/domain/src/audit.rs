//! Rules of the audit log (who acts, how actions are named and filtered, page sizes), kept
//! here so the OpenAPI schema and the checks on each request are built from one source.

/// Who performed an audited action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorType {
    /// A signed-in account.
    User,
    /// An organization's API key.
    ApiKey,
    /// The platform itself (expiry, background jobs, the command line).
    System,
    /// Nobody proven yet: a failed login, a registration's first step.
    Anonymous,
}

impl ActorType {
    pub const ALL: [ActorType; 4] = [
        ActorType::User,
        ActorType::ApiKey,
        ActorType::System,
        ActorType::Anonymous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::ApiKey => "api_key",
            ActorType::System => "system",
            ActorType::Anonymous => "anonymous",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown actor type {s:?}"))
    }
}

/// Longest action name or prefix.
pub const ACTION_MAX_CHARS: usize = 64;
/// An action (`auth.login.failed`) or a prefix ending in a dot (`auth.`): lower-case
/// dotted segments, each starting with a letter.
pub const ACTION_FILTER_PATTERN: &str = "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*\\.?$";

/// Entries per page when the caller does not say.
pub const DEFAULT_AUDIT_LIMIT: u32 = 50;
/// Most entries per page.
pub const MAX_AUDIT_LIMIT: u32 = 200;

/// Which actions a query keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionFilter {
    /// Exactly this action.
    Exact(String),
    /// Every action starting with this prefix, which ends in a dot.
    Prefix(String),
}

fn segment_ok(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses an action filter exactly as [`ACTION_FILTER_PATTERN`] describes it.
pub fn parse_action_filter(raw: &str) -> Result<ActionFilter, String> {
    let message = || {
        format!(
            "must be an action such as auth.login.failed or a prefix ending in a dot such as \
             auth. (lower-case letters, digits and underscores, at most {ACTION_MAX_CHARS} characters)"
        )
    };
    if raw.is_empty() || raw.chars().count() > ACTION_MAX_CHARS {
        return Err(message());
    }
    let (body, prefix) = match raw.strip_suffix('.') {
        Some(b) => (b, true),
        None => (raw, false),
    };
    if !body.split('.').all(segment_ok) {
        return Err(message());
    }
    Ok(if prefix {
        ActionFilter::Prefix(raw.to_owned())
    } else {
        ActionFilter::Exact(raw.to_owned())
    })
}

/// Whether `name` is a well-formed action name (not a prefix).
pub fn is_action_name(name: &str) -> bool {
    matches!(parse_action_filter(name), Ok(ActionFilter::Exact(_)))
}

/// Parses a page size: 1 to [`MAX_AUDIT_LIMIT`].
pub fn check_limit(limit: u32) -> Result<u32, String> {
    if (1..=MAX_AUDIT_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(format!("must be between 1 and {MAX_AUDIT_LIMIT}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_filters_are_exact_names_or_dotted_prefixes() {
        assert_eq!(
            parse_action_filter("auth.login.failed"),
            Ok(ActionFilter::Exact("auth.login.failed".into()))
        );
        assert_eq!(
            parse_action_filter("auth."),
            Ok(ActionFilter::Prefix("auth.".into()))
        );
        assert!(is_action_name("booking.payment_started"));
        for bad in [
            "",
            ".",
            "auth..x",
            "Auth.login",
            "auth.login..",
            "1x",
            "a.%",
            "a b",
        ] {
            assert!(parse_action_filter(bad).is_err(), "{bad:?}");
        }
        assert!(parse_action_filter(&"a".repeat(ACTION_MAX_CHARS + 1)).is_err());
        assert!(!is_action_name("auth."));
    }

    #[test]
    fn limits_and_actor_types() {
        assert!(check_limit(0).is_err());
        assert_eq!(check_limit(200), Ok(200));
        assert!(check_limit(201).is_err());
        for a in ActorType::ALL {
            assert_eq!(ActorType::parse(a.as_str()), Ok(a));
        }
        assert!(ActorType::parse("root").is_err());
    }
}
