//! Instants on the wire are RFC 3339 strings; inside they are `Timestamp`s.
use boxoffice_domain::Timestamp;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub fn rfc3339(ts: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.millis()) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_rfc3339(raw: &str) -> Result<Timestamp, String> {
    let t = OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| "must be an RFC 3339 date-time such as 2027-06-01T20:00:00Z".to_string())?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms)
        .map(Timestamp::from_millis)
        .map_err(|_| "is out of range".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ts = parse_rfc3339("2027-06-01T20:00:00+02:00").unwrap();
        assert_eq!(rfc3339(ts), "2027-06-01T18:00:00Z");
        assert!(parse_rfc3339("next friday").is_err());
        // Exactly RFC 3339, as the schema's `format: date-time` says: no padding.
        assert!(parse_rfc3339(" 2027-06-01T20:00:00Z").is_err());
    }
}
