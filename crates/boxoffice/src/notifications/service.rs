//! The buyer's inbox: their own notifications only (the store query is scoped by
//! the caller's id), newest first, and marking them read.
use crate::accounts::Principal;
use crate::clock::DynClock;
use crate::error::{Error, OrNotFound, Result};
use crate::http::paging::{Paged, MAX_PER_PAGE};
use crate::store::{DynStore, NotificationRecord, Page};
use crate::timefmt::rfc3339;
use boxoffice_domain::UserId;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NotificationView {
    #[schema(format = Uuid, example = "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77")]
    pub id: String,
    /// The event it tells of: `booking.confirmed`, `booking.expired`,
    /// `booking.payment_failed` or `refund.succeeded`.
    #[schema(example = "booking.confirmed")]
    pub kind: String,
    #[schema(example = "Booking confirmed: Jazz at the Hall")]
    pub title: String,
    #[schema(
        example = "2 × Floor for Jazz at the Hall at Hall on 2027-03-01T20:00:00Z. Total 50.00 EUR (booking 0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77)."
    )]
    pub body: String,
    /// The order summary: booking id, event name, venue, show start, zone,
    /// quantity, unit price and total (and the amount refunded for refunds).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// What became of the email: `sent`, `rate_limited` (over the hourly limit,
    /// not sent), `pending` or `skipped`.
    #[schema(schema_with = crate::http::contract::email_status)]
    pub email_status: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    /// `null` while unread.
    #[schema(schema_with = crate::http::contract::date_time_or_null)]
    pub read_at: Option<String>,
}

impl From<&NotificationRecord> for NotificationView {
    fn from(r: &NotificationRecord) -> Self {
        Self {
            id: r.id.clone(),
            kind: r.kind.clone(),
            title: r.title.clone(),
            body: r.body.clone(),
            detail: r.detail.clone(),
            email_status: r.email_status.as_str().to_owned(),
            created_at: rfc3339(r.created_at),
            read_at: r.read_at.map(rfc3339),
        }
    }
}

pub struct NotificationService {
    store: DynStore,
    clock: DynClock,
}

fn own(who: &Principal) -> Result<UserId> {
    if who.key.is_some() {
        return Err(Error::Forbidden("API keys have no notifications"));
    }
    Ok(who.user)
}

impl NotificationService {
    pub fn new(store: DynStore, clock: DynClock) -> Self {
        Self { store, clock }
    }

    /// The caller's notifications, newest first; only unread ones with `unread_only`.
    pub async fn list(
        &self,
        who: Principal,
        unread_only: bool,
        page: Page,
    ) -> Result<Paged<NotificationView>> {
        let user = own(&who)?;
        let (items, total) = self.store.notifications_of(user, unread_only, page).await?;
        Ok(Paged::new(
            items.iter().map(NotificationView::from).collect(),
            page,
            total,
        ))
    }

    /// Marks one of the caller's notifications read; another user's is not found.
    pub async fn mark_read(&self, who: Principal, id: &str) -> Result<NotificationView> {
        let user = own(&who)?;
        let record = self
            .store
            .mark_notification_read(user, id, self.clock.now())
            .await
            .or_not_found("notification")?;
        Ok(NotificationView::from(&record))
    }

    /// Marks all of the caller's notifications read; how many were unread.
    pub async fn mark_all_read(&self, who: Principal) -> Result<u64> {
        let user = own(&who)?;
        Ok(self
            .store
            .mark_all_notifications_read(user, self.clock.now())
            .await?)
    }

    /// Every notification of `user`, newest first (personal data export).
    pub async fn all_of(&self, user: UserId) -> Result<Vec<NotificationView>> {
        let mut out = Vec::new();
        for n in 1.. {
            let page = Page {
                page: n,
                per_page: MAX_PER_PAGE,
            };
            let (items, total) = self.store.notifications_of(user, false, page).await?;
            let done = items.is_empty() || page.offset() + items.len() as i64 >= total;
            out.extend(items.iter().map(NotificationView::from));
            if done {
                break;
            }
        }
        Ok(out)
    }
}
