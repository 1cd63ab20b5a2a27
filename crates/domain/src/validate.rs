//! Field-level validation errors. Parsing a request collects every problem at once so
//! a client learns all wrong fields in one round trip, each named by its JSON path.
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `quantity` or `zones[1].capacity`.
    pub field: String,
    /// Human explanation of what is wrong.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors while parsing; `finish` turns them into a result.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every recorded error.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self.0)
        }
    }
}

/// Trims `raw` and checks its length in characters.
pub fn bounded_text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let text = raw.trim();
    let len = text.chars().count();
    if len < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}

/// Checks that `value` lies in `min..=max`.
pub fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    value: T,
    min: T,
    max: T,
) -> Result<T, String> {
    if value < min || value > max {
        Err(format!("must be between {min} and {max}"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_violation() {
        let mut v = Violations::new();
        assert_eq!(v.check("a", bounded_text("  ok ", 1, 5)), Some("ok".into()));
        assert_eq!(v.check("b", bounded_text("   ", 1, 5)), None);
        assert_eq!(v.check("c", in_range(0, 1, 10)), None);
        let errors = v.finish(|| ()).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn rejects_control_characters_and_long_text() {
        assert!(bounded_text("a\u{0}b", 1, 10).is_err());
        assert!(bounded_text("abcdef", 1, 5).is_err());
        assert_eq!(bounded_text("ab", 2, 5).unwrap(), "ab");
    }
}
