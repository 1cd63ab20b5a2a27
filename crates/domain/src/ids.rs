//! Typed identifiers. A `ShowId` can never be passed where a `ZoneId` is expected;
//! all are UUIDv7 so they sort by creation time and index well.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// An account: buyer, organizer or admin.
    UserId
);
typed_id!(
    /// An organization (a promoter, a venue, a club): the tenant that owns events and
    /// whose members manage them.
    OrganizationId
);
typed_id!(
    /// An invitation to join an organization.
    InvitationId
);
typed_id!(
    /// An API key of an organization.
    ApiKeyId
);
typed_id!(
    /// An event (a tour, a match, a festival) owned by one organization.
    EventId
);
typed_id!(
    /// One date of an event at one venue; the unit a sale is run for.
    ShowId
);
typed_id!(
    /// A priced area of a show with its own capacity.
    ZoneId
);
typed_id!(
    /// A venue's seating plan, defined once by an organization and reused by shows.
    LayoutId
);
typed_id!(
    /// One seat of a layout.
    SeatId
);
typed_id!(
    /// A hold that may become a confirmed booking.
    BookingId
);
typed_id!(
    /// An organization's webhook endpoint.
    WebhookId
);
typed_id!(
    /// One event to be delivered to one webhook endpoint.
    DeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_sort_by_creation() {
        let a = ShowId::new();
        let b = ShowId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<ShowId>().unwrap(), a);
        assert!("not-a-uuid".parse::<ShowId>().is_err());
    }
}
