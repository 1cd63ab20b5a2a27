//! Webhook use cases: endpoints of an organization (secrets shown once, sealed at
//! rest), secret rotation with an overlap window, the delivery log, redelivery and ping.
use crate::accounts::Principal;
use crate::audit::{Action, AuditEntry, AuditLog, Target};
use crate::clock::DynClock;
use crate::config::WebhooksConfig;
use crate::error::{Error, OrNotFound, Result};
use crate::http::contract;
use crate::organizations::Access;
use crate::store::{
    AttemptRecord, DeliveryRecord, DeliveryStatus, DynStore, Page, StoreError, WebhookRecord,
};
use crate::timefmt::rfc3339;
use crate::vault::Vault;
use base64::Engine;
use boxoffice_domain::ids::{DeliveryId, WebhookId};
use boxoffice_domain::organization::Permission;
use boxoffice_domain::webhook::{self, DESCRIPTION, PING, SECRET_PREFIX};
use boxoffice_domain::{OrganizationId, Timestamp, Violations};
use rand::RngCore;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::Notify;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookView {
    #[schema(value_type = String, format = Uuid)]
    pub id: WebhookId,
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrganizationId,
    #[schema(schema_with = contract::webhook_url)]
    pub url: String,
    /// Empty when none was given.
    #[schema(schema_with = contract::webhook_description)]
    pub description: String,
    #[schema(schema_with = contract::webhook_event_types)]
    pub event_types: Vec<String>,
    /// A disabled endpoint receives nothing; its pending deliveries wait.
    pub enabled: bool,
    /// While a rotated secret still signs (both `v1` values are sent), until when;
    /// `null` otherwise.
    #[schema(schema_with = contract::date_time_or_null)]
    pub previous_secret_expires_at: Option<String>,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = contract::date_time)]
    pub updated_at: String,
}

impl WebhookView {
    fn of(w: &WebhookRecord, now: Timestamp) -> Self {
        Self {
            id: w.id,
            organization_id: w.organization_id,
            url: w.url.clone(),
            description: w.description.clone(),
            event_types: w.event_types.clone(),
            enabled: w.enabled,
            previous_secret_expires_at: w
                .previous_expires_at
                .filter(|at| *at > now && w.previous_secret_sealed.is_some())
                .map(rfc3339),
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

/// An endpoint with its signing secret, which is shown in this answer only.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    pub webhook: WebhookView,
    /// Verify each delivery's `Boxoffice-Signature` with it. Shown once; kept
    /// encrypted, never displayed again.
    #[schema(example = "whsec_q3JxY2VudGx5LXJvdGF0ZWQtc2VjcmV0LWV4YW1wbGU")]
    pub secret: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(value_type = String, format = Uuid)]
    pub id: DeliveryId,
    #[schema(value_type = String, format = Uuid)]
    pub webhook_id: WebhookId,
    /// The event's id, sent as `Boxoffice-Event-Id`: the same on every attempt.
    #[schema(format = Uuid, example = "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77")]
    pub event_id: String,
    #[schema(schema_with = contract::webhook_delivered_type)]
    pub event_type: String,
    #[schema(schema_with = contract::delivery_status)]
    pub status: String,
    /// Attempts so far.
    #[schema(minimum = 0, example = 1)]
    pub attempts: u32,
    /// HTTP status of the last answer; `null` before any or when none came.
    #[schema(minimum = 100, maximum = 599, example = 200)]
    pub last_response_status: Option<u16>,
    /// Why the last attempt failed (truncated); `null` after a success.
    #[schema(example = "answered 503")]
    pub last_error: Option<String>,
    #[schema(schema_with = contract::date_time_or_null)]
    pub last_attempt_at: Option<String>,
    /// When a pending delivery is tried next; `null` once settled.
    #[schema(schema_with = contract::date_time_or_null)]
    pub next_attempt_at: Option<String>,
    #[schema(schema_with = contract::date_time_or_null)]
    pub delivered_at: Option<String>,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
}

impl From<&DeliveryRecord> for DeliveryView {
    fn from(d: &DeliveryRecord) -> Self {
        Self {
            id: d.id,
            webhook_id: d.endpoint_id,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_response_status: d.last_status,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at.map(rfc3339),
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            delivered_at: d.delivered_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
        }
    }
}

/// One attempt of a delivery.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first.
    #[schema(minimum = 1, example = 1)]
    pub attempt: u32,
    #[schema(schema_with = contract::date_time)]
    pub at: String,
    /// The answer's HTTP status; `null` when none came (refused, timed out).
    #[schema(minimum = 100, maximum = 599, example = 503)]
    pub response_status: Option<u16>,
    /// From sending the request to its answer (or failure).
    #[schema(minimum = 0, example = 42)]
    pub duration_ms: i64,
    /// Why it failed (truncated); `null` for a success.
    #[schema(example = "answered 503")]
    pub error: Option<String>,
}

