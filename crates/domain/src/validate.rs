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

/// Characters `str::trim` removes: the Unicode `White_Space` property, as ranges.
pub const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{D}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// Control characters (`char::is_control`, Unicode category Cc), as ranges.
pub const CONTROL: &[(char, char)] = &[('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// Control characters a multi-line text may contain: tab, line feed, carriage return.
pub const LINE_BREAKS: &[char] = &['\t', '\n', '\r'];

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// A regex character-class body (ECMA-262, Python and Rust syntax alike) for `ranges`
/// minus the characters in `except`.
pub fn class_body(ranges: &[(char, char)], except: &[char]) -> String {
    let mut out = String::new();
    for &(lo, hi) in ranges {
        let mut start = None;
        let mut c = lo;
        loop {
            let keep = !except.contains(&c);
            match (keep, start) {
                (true, None) => start = Some(c),
                (false, Some(s)) => {
                    push_range(&mut out, s, prev(c));
                    start = None;
                }
                _ => {}
            }
            if c == hi {
                break;
            }
            c = next(c);
        }
        if let Some(s) = start {
            push_range(&mut out, s, hi);
        }
    }
    out
}

fn next(c: char) -> char {
    char::from_u32(u32::from(c) + 1).unwrap_or(c)
}

fn prev(c: char) -> char {
    char::from_u32(u32::from(c) - 1).unwrap_or(c)
}

fn escape(c: char) -> String {
    match u32::from(c) {
        n if n <= 0xFF && !c.is_ascii_alphanumeric() => format!("\\x{n:02X}"),
        n if n > 0xFF => format!("\\u{n:04X}"),
        _ => c.to_string(),
    }
}

fn push_range(out: &mut String, lo: char, hi: char) {
    out.push_str(&escape(lo));
    if hi != lo {
        out.push('-');
        out.push_str(&escape(hi));
    }
}

/// The rule of a free-text field. The validator and the regular expression the API
/// schema publishes are both derived from it, so the two cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextRule {
    /// Whether at least one character other than white space is required.
    pub required: bool,
    /// Most characters (Unicode scalar values), counted as sent.
    pub max: usize,
    /// Whether tab, line feed and carriage return are allowed.
    pub multiline: bool,
}

impl TextRule {
    /// A one-line text with something in it.
    pub const fn line(max: usize) -> Self {
        Self {
            required: true,
            max,
            multiline: false,
        }
    }

    /// Checks `raw` as sent and returns it without surrounding white space.
    pub fn parse(&self, raw: &str) -> Result<String, String> {
        if raw.chars().count() > self.max {
            return Err(format!("must be at most {} characters", self.max));
        }
        let allowed: &[char] = if self.multiline { LINE_BREAKS } else { &[] };
        if raw.chars().any(|c| c.is_control() && !allowed.contains(&c)) {
            return Err(if self.multiline {
                "must not contain control characters other than tab and line breaks".into()
            } else {
                "must not contain control characters or line breaks".into()
            });
        }
        let text = raw.trim();
        if self.required && text.is_empty() {
            return Err("must contain a character other than white space".into());
        }
        Ok(text.to_owned())
    }

    /// Fewest characters a valid value has.
    pub fn min_length(&self) -> usize {
        usize::from(self.required)
    }

    /// The same rule as a regular expression (length aside: see `min_length`, `max`).
    pub fn pattern(&self) -> String {
        let allowed: &[char] = if self.multiline { LINE_BREAKS } else { &[] };
        let control = class_body(CONTROL, allowed);
        if self.required {
            let space = class_body(WHITESPACE, &[]);
            format!("^[^{control}]*[^{control}{space}][^{control}]*$")
        } else {
            format!("^[^{control}]*$")
        }
    }
}

/// Whether `c` is in `WHITESPACE` (what `char::is_whitespace` says).
pub fn is_listed_whitespace(c: char) -> bool {
    in_ranges(c, WHITESPACE)
}

/// Whether `c` is in `CONTROL` (what `char::is_control` says).
pub fn is_listed_control(c: char) -> bool {
    in_ranges(c, CONTROL)
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
        let rule = TextRule::line(5);
        let mut v = Violations::new();
        assert_eq!(v.check("a", rule.parse("  ok ")), Some("ok".into()));
        assert_eq!(v.check("b", rule.parse("   ")), None);
        assert_eq!(v.check("c", in_range(0, 1, 10)), None);
        let errors = v.finish(|| ()).unwrap_err();
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn rejects_control_characters_and_long_text() {
        let line = TextRule::line(10);
        assert!(line.parse("a\u{0}b").is_err());
        assert!(line.parse("a\nb").is_err());
        assert!(TextRule::line(5).parse("abcdef").is_err());
        // Counted as sent: surrounding spaces count towards the maximum.
        assert!(TextRule::line(5).parse(" abcd ").is_err());
        let multi = TextRule {
            required: false,
            max: 10,
            multiline: true,
        };
        assert_eq!(multi.parse("a\r\n\tb").unwrap(), "a\r\n\tb");
        assert_eq!(multi.parse("").unwrap(), "");
        assert!(multi.parse("a\u{7}").is_err());
    }

    #[test]
    fn the_listed_ranges_are_what_the_standard_library_says() {
        for n in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(n) else { continue };
            assert_eq!(is_listed_whitespace(c), c.is_whitespace(), "{n:#x}");
            assert_eq!(is_listed_control(c), c.is_control(), "{n:#x}");
        }
    }

    #[test]
    fn patterns_are_built_from_the_ranges() {
        assert_eq!(TextRule::line(3).pattern(), "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\x00-\\x1F\\x7F-\\x9F\\x09-\\x0D\\x20\\x85\\xA0\\u1680\\u2000-\\u200A\\u2028-\\u2029\\u202F\\u205F\\u3000][^\\x00-\\x1F\\x7F-\\x9F]*$");
        let multi = TextRule {
            required: false,
            max: 3,
            multiline: true,
        };
        assert_eq!(
            multi.pattern(),
            "^[^\\x00-\\x08\\x0B-\\x0C\\x0E-\\x1F\\x7F-\\x9F]*$"
        );
    }
}

