//! Catalog rules: what a valid event, show and zone look like. Services parse request
//! bodies into these before anything is stored, so the store only ever sees valid data.
use crate::money::{Currency, Money};
use crate::time::Timestamp;
use crate::validate::{in_range, TextRule, Violations};
use crate::FieldError;
use serde::{Deserialize, Serialize};

/// Categories buyers filter by; exactly these lower-case names on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Concert,
    Festival,
    Theatre,
    Comedy,
    Sports,
    Conference,
    Family,
    Other,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Concert,
        Category::Festival,
        Category::Theatre,
        Category::Comedy,
        Category::Sports,
        Category::Conference,
        Category::Family,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Concert => "concert",
            Category::Festival => "festival",
            Category::Theatre => "theatre",
            Category::Comedy => "comedy",
            Category::Sports => "sports",
            Category::Conference => "conference",
            Category::Family => "family",
            Category::Other => "other",
        }
    }
}

/// Names of every category, in `Category::ALL` order.
pub const CATEGORIES: &[&str] = &[
    "concert",
    "festival",
    "theatre",
    "comedy",
    "sports",
    "conference",
    "family",
    "other",
];

/// Event title: one line, 1 to 200 characters.
pub const EVENT_TITLE: TextRule = TextRule::line(200);
/// Event description: optional, up to 5,000 characters, line breaks allowed.
pub const EVENT_DESCRIPTION: TextRule = TextRule {
    required: false,
    max: 5_000,
    multiline: true,
};
/// City of an event (also a browse filter): one line, 1 to 100 characters.
pub const EVENT_CITY: TextRule = TextRule::line(100);
/// Venue of a show: one line, 1 to 200 characters.
pub const SHOW_VENUE: TextRule = TextRule::line(200);
/// Name of a zone: one line, 1 to 100 characters.
pub const ZONE_NAME: TextRule = TextRule::line(100);
/// Words searched in titles and descriptions: one line, 1 to 100 characters.
pub const SEARCH_TEXT: TextRule = TextRule::line(100);
/// Latest end of a sale after the show starts.
pub const MAX_SALE_AFTER_START_SECS: i64 = 24 * 3600;

pub const DEFAULT_HOLD_TTL_SECS: i64 = 600;
pub const MIN_HOLD_TTL_SECS: i64 = 30;
pub const MAX_HOLD_TTL_SECS: i64 = 3_600;
pub const DEFAULT_PER_USER_LIMIT: u32 = 6;
pub const MAX_PER_USER_LIMIT: u32 = 100;
pub const MAX_ZONE_CAPACITY: u32 = 10_000_000;

/// A category by its exact name.
pub fn parse_category(raw: &str) -> Result<Category, String> {
    Category::ALL
        .into_iter()
        .find(|c| c.as_str() == raw)
        .ok_or_else(|| format!("must be one of {}", CATEGORIES.join(", ")))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDetails {
    pub title: String,
    pub description: String,
    pub category: String,
    pub city: String,
}

impl EventDetails {
    pub fn parse(
        title: &str,
        description: &str,
        category: &str,
        city: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut v = Violations::new();
        let title = v.check("title", EVENT_TITLE.parse(title));
        let description = v.check("description", EVENT_DESCRIPTION.parse(description));
        let category = v.check("category", parse_category(category));
        let city = v.check("city", EVENT_CITY.parse(city));
        v.finish(|| Self {
            title: title.unwrap_or_default(),
            description: description.unwrap_or_default(),
            category: category.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            city: city.unwrap_or_default(),
        })
    }
}

/// The booking rules of one show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowDetails {
    pub venue: String,
    pub starts_at: Timestamp,
    pub sale_opens_at: Timestamp,
    pub sale_closes_at: Timestamp,
    pub hold_ttl_secs: i64,
    pub per_user_limit: u32,
}

/// Raw show fields as they arrive; `None` means "use the default".
#[derive(Clone, Debug, Default)]
pub struct ShowInput<'a> {
    pub venue: &'a str,
    pub starts_at: Timestamp,
    pub sale_opens_at: Option<Timestamp>,
    pub sale_closes_at: Option<Timestamp>,
    pub hold_ttl_secs: Option<i64>,
    pub per_user_limit: Option<i64>,
}

