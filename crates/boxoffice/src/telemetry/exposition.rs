//! Reading the Prometheus text exposition format (what `/metrics` serves), for
//! `boxoffice top` and the tests. Route templates put braces in label values
//! (`/api/v1/bookings/{id}/cancel`), which the format allows and which the small
//! parsers on crates.io cut short; this one follows the format's quoting rules.
use std::collections::BTreeMap;

/// One sample line: `name{label="value",…} value [timestamp]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Every sample of `text`; comments and blank lines are skipped. A malformed line
/// is an error naming its number.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(n, l)| sample(l.trim()).ok_or_else(|| format!("line {}: {l}", n + 1)))
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            // Skip separators, stop at the closing brace.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            let (start, c) = chars.next()?;
            if c == '}' {
                rest = &body[start + 1..];
                break;
            }
            let eq = body[start..].find('=')? + start;
            let key = body[start..eq].trim().to_owned();
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.insert(key, value);
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_quotes_and_infinity_in_a_sample_line() {
        let text = "# HELP x y\n# TYPE h histogram\n\
            h_bucket{route=\"/api/v1/bookings/{id}/cancel\",say=\"a \\\"b\\\", c\",le=\"+Inf\"} 3\n\
            up 1 1700000000000\n\n";
        let samples = parse(text).expect("parses");
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].name, "h_bucket");
        assert_eq!(
            samples[0].label("route"),
            Some("/api/v1/bookings/{id}/cancel")
        );
        assert_eq!(samples[0].label("say"), Some("a \"b\", c"));
        assert_eq!(samples[0].label("le"), Some("+Inf"));
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(samples[1].name, "up");
        assert!(samples[1].labels.is_empty());
        assert!(parse("broken{a=\"x} 1").is_err());
        assert!(parse("novalue{a=\"x\"}").is_err());
    }
}
