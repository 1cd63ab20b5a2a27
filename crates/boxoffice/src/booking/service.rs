//! Booking use cases. The order of steps is the safety argument: cheap validation,
//! then the atomic inventory step, then the durable write; counters follow the
//! store on every later transition, so a crash can lose at most unacknowledged holds.
use super::order::{self, BookingItemView, ReserveItem};
use super::writer::Writer;
use crate::accounts::Principal;
use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::inventory::{DynInventory, Hold};
use crate::organizations::Access;
use crate::seating::SeatingCache;
use crate::store::{
    BookingQuery, BookingRecord, BookingWrite, Deadline, DynStore, Page, WriteOutcome,
};
use crate::telemetry::metrics::names;
use crate::timefmt::rfc3339;
use boxoffice_domain::booking::{BookingAction, BookingStatus, Quantity};
use boxoffice_domain::catalog::SaleState;
use boxoffice_domain::organization::Permission;
use boxoffice_domain::stock::Selection;
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Either one general-admission zone (`zone_id` with `quantity`, as ever) or an
/// order of `items`: zones, chosen seats and best-available seats of one show,
/// held together or not at all, with one expiry and one checkout.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"show_id": "01890a5d-ac96-774b-bcce-b302099a8057", "zone_id": "01890a5d-ac96-774b-bcce-b302099a8058", "quantity": 2}))]
pub struct ReserveRequest {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    /// A general-admission zone; with `quantity`, without `items`.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub zone_id: Option<ZoneId>,
    /// Tickets to hold: 1 up to the show's per-buyer limit (above it: 422 on
    /// `quantity`); with what the buyer already holds, at most that limit (409).
    #[serde(default, deserialize_with = "present_i64")]
    #[schema(schema_with = crate::http::contract::quantity)]
    pub quantity: Option<i64>,
    /// An order of 1 to 20 items instead of `zone_id` and `quantity`; every ticket
    /// counts towards the per-buyer limit.
    #[schema(min_items = 1, max_items = 20)]
    pub items: Option<Vec<ReserveItem>>,
}