impl ShowDetails {
    /// Defaults: sale opens now, closes when the show starts, 10-minute holds, 6 per buyer.
    pub fn parse(input: ShowInput<'_>, now: Timestamp) -> Result<Self, Vec<FieldError>> {
        let mut v = Violations::new();
        let venue = v.check("venue", SHOW_VENUE.parse(input.venue));
        let opens = input.sale_opens_at.unwrap_or(now);
        let closes = input.sale_closes_at.unwrap_or(input.starts_at);
        if closes <= opens {
            v.push("sale_closes_at", "must be after sale_opens_at");
        }
        if closes > input.starts_at.plus_secs(MAX_SALE_AFTER_START_SECS) {
            v.push("sale_closes_at", "must be at most one day after starts_at");
        }
        let ttl = v.check(
            "hold_ttl_secs",
            in_range(
                input.hold_ttl_secs.unwrap_or(DEFAULT_HOLD_TTL_SECS),
                MIN_HOLD_TTL_SECS,
                MAX_HOLD_TTL_SECS,
            ),
        );
        let limit = v.check(
            "per_user_limit",
            in_range(
                input
                    .per_user_limit
                    .unwrap_or(i64::from(DEFAULT_PER_USER_LIMIT)),
                1,
                i64::from(MAX_PER_USER_LIMIT),
            ),
        );
        v.finish(|| Self {
            venue: venue.unwrap_or_default(),
            starts_at: input.starts_at,
            sale_opens_at: opens,
            sale_closes_at: closes,
            hold_ttl_secs: ttl.unwrap_or(DEFAULT_HOLD_TTL_SECS),
            per_user_limit: limit
                .and_then(|l| u32::try_from(l).ok())
                .unwrap_or(DEFAULT_PER_USER_LIMIT),
        })
    }

    /// Whether tickets may be reserved at `now`.
    pub fn sale_state(&self, now: Timestamp) -> SaleState {
        if now < self.sale_opens_at {
            SaleState::NotYetOpen
        } else if now >= self.sale_closes_at {
            SaleState::Closed
        } else {
            SaleState::Open
        }
    }
}

/// Where a show's sale stands; `not_yet_open`, `open` or `closed` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    NotYetOpen,
    Open,
    Closed,
}

impl SaleState {
    pub const ALL: [SaleState; 3] = [SaleState::NotYetOpen, SaleState::Open, SaleState::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            SaleState::NotYetOpen => "not_yet_open",
            SaleState::Open => "open",
            SaleState::Closed => "closed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneDetails {
    pub name: String,
    pub price: Money,
    pub capacity: u32,
}

impl ZoneDetails {
    pub fn parse(
        name: &str,
        price_minor: i64,
        currency: &str,
        capacity: i64,
    ) -> Result<Self, Vec<FieldError>> {
        let mut v = Violations::new();
        let name = v.check("name", ZONE_NAME.parse(name));
        let currency = v.check("currency", Currency::parse(currency));
        let price = currency.and_then(|c| v.check("price_minor", Money::price(price_minor, c)));
        let capacity = v.check(
            "capacity",
            in_range(capacity, 1, i64::from(MAX_ZONE_CAPACITY)),
        );
        v.finish(|| Self {
            name: name.unwrap_or_default(),
            price: price.expect("checked above"),
            capacity: capacity.and_then(|c| u32::try_from(c).ok()).unwrap_or(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_details_report_each_bad_field() {
        let errs = EventDetails::parse("", "", "opera-house", "Lyon").unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "category"]);
        let ok = EventDetails::parse(" Jazz Night ", "", "concert", "Lyon").unwrap();
        assert_eq!(ok.category, "concert");
        assert_eq!(ok.title, "Jazz Night");
        // Categories are exact names: what the API schema lists as its enum.
        assert!(EventDetails::parse("Jazz", "", "Concert", "Lyon").is_err());
        assert!(EventDetails::parse("   ", "", "concert", "Lyon").is_err());
    }

    #[test]
    fn closed_sets_serialize_as_their_names() {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names, CATEGORIES);
        for c in Category::ALL {
            assert_eq!(parse_category(c.as_str()), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for s in SaleState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn show_defaults_and_windows() {
        let now = Timestamp::from_millis(1_000_000);
        let starts = now.plus_secs(86_400);
        let show = ShowDetails::parse(
            ShowInput {
                venue: "Arena",
                starts_at: starts,
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(show.hold_ttl_secs, DEFAULT_HOLD_TTL_SECS);
        assert_eq!(show.sale_state(now), SaleState::Open);
        assert_eq!(show.sale_state(starts), SaleState::Closed);
        assert_eq!(show.sale_state(now.plus_millis(-1)), SaleState::NotYetOpen);

        let bad = ShowDetails::parse(
            ShowInput {
                venue: "Arena",
                starts_at: starts,
                sale_opens_at: Some(starts),
                hold_ttl_secs: Some(5),
                per_user_limit: Some(0),
                ..Default::default()
            },
            now,
        )
        .unwrap_err();
        let fields: Vec<_> = bad.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["sale_closes_at", "hold_ttl_secs", "per_user_limit"]
        );
    }

    #[test]
    fn zone_details_validate_price_and_capacity() {
        let z = ZoneDetails::parse("Floor", 4_500, "EUR", 1_000).unwrap();
        assert_eq!(z.price.currency.as_str(), "EUR");
        assert!(ZoneDetails::parse("Floor", 4_500, "eur", 1_000).is_err());
        let errs = ZoneDetails::parse("Floor", -5, "EUR", 0).unwrap_err();
        assert_eq!(errs.len(), 2);
        let errs = ZoneDetails::parse("Floor", 5, "EURO", 10).unwrap_err();
        assert_eq!(errs[0].field, "currency");
    }
}