impl From<&AttemptRecord> for AttemptView {
    fn from(a: &AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            at: rfc3339(a.at),
            response_status: a.response_status,
            duration_ms: a.duration_ms,
            error: a.error.clone(),
        }
    }
}

/// A delivery with every attempt made.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    pub delivery: DeliveryView,
    /// First first.
    pub attempts: Vec<AttemptView>,
}

pub struct NewWebhook {
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

/// A partial change: `None` keeps the field.
#[derive(Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Why `url` names a host that is not on the public internet (an address literal
/// or `localhost`), if it does. Names are checked again when they resolve.
pub fn local_target(url: &url::Url) -> Option<&'static str> {
    let refused = "must not point to a loopback, private or link-local address";
    match url.host()? {
        url::Host::Ipv4(ip) => (!webhook::is_public_address(ip.into())).then_some(refused),
        url::Host::Ipv6(ip) => (!webhook::is_public_address(ip.into())).then_some(refused),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            (d == "localhost" || d.ends_with(".localhost")).then_some(refused)
        }
    }
}

/// A fresh signing secret: `whsec_` and 32 random bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The secrets that sign for `w` at `now`: the current one, then the previous one
/// while its overlap lasts.
pub async fn signing_secrets(
    vault: &Vault,
    w: &WebhookRecord,
    now: Timestamp,
) -> anyhow::Result<Vec<String>> {
    let mut secrets = vec![vault.open(&w.secret_sealed).await?];
    if let (Some(previous), Some(until)) = (&w.previous_secret_sealed, w.previous_expires_at) {
        if until > now {
            secrets.push(vault.open(previous).await?);
        }
    }
    Ok(secrets)
}

pub struct WebhookService {
    store: DynStore,
    access: Arc<Access>,
    vault: Arc<Vault>,
    clock: DynClock,
    audit: AuditLog,
    config: WebhooksConfig,
    /// Wakes the dispatcher when a delivery became due now.
    wake: Arc<Notify>,
}