/// The published pattern and the validator agree on every input.
#[cfg(test)]
pub(crate) mod agreement {
    use proptest::prelude::*;

    /// Strings rich in the characters the rules care about.
    pub fn tricky_text(max_len: usize) -> impl Strategy<Value = String> {
        let ch = prop_oneof![
            prop::sample::select(vec![
                ' ', '\t', '\n', '\r', '\u{a0}', '\u{2003}', '\u{3000}'
            ]),
            prop::sample::select(vec![
                '\u{0}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'
            ]),
            prop::sample::select(vec!['\u{feff}', '\u{200b}', '@', '.', '-', 'é', '日']),
            prop::char::range('a', 'z'),
            prop::char::range('A', 'Z'),
            any::<char>(),
        ];
        prop::collection::vec(ch, 0..=max_len).prop_map(|v| v.into_iter().collect())
    }

    /// What a JSON Schema `{pattern, minLength, maxLength}` says about `s`.
    pub fn schema_accepts(pattern: &str, min: usize, max: usize, s: &str) -> bool {
        let re = regex::Regex::new(pattern).expect("a valid pattern");
        let n = s.chars().count();
        re.is_match(s) && (min..=max).contains(&n)
    }

    use super::TextRule;

    proptest! {
        #[test]
        fn text_rules_and_their_patterns_agree(s in tricky_text(8), max in 1usize..6, required: bool, multiline: bool) {
            let rule = TextRule { required, max, multiline };
            prop_assert_eq!(
                schema_accepts(&rule.pattern(), rule.min_length(), rule.max, &s),
                rule.parse(&s).is_ok(),
                "{:?} under {:?}", s, rule
            );
        }
    }
}
