//! Catalog use cases with ownership checks: members of an organization change only its
//! events, as their role allows (admins any); a show or zone with tickets held or sold cannot be deleted
//! or shrunk below what is committed.
use super::cache::{ShowCache, ShowMeta};
use crate::accounts::Principal;
use crate::audit::{Action, AuditEntry, AuditLog, Target};
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::http::contract;
use crate::inventory::DynInventory;
use crate::organizations::Access;
use crate::store::{
    DynStore, EventFilter, EventRecord, OrganizationStore, Page, ShowRecord, StoreError, ZoneRecord,
};
use crate::timefmt::{parse_rfc3339, rfc3339};
use boxoffice_domain::catalog::{
    self, Category, EventDetails, SaleState, ShowDetails, ZoneDetails,
};
use boxoffice_domain::organization::Permission;
use boxoffice_domain::stock::ZoneCounts;
use boxoffice_domain::{
    EventId, FieldError, OrganizationId, ShowId, Timestamp, UserId, Violations, ZoneId,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// An event as an organizer describes it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Jazz Night", "description": "Three sets, one encore.", "category": "concert", "city": "Lyon"}))]
pub struct EventInput {
    #[schema(schema_with = contract::event_title)]
    pub title: String,
    #[serde(default)]
    #[schema(schema_with = contract::event_description)]
    pub description: String,
    #[schema(schema_with = contract::category)]
    pub category: Category,
    #[schema(schema_with = contract::event_city)]
    pub city: String,
    /// The organization that owns the event. On creation, default (absent or `null`):
    /// the API key's organization, or the caller's only organization (422 when the
    /// caller manages several). It cannot change afterwards (422).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub organization_id: Option<OrganizationId>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventView {
    #[schema(value_type = String, format = Uuid)]
    pub id: EventId,
    /// The organization that owns it.
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrganizationId,
    /// The account that published it.
    #[schema(value_type = String, format = Uuid)]
    pub organizer_id: UserId,
    #[schema(example = "Jazz Night")]
    pub title: String,
    #[schema(example = "Three sets, one encore.")]
    pub description: String,
    #[schema(schema_with = contract::category)]
    pub category: String,
    #[schema(example = "Lyon")]
    pub city: String,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = contract::date_time)]
    pub updated_at: String,
}

impl From<&EventRecord> for EventView {
    fn from(e: &EventRecord) -> Self {
        Self {
            id: e.id,
            organization_id: e.organization_id,
            organizer_id: e.organizer_id,
            title: e.details.title.clone(),
            description: e.details.description.clone(),
            category: e.details.category.clone(),
            city: e.details.city.clone(),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// A priced area of a show.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Floor", "price_minor": 4500, "currency": "EUR", "capacity": 800}))]
pub struct ZoneInput {
    #[schema(schema_with = contract::zone_name)]
    pub name: String,
    /// Price of one ticket in minor units (cents).
    #[serde(deserialize_with = "crate::http::extract::integer::i64")]
    #[schema(schema_with = contract::price_minor)]
    pub price_minor: i64,
    /// ISO 4217 code in capitals, e.g. EUR.
    #[schema(schema_with = contract::currency)]
    pub currency: String,
    /// Never below the tickets already held or sold (422 on `capacity`).
    #[serde(deserialize_with = "crate::http::extract::integer::i64")]
    #[schema(schema_with = contract::capacity)]
    pub capacity: i64,
}

/// A new show, optionally with its zones.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"venue": "Salle 3", "starts_at": "2027-03-01T20:00:00Z", "hold_ttl_secs": 600, "per_user_limit": 4,
    "zones": [{"name": "Floor", "price_minor": 4500, "currency": "EUR", "capacity": 800}]}))]
