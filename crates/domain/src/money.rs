//! Money as integer minor units plus an ISO 4217 currency code: no floats ever touch a
//! price, and amounts in different currencies cannot be added by accident.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// What `Currency::parse` accepts, as the API schema states it.
pub const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

impl Currency {
    /// Exactly three capital ASCII letters, as ISO 4217 writes them (`EUR`).
    pub fn parse(code: &str) -> Result<Self, String> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err("must be a three-letter ISO 4217 code in capitals, such as EUR".into());
        }
        let mut out = [0u8; 3];
        out.copy_from_slice(bytes);
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Amount in the currency's minor unit (cents for EUR).
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Largest ticket price accepted: 1,000,000.00 in a two-decimal currency.
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

impl Money {
    /// A ticket price: zero (free events) up to [`MAX_PRICE_MINOR`].
    pub fn price(amount_minor: i64, currency: Currency) -> Result<Self, String> {
        if !(0..=MAX_PRICE_MINOR).contains(&amount_minor) {
            return Err(format!(
                "must be between 0 and {MAX_PRICE_MINOR} minor units"
            ));
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// `self × quantity`, refusing overflow.
    pub fn times(self, quantity: u32) -> Option<Self> {
        self.amount_minor
            .checked_mul(i64::from(quantity))
            .map(|amount_minor| Self {
                amount_minor,
                currency: self.currency,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_is_validated() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        for bad in ["eur", "Eur", " EUR", "EURO", "E1R", "ÉUR", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn currency_and_its_pattern_agree(s in crate::validate::agreement::tricky_text(4)) {
            let schema = crate::validate::agreement::schema_accepts(CURRENCY_PATTERN, 0, usize::MAX, &s);
            proptest::prop_assert_eq!(schema, Currency::parse(&s).is_ok(), "{:?}", s);
        }

        #[test]
        fn three_capitals_always_pass(s in "[A-Z]{3}") {
            proptest::prop_assert!(Currency::parse(&s).is_ok());
        }
    }

    #[test]
    fn prices_are_bounded_and_multiplied_exactly() {
        let eur = Currency::parse("EUR").unwrap();
        assert!(Money::price(-1, eur).is_err());
        assert!(Money::price(MAX_PRICE_MINOR + 1, eur).is_err());
        let p = Money::price(4_250, eur).unwrap();
        assert_eq!(p.times(3).unwrap().amount_minor, 12_750);
        assert!(Money::price(MAX_PRICE_MINOR, eur)
            .unwrap()
            .times(u32::MAX)
            .is_some());
    }
}