impl WebhookService {
    pub fn new(
        store: DynStore,
        access: Arc<Access>,
        vault: Arc<Vault>,
        clock: DynClock,
        audit: AuditLog,
        config: WebhooksConfig,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            access,
            vault,
            clock,
            audit,
            config,
            wake,
        }
    }

    async fn record(&self, action: Action, who: Principal, org: OrganizationId, id: WebhookId) {
        self.audit
            .record(AuditEntry::on(action, who, Target::new("webhook", id)).organization(org))
            .await;
    }

    /// 404 for an unknown organization, then 403 unless `who` manages its webhooks.
    async fn allowed(&self, who: &Principal, org: OrganizationId) -> Result<()> {
        self.store
            .organization(org)
            .await
            .or_not_found("organization")?;
        self.access
            .require(who, org, Permission::ManageWebhooks)
            .await
    }

    /// An endpoint of `org` the caller manages; 404 when `org` has no such one.
    async fn owned(
        &self,
        who: &Principal,
        org: OrganizationId,
        id: WebhookId,
    ) -> Result<WebhookRecord> {
        self.allowed(who, org).await?;
        match self.store.webhook(id).await {
            Ok(w) if w.organization_id == org => Ok(w),
            Ok(_) | Err(StoreError::NotFound) => Err(Error::NotFound("webhook")),
            Err(e) => Err(e.into()),
        }
    }

    fn parse_url(&self, raw: &str) -> std::result::Result<String, String> {
        let url = webhook::parse_url(raw, self.config.allow_http)?;
        // What the HTTP client will be handed must parse as a URL too.
        let parsed = url::Url::parse(&url).map_err(|e| format!("is not a valid URL: {e}"))?;
        if !self.config.allow_private_addresses {
            if let Some(why) = local_target(&parsed) {
                return Err(why.into());
            }
        }
        Ok(url)
    }

    pub async fn create(
        &self,
        who: Principal,
        org: OrganizationId,
        input: NewWebhook,
    ) -> Result<WebhookWithSecret> {
        self.allowed(&who, org).await?;
        let mut v = Violations::new();
        let url = v.check("url", self.parse_url(&input.url));
        let types = v.check(
            "event_types",
            webhook::parse_event_types(&input.event_types),
        );
        let description = v.check(
            "description",
            DESCRIPTION.parse(input.description.as_deref().unwrap_or("")),
        );
        v.finish(|| ())?;
        let now = self.clock.now();
        let secret = new_secret();
        let record = WebhookRecord {
            id: WebhookId::new(),
            organization_id: org,
            url: url.expect("checked"),
            description: description.expect("checked"),
            event_types: types.expect("checked"),
            enabled: true,
            secret_sealed: self.vault.encrypt(&secret),
            previous_secret_sealed: None,
            previous_expires_at: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_webhook(&record).await?;
        tracing::info!(organization = %org, webhook = %record.id, "webhook endpoint created");
        self.record(Action::WebhookCreated, who, org, record.id)
            .await;
        Ok(WebhookWithSecret {
            webhook: WebhookView::of(&record, now),
            secret,
        })
    }

    pub async fn list(&self, who: Principal, org: OrganizationId) -> Result<Vec<WebhookView>> {
        self.allowed(&who, org).await?;
        let now = self.clock.now();
        Ok(self
            .store
            .webhooks_of(org)
            .await?
            .iter()
            .map(|w| WebhookView::of(w, now))
            .collect())
    }

    pub async fn get(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
    ) -> Result<WebhookView> {
        let w = self.owned(&who, org, id).await?;
        Ok(WebhookView::of(&w, self.clock.now()))
    }

    pub async fn update(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
        change: WebhookChange,
    ) -> Result<WebhookView> {
        let mut w = self.owned(&who, org, id).await?;
        let mut v = Violations::new();
        if let Some(url) = &change.url {
            if let Some(url) = v.check("url", self.parse_url(url)) {
                w.url = url;
            }
        }
        if let Some(types) = &change.event_types {
            if let Some(types) = v.check("event_types", webhook::parse_event_types(types)) {
                w.event_types = types;
            }
        }
        if let Some(d) = &change.description {
            if let Some(d) = v.check("description", DESCRIPTION.parse(d)) {
                w.description = d;
            }
        }
        v.finish(|| ())?;
        if let Some(enabled) = change.enabled {
            w.enabled = enabled;
        }
        let now = self.clock.now();
        w.updated_at = now;
        self.store
            .update_webhook(&w)
            .await
            .or_not_found("webhook")?;
        tracing::info!(organization = %org, webhook = %id, enabled = w.enabled, "webhook endpoint changed");
        self.record(Action::WebhookUpdated, who, org, id).await;
        if w.enabled {
            self.wake.notify_one();
        }
        Ok(WebhookView::of(&w, now))
    }

    pub async fn delete(&self, who: Principal, org: OrganizationId, id: WebhookId) -> Result<()> {
        self.owned(&who, org, id).await?;
        if !self.store.delete_webhook(org, id).await? {
            return Err(Error::NotFound("webhook"));
        }
        tracing::info!(organization = %org, webhook = %id, "webhook endpoint deleted");
        self.record(Action::WebhookDeleted, who, org, id).await;
        Ok(())
    }

    /// A new secret, shown once; the current one keeps signing beside it for the
    /// configured overlap (a secret still overlapping from an earlier rotation stops).
    pub async fn rotate_secret(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
    ) -> Result<WebhookWithSecret> {
        let mut w = self.owned(&who, org, id).await?;
        let now = self.clock.now();
        let secret = new_secret();
        let overlap = i64::try_from(self.config.secret_overlap_secs).unwrap_or(i64::MAX / 2000);
        w.previous_secret_sealed = Some(std::mem::replace(
            &mut w.secret_sealed,
            self.vault.encrypt(&secret),
        ));
        w.previous_expires_at = Some(now.plus_secs(overlap));
        w.updated_at = now;
        self.store
            .update_webhook(&w)
            .await
            .or_not_found("webhook")?;
        tracing::info!(organization = %org, webhook = %id, overlap_secs = overlap, "webhook secret rotated");
        self.record(Action::WebhookSecretRotated, who, org, id)
            .await;
        Ok(WebhookWithSecret {
            webhook: WebhookView::of(&w, now),
            secret,
        })
    }

    pub async fn deliveries(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
        page: Page,
    ) -> Result<(Vec<DeliveryView>, i64)> {
        self.owned(&who, org, id).await?;
        let (items, total) = self.store.deliveries_of(id, page).await?;
        Ok((items.iter().map(Into::into).collect(), total))
    }

    /// A delivery of the endpoint, 404 for another endpoint's.
    async fn delivery_of(&self, id: WebhookId, delivery: DeliveryId) -> Result<DeliveryRecord> {
        match self.store.delivery(delivery).await {
            Ok(d) if d.endpoint_id == id => Ok(d),
            Ok(_) | Err(StoreError::NotFound) => Err(Error::NotFound("delivery")),
            Err(e) => Err(e.into()),
        }
    }

    /// One delivery with the log of its attempts.
    pub async fn delivery(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<DeliveryDetail> {
        self.owned(&who, org, id).await?;
        let d = self.delivery_of(id, delivery).await?;
        let attempts = self.store.attempts_of(delivery).await?;
        Ok(DeliveryDetail {
            delivery: (&d).into(),
            attempts: attempts.iter().map(Into::into).collect(),
        })
    }

    /// Sends a delivery again now, with a fresh retry window, whatever its state.
    pub async fn redeliver(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<DeliveryView> {
        self.owned(&who, org, id).await?;
        self.delivery_of(id, delivery).await?;
        let now = self.clock.now();
        self.store
            .redeliver(delivery, now)
            .await
            .or_not_found("delivery")?;
        // Read before the dispatcher is woken: the answer shows the request, not a race.
        let view = DeliveryView::from(&self.store.delivery(delivery).await?);
        tracing::info!(organization = %org, webhook = %id, delivery = %delivery, "webhook redelivery requested");
        self.audit
            .record(
                AuditEntry::on(
                    Action::WebhookRedelivered,
                    who,
                    Target::new("webhook_delivery", delivery),
                )
                .organization(org)
                .detail(serde_json::json!({"webhook_id": id})),
            )
            .await;
        self.wake.notify_one();
        Ok(view)
    }

    /// Queues a `webhook.ping` event for the endpoint (whatever it subscribed to).
    pub async fn ping(
        &self,
        who: Principal,
        org: OrganizationId,
        id: WebhookId,
    ) -> Result<DeliveryView> {
        self.owned(&who, org, id).await?;
        let now = self.clock.now();
        let delivery = DeliveryRecord {
            id: DeliveryId::new(),
            endpoint_id: id,
            event_id: uuid::Uuid::now_v7().to_string(),
            event_type: PING.to_owned(),
            payload: serde_json::json!({"webhook_id": id, "organization_id": org}),
            event_created_at: now,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            first_attempt_at: None,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
            created_at: now,
        };
        self.store
            .insert_deliveries(std::slice::from_ref(&delivery))
            .await?;
        self.wake.notify_one();
        Ok((&delivery).into())
    }
}