pub struct ShowInput {
    #[schema(schema_with = contract::show_venue)]
    pub venue: String,
    #[schema(schema_with = contract::date_time)]
    pub starts_at: String,
    /// Default (absent or `null`): now. `sale_closes_at` must come after it (422).
    #[serde(default)]
    #[schema(schema_with = contract::date_time_or_default)]
    pub sale_opens_at: Option<String>,
    /// Default: when the show starts. At most one day after `starts_at` (422).
    #[serde(default)]
    #[schema(schema_with = contract::date_time_or_default)]
    pub sale_closes_at: Option<String>,
    /// How long a hold lasts before its tickets return to sale (default 600).
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_i64")]
    #[schema(schema_with = contract::hold_ttl_secs)]
    pub hold_ttl_secs: Option<i64>,
    /// Most tickets one buyer may hold or own for this show (default 6).
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_i64")]
    #[schema(schema_with = contract::per_user_limit)]
    pub per_user_limit: Option<i64>,
    /// Zones to create with the show; zone names are unique in a show (422 on `name`).
    #[serde(default)]
    pub zones: Vec<ZoneInput>,
}

/// New details of a show; its zones are managed under `/shows/{id}/zones`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"venue": "Salle 3", "starts_at": "2027-03-01T20:00:00Z", "hold_ttl_secs": 600, "per_user_limit": 4}))]
pub struct ShowChange {
    #[schema(schema_with = contract::show_venue)]
    pub venue: String,
    #[schema(schema_with = contract::date_time)]
    pub starts_at: String,
    /// Default (absent or `null`): now. `sale_closes_at` must come after it (422).
    #[serde(default)]
    #[schema(schema_with = contract::date_time_or_default)]
    pub sale_opens_at: Option<String>,
    /// Default: when the show starts. At most one day after `starts_at` (422).
    #[serde(default)]
    #[schema(schema_with = contract::date_time_or_default)]
    pub sale_closes_at: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_i64")]
    #[schema(schema_with = contract::hold_ttl_secs)]
    pub hold_ttl_secs: Option<i64>,
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_i64")]
    #[schema(schema_with = contract::per_user_limit)]
    pub per_user_limit: Option<i64>,
}