/// An integer that may be absent but not `null`.
fn present_i64<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<i64>, D::Error> {
    crate::http::extract::integer::i64(d).map(Some)
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BookingView {
    #[schema(value_type = String, format = Uuid)]
    pub id: BookingId,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    #[schema(example = 2)]
    pub quantity: u32,
    #[schema(example = 4500)]
    pub unit_price_minor: i64,
    #[schema(example = 9000)]
    pub total_minor: i64,
    #[schema(schema_with = crate::http::contract::currency)]
    pub currency: String,
    #[schema(schema_with = crate::http::contract::booking_status)]
    pub status: String,
    /// When an unconfirmed hold returns to sale.
    #[schema(schema_with = crate::http::contract::date_time)]
    pub expires_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub updated_at: String,
    /// What the booking holds: one line per seat, one per general-admission zone.
    /// Tickets are issued one per seat and one per admission of these.
    pub items: Vec<BookingItemView>,
}

impl From<&BookingRecord> for BookingView {
    fn from(b: &BookingRecord) -> Self {
        Self {
            id: b.id,
            user_id: b.user_id,
            show_id: b.show_id,
            zone_id: b.zone_id,
            quantity: b.quantity,
            unit_price_minor: b.unit_price.amount_minor,
            total_minor: b.total.amount_minor,
            currency: b.unit_price.currency.to_string(),
            status: b.status.as_str().into(),
            expires_at: rfc3339(b.expires_at),
            created_at: rfc3339(b.created_at),
            updated_at: rfc3339(b.updated_at),
            items: vec![BookingItemView::implied(b)],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ZoneSales {
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    pub name: String,
    pub capacity: u32,
    /// Live counters.
    pub available: u32,
    pub held: u32,
    pub sold: u32,
    /// The same, counted from the stored bookings.
    pub recorded_held: u32,
    pub recorded_sold: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SalesReport {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    pub per_user_limit: u32,
    /// Most tickets one buyer holds or owns, live and recorded.
    pub max_per_buyer: u32,
    pub recorded_max_per_buyer: u32,
    pub zones: Vec<ZoneSales>,
    /// Every zone satisfies `available + held + sold == capacity`, live counters equal
    /// the record and nobody is above the limit. Writes still in flight can make this
    /// briefly false during a sale.
    pub consistent: bool,
    /// Money by the ledger: captured, refunded, and the bookings whose money does
    /// not match their state (the reconciliation check).
    pub revenue: crate::payments::views::Revenue,
}

pub struct BookingService {
    store: DynStore,
    /// Who may see a show's sales.
    access: Arc<Access>,
    cache: Arc<ShowCache>,
    seating: Arc<SeatingCache>,
    inventory: DynInventory,
    writer: Writer,
    clock: DynClock,
    /// Online payment is on: a buyer's paid booking is confirmed by its payment,
    /// not by `confirm`.
    payments_required: bool,
    /// Shows found drifting at the last reconciliation, with their version then.
    drifting: parking_lot::Mutex<std::collections::HashMap<ShowId, u64>>,
}

impl BookingService {
    pub fn new(
        store: DynStore,
        access: Arc<Access>,
        cache: Arc<ShowCache>,
        inventory: DynInventory,
        writer: Writer,
        clock: DynClock,
        payments_required: bool,
    ) -> Self {
        Self {
            store,
            access,
            cache,
            seating: Arc::default(),
            inventory,
            writer,
            clock,
            payments_required,
            drifting: parking_lot::Mutex::default(),
        }
    }

    /// The live counters of every show the inventory tracks (metrics).
    pub async fn live_counts(&self) -> Vec<(ShowId, crate::inventory::ShowCounts)> {
        let mut out = Vec::new();
        for show in self.cache.ids() {
            if let Some(counts) = self.inventory.counts(show).await {
                out.push((show, counts));
            }
        }
        out
    }

    /// A show from the cache; with a shared inventory, one another node created a
    /// moment ago is read from the store.
    async fn show(&self, id: ShowId) -> Result<Arc<crate::catalog::ShowMeta>> {
        if let Some(show) = self.cache.get(id) {
            return Ok(show);
        }
        if !self.inventory.shared() {
            return Err(Error::NotFound("show"));
        }
        let bundle = self.store.show_bundle(id).await.or_not_found("show")?;
        self.cache.put(bundle);
        self.cache.get(id).ok_or(Error::NotFound("show"))
    }

    /// Whether the live inventory answers, when it lives outside the process.
    pub async fn probe_inventory(&self) -> Option<std::result::Result<(), String>> {
        self.inventory.probe().await
    }

    /// Resolves seats through `seating` (shows without a seat map sell by quantity).
    pub fn with_seating(mut self, seating: Arc<SeatingCache>) -> Self {
        self.seating = seating;
        self
    }

    /// The hot path. Answers only after the hold is committed.
    #[tracing::instrument(name = "booking.reserve", skip_all, fields(show = %req.show_id))]
    pub async fn reserve(&self, who: Principal, req: ReserveRequest) -> Result<BookingView> {
        let show = req.show_id;
        let result = self.take(who, req).await;
        self.count(show, result.as_ref().map(drop));
        result
    }

    /// Counts one answer to a reserve request (refusals before the service, such as
    /// a queue pass, count too).
    pub fn count(&self, show: ShowId, outcome: std::result::Result<(), &Error>) {
        // Only shows of the catalog become label values: an unknown id is not one.
        let label = if self.cache.get(show).is_some() {
            show.to_string()
        } else {
            "unknown".to_owned()
        };
        crate::telemetry::metrics::reservation(label, outcome.map_err(Error::reason));
    }

    async fn take(&self, who: Principal, req: ReserveRequest) -> Result<BookingView> {
        let show = self.show(req.show_id).await?;
        let rules = &show.show.details;
        let now = self.clock.now();
        match rules.sale_state(now) {
            SaleState::Open => {}
            SaleState::NotYetOpen => {
                return Err(Error::conflict(
                    ConflictKind::SaleNotOpen,
                    format!("the sale opens at {}", rfc3339(rules.sale_opens_at)),
                ))
            }
            SaleState::Closed => {
                return Err(Error::conflict(
                    ConflictKind::SaleClosed,
                    format!("the sale closed at {}", rfc3339(rules.sale_closes_at)),
                ))
            }
        }
        let (zone, quantity) = match (req.zone_id, req.quantity, req.items) {
            (None, None, Some(items)) => return self.reserve_order(who, &show, &items).await,
            (_, _, Some(_)) => {
                return Err(Error::field(
                    "items",
                    "give either items or zone_id with quantity, not both",
                ))
            }
            (Some(zone), Some(quantity), None) => (zone, quantity),
            (Some(_), None, None) => return Err(Error::field("quantity", "required with zone_id")),
            (None, _, None) => {
                return Err(Error::field(
                    "zone_id",
                    "required, unless the order lists items",
                ))
            }
        };
        let zone = show.zone(zone).ok_or(Error::NotFound("zone"))?;
        let quantity = Quantity::parse(quantity, rules.per_user_limit)
            .map_err(|m| Error::field("quantity", m))?;
        if self
            .seating
            .get(show.show.id)
            .is_some_and(|s| s.is_seated(zone.id))
        {
            return Err(Error::field(
                "quantity",
                "this zone sells numbered seats: reserve items with seats or best_available",
            ));
        }
        let hold = Hold {
            booking: BookingId::new(),
            show: show.show.id,
            zone: zone.id,
            buyer: who.user,
            quantity: quantity.get(),
            expires_at: now.plus_secs(rules.hold_ttl_secs),
        };
        // Kept until the hold is recorded or released (see `Grant`).
        let _grant = self
            .inventory
            .reserve(
                &hold,
                &Selection::Quantity(quantity.get()),
                rules.per_user_limit,
            )
            .await?;
        let record = BookingRecord {
            id: hold.booking,
            user_id: who.user,
            show_id: hold.show,
            zone_id: hold.zone,
            quantity: hold.quantity,
            unit_price: zone.details.price,
            total: zone.details.price.times(hold.quantity).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "the price of {} tickets overflows",
                    hold.quantity
                ))
            })?,
            status: BookingStatus::Held,
            expires_at: hold.expires_at,
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = self.writer.submit(BookingWrite::Hold(record.clone())).await {
            // Not acknowledged: the tickets go straight back on sale.
            if let Err(release) = self.inventory.release(&hold).await {
                tracing::error!(booking = %hold.booking, error = %release, "could not release an unrecorded hold");
            }
            return Err(e);
        }
        Ok((&record).into())
    }

    /// An order of several items or seats: checked against the cached show and seat
    /// map, taken whole by the inventory, then made durable with its items.
    async fn reserve_order(
        &self,
        who: Principal,
        show: &crate::catalog::ShowMeta,
        items: &[ReserveItem],
    ) -> Result<BookingView> {
        let rules = &show.show.details;
        let seating = self.seating.get(show.show.id);
        let plan = order::plan(show, seating.as_deref(), items, rules.per_user_limit)?;
        let now = self.clock.now();
        let first = plan.selections[0].0;
        let hold = Hold {
            booking: BookingId::new(),
            show: show.show.id,
            zone: first,
            buyer: who.user,
            quantity: plan.tickets,
            expires_at: now.plus_secs(rules.hold_ttl_secs),
        };
        let (taken, _grant) = self
            .inventory
            .reserve_items(&hold, &plan.selections, rules.per_user_limit)
            .await
            .map_err(|e| order::refusal(e, seating.as_deref()))?;
        let written = async {
            let lines = order::items_of(&taken, show, seating.as_deref())?;
            let total = lines
                .iter()
                .try_fold(0i64, |sum, l| {
                    l.unit_price
                        .times(l.quantity)
                        .and_then(|m| sum.checked_add(m.amount_minor))
                })
                .map(|amount_minor| boxoffice_domain::Money {
                    amount_minor,
                    currency: lines[0].unit_price.currency,
                })
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("the order's total overflows")))?;
            let record = BookingRecord {
                id: hold.booking,
                user_id: who.user,
                show_id: hold.show,
                zone_id: first,
                quantity: plan.tickets,
                unit_price: lines[0].unit_price,
                total,
                status: BookingStatus::Held,
                expires_at: hold.expires_at,
                created_at: now,
                updated_at: now,
            };
            self.writer
                .submit(BookingWrite::Order(Box::new((record.clone(), lines))))
                .await?;
            Ok::<_, Error>(record)
        }
        .await;
        match written {
            Ok(record) => self.view(&record).await,
            Err(e) => {
                // Not acknowledged: the seats go straight back on sale.
                if let Err(release) = self.inventory.release(&hold).await {
                    tracing::error!(booking = %hold.booking, error = %release, "could not release an unrecorded order");
                }
                Err(e)
            }
        }
    }

    /// A booking's view with its stored items.
    pub(crate) async fn view(&self, b: &BookingRecord) -> Result<BookingView> {
        let mut view = BookingView::from(b);
        let items = self.store.booking_items(b.id).await?;
        view.items = items.iter().map(BookingItemView::from).collect();
        Ok(view)
    }

    /// What a stored booking asks of the inventory to take the same tickets again
    /// (a payment that came after its hold ended).
    pub(crate) async fn selections_of(
        &self,
        b: &BookingRecord,
    ) -> Result<Option<Vec<(ZoneId, Selection)>>> {
        let items = self.store.booking_items(b.id).await?;
        let seating = self.seating.get(b.show_id);
        Ok(order::selections_of(&items, seating.as_deref()))
    }

    async fn owned(&self, who: Principal, id: BookingId) -> Result<BookingRecord> {
        let booking = self.store.booking(id).await.or_not_found("booking")?;
        if !who.acts_for(booking.user_id) {
            return Err(Error::Forbidden("this booking belongs to another account"));
        }
        Ok(booking)
    }

    /// Runs `action` through the writer; returns the booking after it applied.
    async fn transition(
        &self,
        id: BookingId,
        action: BookingAction,
        deadline: Deadline,
        at: Timestamp,
        owner: Option<UserId>,
    ) -> Result<Option<BookingRecord>> {
        match self
            .writer
            .submit(BookingWrite::Transition {
                id,
                action,
                at,
                deadline,
                owner,
            })
            .await?
        {
            WriteOutcome::Applied(b) => Ok(Some(b)),
            WriteOutcome::Skipped | WriteOutcome::Held | WriteOutcome::Payment(_) => Ok(None),
        }
    }

    /// Why `action` cannot apply to `booking` now.
    fn refusal(booking: &BookingRecord, action: BookingAction, now: Timestamp) -> Error {
        if booking.status == BookingStatus::Expired
            || (booking.status.is_pending() && booking.expires_at <= now)
        {
            return Error::conflict(
                ConflictKind::HoldExpired,
                format!("the hold expired at {}", rfc3339(booking.expires_at)),
            );
        }
        Error::conflict(
            ConflictKind::InvalidState,
            format!(
                "a {} booking cannot be {}",
                booking.status.as_str(),
                match action {
                    BookingAction::Confirm => "confirmed",
                    BookingAction::Cancel => "cancelled",
                    BookingAction::Expire | BookingAction::AbandonPayment => "expired",
                    BookingAction::ConfirmLate => "confirmed",
                    BookingAction::StartPayment => "paid",
                    BookingAction::FailPayment => "marked unpaid",
                    BookingAction::Refund | BookingAction::RefundPartially => "refunded",
                }
            ),
        )
    }

    /// Completes a hold without a payment: free tickets, admins, and every booking
    /// when online payment is off. Confirming an already confirmed booking returns it
    /// unchanged.
    #[tracing::instrument(name = "booking.confirm", skip_all)]
    pub async fn confirm(&self, who: Principal, id: BookingId) -> Result<BookingView> {
        if self.payments_required && !who.is_admin() {
            let booking = self.owned(who, id).await?;
            let free = booking.total.amount_minor == 0;
            if !free && booking.status != BookingStatus::Confirmed {
                return Err(Error::conflict(
                    ConflictKind::PaymentRequired,
                    format!(
                        "this booking costs money: pay it with POST /api/v1/bookings/{id}/checkout"
                    ),
                ));
            }
        }
        self.settle(who, id, BookingAction::Confirm, Deadline::NotPassed)
            .await
    }

    /// Applies `action` to a booking for the payment saga (no owner check: the saga
    /// acts on the gateway's word); the booking if it applied.
    pub(crate) async fn apply(
        &self,
        id: BookingId,
        action: BookingAction,
        deadline: Deadline,
        at: Timestamp,
    ) -> Result<Option<BookingRecord>> {
        self.transition(id, action, deadline, at, None).await
    }

    /// Releases a hold before its deadline.
    #[tracing::instrument(name = "booking.cancel", skip_all)]
    pub async fn cancel(&self, who: Principal, id: BookingId) -> Result<BookingView> {
        self.settle(who, id, BookingAction::Cancel, Deadline::Any)
            .await
    }

    /// Confirms or cancels a hold through the writer; idempotent once done. The
    /// counters move only if the store applied the change.
    async fn settle(
        &self,
        who: Principal,
        id: BookingId,
        action: BookingAction,
        deadline: Deadline,
    ) -> Result<BookingView> {
        let target = action
            .target()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("{action:?} does not settle a hold")))?;
        // The write itself checks the owner: no read on the way to a sale.
        let now = self.clock.now();
        let owner = (!who.is_admin()).then_some(who.user);
        let Some(done) = self.transition(id, action, deadline, now, owner).await? else {
            // Not applied: say why (unknown, someone else's, already done, too late).
            let current = self.owned(who, id).await?;
            if current.status == target {
                return Ok((&current).into());
            }
            return Err(Self::refusal(&current, action, now));
        };
        let hold = Hold::from(&done);
        match action {
            BookingAction::Confirm => self.inventory.confirm(&hold).await?,
            _ => self.inventory.release(&hold).await?,
        }
        Ok((&done).into())
    }

    pub async fn get(&self, who: Principal, id: BookingId) -> Result<BookingView> {
        self.view(&self.owned(who, id).await?).await
    }

    pub async fn list(
        &self,
        who: Principal,
        statuses: Vec<BookingStatus>,
        page: Page,
    ) -> Result<(Vec<BookingView>, i64)> {
        let query = BookingQuery {
            user: Some(who.user),
            statuses,
        };
        let (found, total) = self.store.list_bookings(&query, page).await?;
        let mut views = Vec::with_capacity(found.len());
        for b in &found {
            views.push(self.view(b).await?);
        }
        Ok((views, total))
    }

    /// Live and recorded sales of a show (its organization's members, its API keys,
    /// admins).
    /// Tickets sold over time (by confirmation, in `bucket_ms` buckets), for the
    /// organizer's chart; the sales report's readers may see it.
    pub async fn sales_timeline(
        &self,
        who: Principal,
        show_id: ShowId,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, u32)>> {
        let show = self.cache.get(show_id).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, show.organization_id, Permission::ViewSales)
            .await?;
        Ok(self.store.sales_timeline(show_id, bucket_ms).await?)
    }

    pub async fn sales(&self, who: Principal, show_id: ShowId) -> Result<SalesReport> {
        let show = self.cache.get(show_id).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, show.organization_id, Permission::ViewSales)
            .await?;
        let live = self.inventory.counts(show_id).await.unwrap_or_default();
        let live_max = self.inventory.max_per_buyer(show_id).await.unwrap_or(0);
        let recorded = self.store.show_tallies(show_id).await?;
        let limit = show.show.details.per_user_limit;
        let mut consistent = live_max <= limit
            && recorded.max_per_buyer <= limit
            && live_max == recorded.max_per_buyer;
        let zones = show
            .zones
            .iter()
            .map(|z| {
                let c = live.zone(z.id).unwrap_or_default();
                let (_, recorded_held, recorded_sold) = recorded
                    .zones
                    .iter()
                    .find(|(id, _, _)| *id == z.id)
                    .copied()
                    .unwrap_or((z.id, 0, 0));
                consistent &= c.capacity == z.details.capacity
                    && c.available() + c.held + c.sold == c.capacity
                    && c.held == recorded_held
                    && c.sold == recorded_sold;
                ZoneSales {
                    zone_id: z.id,
                    name: z.details.name.clone(),
                    capacity: c.capacity,
                    available: c.available(),
                    held: c.held,
                    sold: c.sold,
                    recorded_held,
                    recorded_sold,
                }
            })
            .collect();
        Ok(SalesReport {
            show_id,
            per_user_limit: limit,
            max_per_buyer: live_max,
            recorded_max_per_buyer: recorded.max_per_buyer,
            zones,
            consistent,
            revenue: Default::default(),
        })
    }

    /// Compares each selling show's live counters with the record and sets
    /// `inventory_drift`: the tickets on which they disagree. A show whose counters
    /// moved while its record was read is busy (a commit in flight) and is measured
    /// at the next run instead.
    pub async fn reconcile(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let (mut shows, mut zones) = (0usize, 0usize);
        for (show, before) in self.live_counts().await {
            if before.zones.iter().all(|(_, c)| c.held + c.sold == 0) {
                metrics::gauge!(names::INVENTORY_DRIFT, "show" => show.to_string()).set(0.0);
                continue;
            }
            shows += 1;
            zones += before.zones.len();
            let recorded = self.store.show_tallies(show).await?;
            let Some(after) = self.inventory.counts(show).await else {
                continue;
            };
            let same = before.zones.len() == after.zones.len()
                && before.zones.iter().zip(&after.zones).all(|(a, b)| a == b);
            if !same {
                continue;
            }
            let drift: u64 = after
                .zones
                .iter()
                .map(|(zone, c)| {
                    let (held, sold) = recorded
                        .zones
                        .iter()
                        .find(|(id, _, _)| id == zone)
                        .map_or((0, 0), |(_, h, s)| (*h, *s));
                    u64::from(c.held.abs_diff(held)) + u64::from(c.sold.abs_diff(sold))
                })
                .sum();
            metrics::gauge!(names::INVENTORY_DRIFT, "show" => show.to_string()).set(drift as f64);
            if drift == 0 {
                self.drifting.lock().remove(&show);
                continue;
            }
            // A hold granted but not yet committed looks like drift for a moment: repair
            // only a show seen drifting at the last run too, untouched since.
            let seen = self.drifting.lock().insert(show, after.version);
            if seen != Some(after.version) {
                tracing::warn!(show = %show, drift, "live inventory and the record disagree; repairing if it persists");
                continue;
            }
            let (record, _) = super::restore::read(&self.store).await?;
            if self
                .inventory
                .repair(show, &record.only(show), after.version)
                .await?
            {
                self.drifting.lock().remove(&show);
                metrics::counter!(names::INVENTORY_REPAIRED, "show" => show.to_string())
                    .increment(drift);
                tracing::error!(show = %show, drift, "live inventory disagreed with the record; repaired from it");
            }
        }
        let took = started.elapsed();
        metrics::histogram!(names::RECONCILE_DURATION).record(took.as_secs_f64());
        tracing::debug!(
            shows,
            zones,
            took_us = took.as_micros() as u64,
            "inventory reconciled"
        );
        Ok(())
    }

    /// Expires every hold past its deadline; returns how many were released.
    pub async fn expire_due(&self, max: usize) -> Result<usize> {
        let now = self.clock.now();
        let due = self.inventory.due(now, max).await;
        // How late this run is for the most overdue hold (due holds come sorted).
        let lag_ms = due
            .first()
            .map_or(0, |h| (now.millis() - h.expires_at.millis()).max(0));
        metrics::gauge!(names::EXPIRY_LAG).set(lag_ms as f64 / 1000.0);
        if due.is_empty() {
            return Ok(0);
        }
        let writes = due
            .iter()
            .map(|h| BookingWrite::Transition {
                id: h.booking,
                action: BookingAction::Expire,
                at: now,
                deadline: Deadline::Passed,
                owner: None,
            })
            .collect();
        let mut released = 0;
        for (hold, outcome) in due.iter().zip(self.writer.submit_many(writes).await) {
            match outcome? {
                WriteOutcome::Applied(b) => {
                    self.inventory.release(&Hold::from(&b)).await?;
                    released += 1;
                }
                // Granted but never recorded (the process or the store failed between
                // the two): nothing else will ever end it.
                WriteOutcome::Skipped
                    if matches!(
                        self.store.booking(hold.booking).await,
                        Err(crate::store::StoreError::NotFound)
                    ) =>
                {
                    tracing::warn!(booking = %hold.booking, "releasing a hold the store never recorded");
                    self.inventory.release(hold).await?;
                    released += 1;
                }
                // Confirmed or cancelled meanwhile: that path owns the counters.
                WriteOutcome::Skipped | WriteOutcome::Held | WriteOutcome::Payment(_) => {
                    self.inventory.forget(hold).await
                }
            }
        }
        Ok(released)
    }
}