impl From<ShowChange> for ShowInput {
    fn from(c: ShowChange) -> Self {
        Self {
            venue: c.venue,
            starts_at: c.starts_at,
            sale_opens_at: c.sale_opens_at,
            sale_closes_at: c.sale_closes_at,
            hold_ttl_secs: c.hold_ttl_secs,
            per_user_limit: c.per_user_limit,
            zones: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ZoneView {
    #[schema(value_type = String, format = Uuid)]
    pub id: ZoneId,
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    #[schema(example = "Floor")]
    pub name: String,
    #[schema(example = 4500)]
    pub price_minor: i64,
    #[schema(schema_with = contract::currency)]
    pub currency: String,
    #[schema(example = 800)]
    pub capacity: u32,
    /// Live: tickets still for sale.
    #[schema(example = 798)]
    pub available: u32,
    /// Live: tickets in unexpired holds.
    #[schema(example = 2)]
    pub held: u32,
    /// Live: tickets sold.
    #[schema(example = 0)]
    pub sold: u32,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShowView {
    #[schema(value_type = String, format = Uuid)]
    pub id: ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub event_id: EventId,
    #[schema(example = "Salle 3")]
    pub venue: String,
    #[schema(schema_with = contract::date_time)]
    pub starts_at: String,
    #[schema(schema_with = contract::date_time)]
    pub sale_opens_at: String,
    #[schema(schema_with = contract::date_time)]
    pub sale_closes_at: String,
    #[schema(schema_with = contract::sale_state)]
    pub sale_state: SaleState,
    #[schema(example = 600)]
    pub hold_ttl_secs: i64,
    #[schema(example = 4)]
    pub per_user_limit: u32,
    pub zones: Vec<ZoneView>,
}

pub struct CatalogService {
    store: DynStore,
    organizations: Arc<dyn OrganizationStore>,
    access: Arc<Access>,
    cache: Arc<ShowCache>,
    inventory: DynInventory,
    clock: DynClock,
    audit: AuditLog,
}

fn parse_opt_time(v: &mut Violations, field: &str, raw: &Option<String>) -> Option<Timestamp> {
    raw.as_deref()
        .and_then(|r| v.check(field, parse_rfc3339(r)))
}

fn prefixed(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.message))
        .collect()
}

impl CatalogService {
    pub fn new(
        store: DynStore,
        organizations: Arc<dyn OrganizationStore>,
        access: Arc<Access>,
        cache: Arc<ShowCache>,
        inventory: DynInventory,
        clock: DynClock,
        audit: AuditLog,
    ) -> Self {
        Self {
            store,
            organizations,
            access,
            cache,
            inventory,
            clock,
            audit,
        }
    }

    async fn owned_event(&self, who: Principal, id: EventId) -> Result<EventRecord> {
        let event = self.store.event(id).await.or_not_found("event")?;
        self.access
            .require(&who, event.organization_id, Permission::ManageCatalog)
            .await?;
        Ok(event)
    }

    async fn owned_show(&self, who: Principal, id: ShowId) -> Result<Arc<ShowMeta>> {
        let show = self.cache.get(id).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, show.organization_id, Permission::ManageCatalog)
            .await?;
        Ok(show)
    }

    /// The organization a new event goes to: the one named, or else the API key's,
    /// or else the caller's only organization in which they manage the catalog.
    async fn publishing_organization(
        &self,
        who: Principal,
        named: Option<OrganizationId>,
    ) -> Result<OrganizationId> {
        let org =
            match (named, who.key) {
                (Some(org), _) => org,
                (None, Some(key)) => key.organization,
                (None, None) if who.is_admin() => {
                    return Err(Error::field(
                        "organization_id",
                        "is required: admins publish on behalf of an organization",
                    ))
                }
                (None, None) => {
                    let mut eligible = self
                        .organizations
                        .organizations_of(who.user)
                        .await?
                        .into_iter()
                        .filter(|(_, role)| role.allows(Permission::ManageCatalog));
                    match (eligible.next(), eligible.next()) {
                        (Some((org, _)), None) => org.id,
                        (None, _) => return Err(Error::Forbidden(
                            "only members of an organization who manage its catalog publish events",
                        )),
                        (Some(_), Some(_)) => {
                            return Err(Error::field(
                                "organization_id",
                                "is required: you manage the catalog of several organizations",
                            ))
                        }
                    }
                }
            };
        match self.organizations.organization(org).await {
            Err(StoreError::NotFound) => {
                return Err(Error::field("organization_id", "no such organization"))
            }
            other => other?,
        };
        self.access
            .require(&who, org, Permission::ManageCatalog)
            .await?;
        Ok(org)
    }

    async fn refresh(&self, id: ShowId) -> Result<Arc<ShowMeta>> {
        let bundle = self.store.show_bundle(id).await.or_not_found("show")?;
        self.cache.put(bundle);
        self.cache.get(id).ok_or(Error::NotFound("show"))
    }

    pub async fn create_event(&self, who: Principal, input: EventInput) -> Result<EventView> {
        let organization_id = self
            .publishing_organization(who, input.organization_id)
            .await?;
        let details = EventDetails::parse(
            &input.title,
            &input.description,
            input.category.as_str(),
            &input.city,
        )?;
        let now = self.clock.now();
        let event = EventRecord {
            id: EventId::new(),
            organization_id,
            organizer_id: who.user,
            details,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_event(&event).await?;
        self.audit
            .record(
                AuditEntry::on(Action::EventCreated, who, Target::event(event.id))
                    .organization(organization_id),
            )
            .await;
        Ok((&event).into())
    }

    pub async fn update_event(
        &self,
        who: Principal,
        id: EventId,
        input: EventInput,
    ) -> Result<EventView> {
        let mut event = self.owned_event(who, id).await?;
        if input
            .organization_id
            .is_some_and(|o| o != event.organization_id)
        {
            return Err(Error::field(
                "organization_id",
                "an event stays with the organization that published it",
            ));
        }
        event.details = EventDetails::parse(
            &input.title,
            &input.description,
            input.category.as_str(),
            &input.city,
        )?;
        event.updated_at = self.clock.now();
        self.store
            .update_event(&event)
            .await
            .or_not_found("event")?;
        self.audit
            .record(
                AuditEntry::on(Action::EventUpdated, who, Target::event(id))
                    .organization(event.organization_id),
            )
            .await;
        Ok((&event).into())
    }

    pub async fn delete_event(&self, who: Principal, id: EventId) -> Result<()> {
        let event = self.owned_event(who, id).await?;
        let shows = self.store.shows_of_event(id).await?;
        for s in &shows {
            if self.store.show_has_bookings(s.id).await? {
                return Err(Error::conflict(
                    ConflictKind::InUse,
                    "a show of this event has bookings; it cannot be deleted",
                ));
            }
        }
        for s in &shows {
            self.inventory.remove_show(s.id).await?;
            self.cache.remove(s.id);
        }
        self.store.delete_event(id).await.or_not_found("event")?;
        self.audit
            .record(
                AuditEntry::on(Action::EventDeleted, who, Target::event(id))
                    .organization(event.organization_id),
            )
            .await;
        Ok(())
    }

    pub async fn event(&self, id: EventId) -> Result<EventView> {
        Ok((&self.store.event(id).await.or_not_found("event")?).into())
    }

    pub async fn list_events(
        &self,
        filter: EventFilter,
        page: Page,
    ) -> Result<(Vec<EventView>, i64)> {
        let (events, total) = self.store.list_events(&filter, page).await?;
        Ok((events.iter().map(EventView::from).collect(), total))
    }

    fn parse_show(&self, input: &ShowInput) -> Result<ShowDetails> {
        let mut v = Violations::new();
        let starts = v.check("starts_at", parse_rfc3339(&input.starts_at));
        let opens = parse_opt_time(&mut v, "sale_opens_at", &input.sale_opens_at);
        let closes = parse_opt_time(&mut v, "sale_closes_at", &input.sale_closes_at);
        v.finish(|| ())?;
        let details = ShowDetails::parse(
            catalog::ShowInput {
                venue: &input.venue,
                starts_at: starts.expect("checked"),
                sale_opens_at: opens,
                sale_closes_at: closes,
                hold_ttl_secs: input.hold_ttl_secs,
                per_user_limit: input.per_user_limit,
            },
            self.clock.now(),
        )?;
        Ok(details)
    }

    fn parse_zone(input: &ZoneInput) -> Result<ZoneDetails, Vec<FieldError>> {
        ZoneDetails::parse(
            &input.name,
            input.price_minor,
            &input.currency,
            input.capacity,
        )
    }

    pub async fn create_show(
        &self,
        who: Principal,
        event_id: EventId,
        input: ShowInput,
    ) -> Result<ShowView> {
        let event = self.owned_event(who, event_id).await?;
        let details = self.parse_show(&input);
        let mut errors = match &details {
            Err(Error::Validation(e)) => e.clone(),
            _ => Vec::new(),
        };
        let mut zones = Vec::new();
        for (n, z) in input.zones.iter().enumerate() {
            match Self::parse_zone(z) {
                Ok(d) => zones.push(d),
                Err(e) => errors.extend(prefixed(&format!("zones[{n}]"), e)),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = self.clock.now();
        let show = ShowRecord {
            id: ShowId::new(),
            event_id,
            details: details?,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_show(&show).await?;
        for d in zones {
            let zone = ZoneRecord {
                id: ZoneId::new(),
                show_id: show.id,
                details: d,
                created_at: now,
                updated_at: now,
            };
            self.insert_zone(&zone).await?;
        }
        self.audit
            .record(
                AuditEntry::new(Action::ShowCreated, who)
                    .target(Target::show(show.id))
                    .organization(event.organization_id)
                    .detail(serde_json::json!({"event_id": event_id, "zones": input.zones.len()})),
            )
            .await;
        let meta = self.refresh(show.id).await?;
        Ok(self.view(&meta).await)
    }

    async fn insert_zone(&self, zone: &ZoneRecord) -> Result<()> {
        self.store.insert_zone(zone).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                Error::field("name", "a zone with this name already exists in the show")
            }
            other => other.into(),
        })?;
        self.inventory
            .set_capacity(zone.show_id, zone.id, zone.details.capacity)
            .await?;
        Ok(())
    }

    pub async fn update_show(
        &self,
        who: Principal,
        id: ShowId,
        input: ShowInput,
    ) -> Result<ShowView> {
        let meta = self.owned_show(who, id).await?;
        if !input.zones.is_empty() {
            return Err(Error::field(
                "zones",
                "zones are managed under /shows/{id}/zones",
            ));
        }
        let mut show = meta.show.clone();
        show.details = self.parse_show(&input)?;
        let holds = self.inventory.max_per_buyer(id).await.unwrap_or(0);
        if show.details.per_user_limit < holds {
            return Err(Error::field(
                "per_user_limit",
                format!("must be at least {holds}, the most tickets a buyer already holds"),
            ));
        }
        show.updated_at = self.clock.now();
        self.store.update_show(&show).await.or_not_found("show")?;
        self.audit
            .record(
                AuditEntry::on(Action::ShowUpdated, who, Target::show(id))
                    .organization(meta.organization_id),
            )
            .await;
        let meta = self.refresh(id).await?;
        Ok(self.view(&meta).await)
    }

    pub async fn delete_show(&self, who: Principal, id: ShowId) -> Result<()> {
        let meta = self.owned_show(who, id).await?;
        if self.store.show_has_bookings(id).await? {
            return Err(Error::conflict(
                ConflictKind::InUse,
                "this show has bookings; it cannot be deleted",
            ));
        }
        self.inventory.remove_show(id).await?;
        self.store.delete_show(id).await.or_not_found("show")?;
        self.cache.remove(id);
        self.audit
            .record(
                AuditEntry::on(Action::ShowDeleted, who, Target::show(id))
                    .organization(meta.organization_id),
            )
            .await;
        Ok(())
    }

    pub async fn shows_of_event(&self, event_id: EventId) -> Result<Vec<ShowView>> {
        self.store.event(event_id).await.or_not_found("event")?;
        let mut out = Vec::new();
        for s in self.store.shows_of_event(event_id).await? {
            if let Some(meta) = self.cache.get(s.id) {
                out.push(self.view(&meta).await);
            }
        }
        Ok(out)
    }

    pub async fn show(&self, id: ShowId) -> Result<ShowView> {
        let meta = self.cache.get(id).ok_or(Error::NotFound("show"))?;
        Ok(self.view(&meta).await)
    }

    pub async fn create_zone(
        &self,
        who: Principal,
        show_id: ShowId,
        input: ZoneInput,
    ) -> Result<ZoneView> {
        let meta = self.owned_show(who, show_id).await?;
        let details = Self::parse_zone(&input)?;
        let now = self.clock.now();
        let zone = ZoneRecord {
            id: ZoneId::new(),
            show_id,
            details,
            created_at: now,
            updated_at: now,
        };
        self.insert_zone(&zone).await?;
        self.audit
            .record(
                AuditEntry::new(Action::ZoneCreated, who)
                    .target(Target::zone(zone.id))
                    .organization(meta.organization_id)
                    .detail(serde_json::json!({"show_id": show_id})),
            )
            .await;
        let meta = self.refresh(show_id).await?;
        self.zone_view(&meta, zone.id).await
    }

    pub async fn update_zone(
        &self,
        who: Principal,
        show_id: ShowId,
        zone_id: ZoneId,
        input: ZoneInput,
    ) -> Result<ZoneView> {
        let meta = self.owned_show(who, show_id).await?;
        let old = meta.zone(zone_id).ok_or(Error::NotFound("zone"))?.clone();
        let details = Self::parse_zone(&input)?;
        // The inventory knows what is committed right now: resize there first.
        self.inventory
            .set_capacity(show_id, zone_id, details.capacity)
            .await?;
        let zone = ZoneRecord {
            details,
            updated_at: self.clock.now(),
            ..old.clone()
        };
        if let Err(e) = self.store.update_zone(&zone).await {
            if let Err(revert) = self
                .inventory
                .set_capacity(show_id, zone_id, old.details.capacity)
                .await
            {
                tracing::error!(zone = %zone_id, error = %revert, "could not restore zone capacity");
            }
            return Err(match e {
                StoreError::Conflict(_) => {
                    Error::field("name", "a zone with this name already exists in the show")
                }
                other => other.into(),
            });
        }
        self.audit
            .record(
                AuditEntry::new(Action::ZoneUpdated, who)
                    .target(Target::zone(zone_id))
                    .organization(meta.organization_id)
                    .detail(serde_json::json!({"show_id": show_id})),
            )
            .await;
        let meta = self.refresh(show_id).await?;
        self.zone_view(&meta, zone_id).await
    }

    pub async fn delete_zone(
        &self,
        who: Principal,
        show_id: ShowId,
        zone_id: ZoneId,
    ) -> Result<()> {
        let meta = self.owned_show(who, show_id).await?;
        let zone = meta.zone(zone_id).ok_or(Error::NotFound("zone"))?.clone();
        self.inventory.remove_zone(show_id, zone_id).await?;
        if let Err(e) = self.store.delete_zone(zone_id).await {
            self.inventory
                .set_capacity(show_id, zone_id, zone.details.capacity)
                .await?;
            return Err(match e {
                StoreError::Conflict(_) => Error::conflict(
                    ConflictKind::InUse,
                    "this zone has bookings; it cannot be deleted",
                ),
                other => other.into(),
            });
        }
        self.audit
            .record(
                AuditEntry::new(Action::ZoneDeleted, who)
                    .target(Target::zone(zone_id))
                    .organization(meta.organization_id)
                    .detail(serde_json::json!({"show_id": show_id})),
            )
            .await;
        self.refresh(show_id).await?;
        Ok(())
    }

    pub async fn zones(&self, show_id: ShowId) -> Result<Vec<ZoneView>> {
        Ok(self.show(show_id).await?.zones)
    }

    async fn zone_view(&self, meta: &ShowMeta, zone: ZoneId) -> Result<ZoneView> {
        self.view(meta)
            .await
            .zones
            .into_iter()
            .find(|z| z.id == zone)
            .ok_or(Error::NotFound("zone"))
    }

    /// A show with live availability per zone.
    pub async fn view(&self, meta: &ShowMeta) -> ShowView {
        let counts = self
            .inventory
            .counts(meta.show.id)
            .await
            .unwrap_or_default();
        let d = &meta.show.details;
        ShowView {
            id: meta.show.id,
            event_id: meta.show.event_id,
            venue: d.venue.clone(),
            starts_at: rfc3339(d.starts_at),
            sale_opens_at: rfc3339(d.sale_opens_at),
            sale_closes_at: rfc3339(d.sale_closes_at),
            sale_state: d.sale_state(self.clock.now()),
            hold_ttl_secs: d.hold_ttl_secs,
            per_user_limit: d.per_user_limit,
            zones: meta
                .zones
                .iter()
                .map(|z| {
                    let c = counts.zone(z.id).unwrap_or(ZoneCounts {
                        capacity: z.details.capacity,
                        held: 0,
                        sold: 0,
                    });
                    ZoneView {
                        id: z.id,
                        show_id: z.show_id,
                        name: z.details.name.clone(),
                        price_minor: z.details.price.amount_minor,
                        currency: z.details.price.currency.to_string(),
                        capacity: c.capacity,
                        available: c.available(),
                        held: c.held,
                        sold: c.sold,
                    }
                })
                .collect(),
        }
    }
}
