//! Storage ports: what services need from the system of record, in neutral terms.
//! One SQL adapter serves SQLite and PostgreSQL; a Redis- or test-backed store only
//! has to implement these traits.
mod notifications;
mod organizations;
mod outbox;
mod payments;
mod seating;
mod sql;
mod tickets;
mod webhooks;

pub mod queue;
pub use notifications::*;
pub use organizations::*;
pub use outbox::*;
pub use payments::*;
pub use seating::*;
pub use sql::{Backend, SqlStore};
pub use tickets::*;
pub use webhooks::*;

use crate::telemetry::trace::TraceContext;
use async_trait::async_trait;
use boxoffice_domain::account::{Email, Role};
use boxoffice_domain::audit::{ActionFilter, ActorType};
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::catalog::{EventDetails, ShowDetails, ZoneDetails};
use boxoffice_domain::lifecycle::TokenPurpose;
use boxoffice_domain::{
    BookingId, EventId, Money, OrganizationId, ShowId, Timestamp, UserId, ZoneId,
};
use serde::Serialize;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A write broke a rule of the schema; what that means, not which rule.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    #[error("storage failure: {0}")]
    Other(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a write conflicted with, in neutral terms. Which constraint it was is logged
/// where the violation is read and never carried further: schema names stay inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Conflict {
    #[error("an account with this email exists")]
    EmailTaken,
    #[error("a zone with this name exists in the show")]
    ZoneNameTaken,
    /// A record with the same id or key exists.
    #[error("this {what} already exists")]
    Duplicate { what: &'static str },
    /// The record to delete is still referenced by others (a zone with bookings).
    #[error("this {what} is still referenced")]
    Referenced { what: &'static str },
    /// The record written refers to a `what` that does not exist.
    #[error("the {what} referred to does not exist")]
    UnknownReference { what: &'static str },
    /// A rule the store has no meaning for.
    #[error("conflicts with existing data")]
    Unknown,
}

/// How far an acknowledged write is guaranteed to survive (the `durability` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Flushed to disk before the answer: survives a power cut.
    #[default]
    Full,
    /// Written to the OS before the answer: survives a crash of the process.
    Normal,
}

/// Everything the platform keeps, behind one handle.
pub trait Store:
    AccountStore
    + LifecycleStore
    + OrganizationStore
    + CatalogStore
    + BookingStore
    + IdempotencyStore
    + SettingsStore
    + MfaStore
    + SealedStore
    + AuditStore
    + ConsumerOffsetStore
    + PersonalDataStore
    + PaymentStore
    + WebhookStore
    + OutboxUpkeepStore
    + NotificationStore
    + TicketStore
    + SeatingStore
{
}
impl<T> Store for T where
    T: AccountStore
        + LifecycleStore
        + OrganizationStore
        + CatalogStore
        + BookingStore
        + IdempotencyStore
        + SettingsStore
        + MfaStore
        + SealedStore
        + AuditStore
        + ConsumerOffsetStore
        + PersonalDataStore
        + PaymentStore
        + WebhookStore
        + OutboxUpkeepStore
        + NotificationStore
        + TicketStore
        + SeatingStore
{
}

pub type DynStore = Arc<dyn Store>;

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    /// When the current email was proven to be the account holder's; `None`: not yet.
    pub email_verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct RefreshRecord {
    pub token_hash: String,
    pub user_id: UserId,
    pub family_id: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn insert_users(&self, users: &[UserRecord]) -> StoreResult<()>;
    async fn user(&self, id: UserId) -> StoreResult<UserRecord>;
    async fn user_by_email(&self, email: &Email) -> StoreResult<UserRecord>;
    /// Accounts matching `filter`, newest first, and how many match in all.
    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> StoreResult<(Vec<UserRecord>, i64)>;
    async fn count_users(&self) -> StoreResult<i64>;
    async fn update_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn insert_refresh(&self, token: &RefreshRecord) -> StoreResult<()>;
    async fn refresh(&self, token_hash: &str) -> StoreResult<RefreshRecord>;
    /// Marks a refresh token as spent; `false` if it was already spent or revoked.
    async fn spend_refresh(&self, token_hash: &str, at: Timestamp) -> StoreResult<bool>;
    async fn revoke_refresh_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()>;
}

/// One sign-in on one device. Its id is the `family_id` of the refresh tokens rotated
/// from that sign-in, so revoking the session revokes them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub ip: String,
    pub user_agent: Option<String>,
    pub revoked_at: Option<Timestamp>,
}

/// An emailed single-use token (verification, password reset), kept as a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountTokenRecord {
    pub token_hash: String,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// The address the token was sent to.
    pub email: Email,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

/// The failed-login counter of one email (by digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: i64,
    pub locked_until: Timestamp,
}

/// Sessions, emailed tokens and login failure counters: the records of an account's
/// life after sign-up.
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    async fn insert_session(&self, session: &SessionRecord) -> StoreResult<()>;
    async fn session(&self, id: &str) -> StoreResult<SessionRecord>;
    /// Sessions of a user not revoked and used at or after `active_since`, most
    /// recently used first.
    async fn sessions_of(
        &self,
        user: UserId,
        active_since: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Records a use of a live session (refresh); `false` if it is revoked or unknown.
    async fn touch_session(
        &self,
        id: &str,
        at: Timestamp,
        ip: &str,
        user_agent: Option<&str>,
    ) -> StoreResult<bool>;
    /// Revokes one session of `user` and its refresh tokens; `false` if the user has
    /// no such live session.
    async fn revoke_session(&self, user: UserId, id: &str, at: Timestamp) -> StoreResult<bool>;
    /// Revokes every session and refresh token of `user` except those of `keep`;
    /// returns the sessions revoked.
    async fn revoke_sessions_except(
        &self,
        user: UserId,
        keep: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<u64>;
    async fn insert_account_token(&self, token: &AccountTokenRecord) -> StoreResult<()>;
    /// Spends a token of `purpose` that is unused and not expired at `at`, in one
    /// step (two racing requests cannot both spend it); `None` if there is none.
    async fn spend_account_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        at: Timestamp,
    ) -> StoreResult<Option<AccountTokenRecord>>;
    /// Marks the user's email verified if it is still `email`; `false` otherwise.
    async fn mark_email_verified(
        &self,
        user: UserId,
        email: &Email,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn login_failures(&self, email_digest: &str) -> StoreResult<Option<LoginFailures>>;
    /// Counts one more failure (starting over when the last one is older than
    /// `forget_before`) and sets the lock from the new count; returns the record.
    async fn record_login_failure(
        &self,
        email_digest: &str,
        at: Timestamp,
        forget_before: Timestamp,
        lock_millis: fn(i64) -> i64,
    ) -> StoreResult<LoginFailures>;
    async fn clear_login_failures(&self, email_digest: &str) -> StoreResult<()>;
}

#[derive(Clone, Debug)]
pub struct EventRecord {
    pub id: EventId,
    /// The organization that owns it: whose members manage it.
    pub organization_id: OrganizationId,
    /// The account that published it.
    pub organizer_id: UserId,
    pub details: EventDetails,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct ShowRecord {
    pub id: ShowId,
    pub event_id: EventId,
    pub details: ShowDetails,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct ZoneRecord {
    pub id: ZoneId,
    pub show_id: ShowId,
    pub details: ZoneDetails,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters of the admins' account listing.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    /// Words in the email or the display name.
    pub text: Option<String>,
    pub role: Option<Role>,
}

/// Filters of the public event listing.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub text: Option<String>,
    pub category: Option<String>,
    pub city: Option<String>,
    /// Only events with a show starting at or after this instant.
    pub from: Option<Timestamp>,
    /// Only events with a show starting before this instant.
    pub to: Option<Timestamp>,
    pub organization: Option<OrganizationId>,
}

#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }
}

/// A show with its zones and its event's organization, as the catalog cache keeps it.
#[derive(Clone, Debug)]
pub struct ShowBundle {
    pub show: ShowRecord,
    pub organization_id: OrganizationId,
    pub zones: Vec<ZoneRecord>,
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    async fn insert_event(&self, event: &EventRecord) -> StoreResult<()>;
    async fn update_event(&self, event: &EventRecord) -> StoreResult<()>;
    async fn delete_event(&self, id: EventId) -> StoreResult<()>;
    async fn event(&self, id: EventId) -> StoreResult<EventRecord>;
    async fn list_events(
        &self,
        filter: &EventFilter,
        page: Page,
    ) -> StoreResult<(Vec<EventRecord>, i64)>;
    async fn insert_show(&self, show: &ShowRecord) -> StoreResult<()>;
    async fn update_show(&self, show: &ShowRecord) -> StoreResult<()>;
    async fn delete_show(&self, id: ShowId) -> StoreResult<()>;
    async fn shows_of_event(&self, event: EventId) -> StoreResult<Vec<ShowRecord>>;
    async fn insert_zone(&self, zone: &ZoneRecord) -> StoreResult<()>;
    async fn update_zone(&self, zone: &ZoneRecord) -> StoreResult<()>;
    async fn delete_zone(&self, id: ZoneId) -> StoreResult<()>;
    /// One show with its zones and owner.
    async fn show_bundle(&self, id: ShowId) -> StoreResult<ShowBundle>;
    /// Every show with its zones: the catalog cache and inventory are built from it.
    async fn all_show_bundles(&self) -> StoreResult<Vec<ShowBundle>>;
    /// Whether any booking (in any state) references the show.
    async fn show_has_bookings(&self, id: ShowId) -> StoreResult<bool>;
}

#[derive(Clone, Debug, Serialize)]
pub struct BookingRecord {
    pub id: BookingId,
    pub user_id: UserId,
    pub show_id: ShowId,
    pub zone_id: ZoneId,
    pub quantity: u32,
    /// Price of one ticket of the first item (of the only one, in general admission).
    pub unit_price: Money,
    /// What the booking costs: the sum over its items.
    pub total: Money,
    pub status: BookingStatus,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One write of the group-commit writer. A batch of these commits in one transaction.
#[derive(Clone, Debug)]
pub enum BookingWrite {
    /// A new hold of one general-admission zone (its one item is implied) and its
    /// `booking.reserved` event.
    Hold(BookingRecord),
    /// A new hold of seats or several items, with its items.
    Order(Box<(BookingRecord, Vec<BookingItem>)>),
    /// Moves a booking from any source state of `action` to its target, if its
    /// deadline satisfies `deadline` at `at`; writes the action's event when it applies.
    Transition {
        id: BookingId,
        action: BookingAction,
        at: Timestamp,
        deadline: Deadline,
        /// Applies only to a booking of this account (`None`: any, for admins and
        /// the expiry job), so the owner check costs no read of its own.
        owner: Option<UserId>,
    },
    /// A payment or refund change with its ledger row and booking step.
    Payment(Box<PaymentWrite>),
}

/// How a transition relates to the hold's deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadline {
    /// Only before the deadline (confirming: a late hold belongs to expiry).
    NotPassed,
    /// Only at or after the deadline (expiring).
    Passed,
    /// Either way (cancelling).
    Any,
}

#[derive(Clone, Debug)]
pub enum WriteOutcome {
    Held,
    /// The transition applied; the booking as it is now.
    Applied(BookingRecord),
    /// No booking in a source state (already moved on, or expired).
    Skipped,
    /// What a payment write did.
    Payment(Box<PaymentOutcome>),
}

#[derive(Clone, Debug, Default)]
pub struct BookingQuery {
    pub user: Option<UserId>,
    pub statuses: Vec<BookingStatus>,
}

/// An event as recorded in the outbox.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxEvent {
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub aggregate_id: String,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    /// The W3C `traceparent` of the request that wrote it, if it had one.
    #[serde(skip)]
    pub trace_context: Option<String>,
}

#[async_trait]
pub trait BookingStore: Send + Sync {
    /// Applies all writes in one transaction; outcomes are in the same order. Holds
    /// go first, then transitions grouped by kind: transitions racing on one booking
    /// resolve in some serial order, and exactly one of them is reported applied.
    async fn apply(&self, writes: &[BookingWrite]) -> StoreResult<Vec<WriteOutcome>> {
        self.apply_traced(writes, &[]).await
    }
    /// [`BookingStore::apply`], with `traces[i]` the trace context of `writes[i]`
    /// (none when missing), recorded with the events that write causes.
    async fn apply_traced(
        &self,
        writes: &[BookingWrite],
        traces: &[Option<TraceContext>],
    ) -> StoreResult<Vec<WriteOutcome>>;
    async fn booking(&self, id: BookingId) -> StoreResult<BookingRecord>;
    async fn list_bookings(
        &self,
        query: &BookingQuery,
        page: Page,
    ) -> StoreResult<(Vec<BookingRecord>, i64)>;
    /// Every booking that holds or owns tickets.
    async fn live_bookings(&self) -> StoreResult<Vec<BookingRecord>>;
    /// What the inventory is rebuilt from at start-up, aggregated in the database:
    /// sold tickets are counted, not loaded one by one.
    async fn inventory_snapshot(&self) -> StoreResult<InventorySnapshot>;
    async fn outbox_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<OutboxEvent>>;
    /// Tickets held and sold per zone of a show, and the most any buyer has, by the
    /// record (for reconciliation against the live counters).
    async fn show_tallies(&self, show: ShowId) -> StoreResult<ShowTallies>;
    /// Tickets of a show's confirmed bookings by when they were confirmed, in buckets
    /// of `bucket_ms` (each bucket's start, oldest first; empty buckets left out).
    async fn sales_timeline(&self, show: ShowId, bucket_ms: i64) -> StoreResult<Vec<(i64, u32)>>;
}

#[derive(Clone, Debug, Default)]
pub struct InventorySnapshot {
    /// `(zone, held, sold)` for every zone with live bookings.
    pub zones: Vec<(ZoneId, u32, u32)>,
    /// `(show, buyer, tickets held or owned)`.
    pub buyers: Vec<(ShowId, UserId, u32)>,
    /// Holds not yet confirmed, with their deadlines.
    pub pending: Vec<BookingRecord>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShowTallies {
    /// `(zone, held, sold)`.
    pub zones: Vec<(ZoneId, u32, u32)>,
    pub max_per_buyer: u32,
}

/// What a claim on an idempotency key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new and now reserved for this request.
    Claimed,
    /// The first request with this key is still running.
    InFlight { fingerprint: String },
    /// The first request finished; replay its response.
    Done {
        fingerprint: String,
        status: u16,
        content_type: String,
        body: String,
    },
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request. A claim still running that was made before
    /// `abandoned_before` belonged to a process that died mid-request (no request
    /// runs that long): it is taken over, so the client's retry can proceed.
    async fn claim_key(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        expires_at: Timestamp,
        abandoned_before: Timestamp,
    ) -> StoreResult<IdempotencyClaim>;
    async fn complete_key(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> StoreResult<()>;
    async fn abandon_key(&self, scope: &str, key: &str) -> StoreResult<()>;
    async fn purge_keys(&self, now: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Stores `value` unless the key exists; returns the value now stored.
    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String>;
    async fn ping(&self) -> StoreResult<()>;
    /// Connections of the pool: open and idle.
    fn pool_usage(&self) -> PoolUsage;
}

/// The connection pool at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
}

/// A user's TOTP factor: pending until confirmed with a code.
#[derive(Clone, Debug)]
pub struct TotpRecord {
    pub user_id: UserId,
    /// The base32 secret, sealed by the vault.
    pub secret: String,
    pub confirmed_at: Option<Timestamp>,
    /// The last time step a code was accepted for (replay guard).
    pub last_step: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The single-use token between the two steps of a login.
#[derive(Clone, Debug)]
pub struct MfaChallengeRecord {
    pub token_hash: String,
    pub user_id: UserId,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub attempts: u32,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct TrustedDeviceRecord {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub token_hash: String,
    pub label: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn totp(&self, user: UserId) -> StoreResult<Option<TotpRecord>>;
    /// Stores a pending enrolment, replacing a pending one; `false` when the user has
    /// a confirmed factor (which it never replaces).
    async fn put_pending_totp(&self, record: &TotpRecord) -> StoreResult<bool>;
    /// Confirms the pending factor if its sealed secret is still `secret` (the one
    /// the code was checked against), recording `step` as used; `false` otherwise.
    async fn activate_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Records `step` as used if it is later than the last used one; `false` for a
    /// replayed (or older) step.
    async fn use_totp_step(&self, user: UserId, step: i64, at: Timestamp) -> StoreResult<bool>;
    /// Removes the factor, the backup codes and open challenges, and revokes every
    /// trusted device, in one transaction.
    async fn delete_mfa(&self, user: UserId, at: Timestamp) -> StoreResult<()>;
    /// Replaces every backup code of the user with these digests, in one transaction.
    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Spends an unused backup code; `false` when there is none with this digest.
    async fn use_backup_code(&self, user: UserId, hash: &str, at: Timestamp) -> StoreResult<bool>;
    async fn backup_codes_left(&self, user: UserId) -> StoreResult<i64>;
    async fn insert_mfa_challenge(&self, challenge: &MfaChallengeRecord) -> StoreResult<()>;
    async fn mfa_challenge(&self, token_hash: &str) -> StoreResult<MfaChallengeRecord>;
    /// Counts a wrong code against the challenge.
    async fn fail_mfa_challenge(&self, token_hash: &str) -> StoreResult<()>;
    /// Spends the challenge; `false` when it was already spent.
    async fn spend_mfa_challenge(&self, token_hash: &str, at: Timestamp) -> StoreResult<bool>;
    async fn insert_trusted_device(&self, device: &TrustedDeviceRecord) -> StoreResult<()>;
    async fn trusted_device(&self, token_hash: &str) -> StoreResult<TrustedDeviceRecord>;
    async fn touch_trusted_device(&self, id: uuid::Uuid, at: Timestamp) -> StoreResult<()>;
    /// The user's devices that are neither revoked nor expired at `now`, newest first.
    async fn trusted_devices(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<TrustedDeviceRecord>>;
    /// Revokes one of the user's devices; `false` when the user has no such live one.
    async fn revoke_trusted_device(
        &self,
        user: UserId,
        id: uuid::Uuid,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Revokes every device of the user; how many.
    async fn revoke_trusted_devices(&self, user: UserId, at: Timestamp) -> StoreResult<u64>;
}

/// A column whose values are sealed by the vault. Key rotation walks every one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedField {
    TotpSecret,
    UserPhone,
    WebhookSecret,
    /// The secret a webhook endpoint signs with alongside the new one while rotating.
    WebhookPreviousSecret,
}

impl SealedField {
    pub const ALL: [SealedField; 4] = [
        SealedField::TotpSecret,
        SealedField::UserPhone,
        SealedField::WebhookSecret,
        SealedField::WebhookPreviousSecret,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SealedField::TotpSecret => "TOTP secret",
            SealedField::UserPhone => "phone number",
            SealedField::WebhookSecret => "webhook secret",
            SealedField::WebhookPreviousSecret => "previous webhook secret",
        }
    }
}

/// Personal data kept apart from the account record, sealed by the vault before it
/// reaches the store.
#[async_trait]
pub trait PersonalDataStore: Send + Sync {
    /// The user's sealed phone number, if any (`NotFound` for an unknown user).
    async fn user_phone(&self, user: UserId) -> StoreResult<Option<String>>;
    /// Sets (or with `None` clears) the user's sealed phone number.
    async fn set_user_phone(
        &self,
        user: UserId,
        sealed: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Replaces what identifies the person: email, display name and password hash
    /// as given, phone and email verification cleared (the row and its id stay, so
    /// bookings keep their owner).
    async fn anonymize_user(
        &self,
        user: UserId,
        email: &str,
        display_name: &str,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
}

/// Sealed values in neutral terms, for re-encryption under a new key.
#[async_trait]
pub trait SealedStore: Send + Sync {
    /// Up to `limit` values of `field` not sealed under `key_id`: `(row id, sealed)`.
    async fn sealed_not_under(
        &self,
        field: SealedField,
        key_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>>;
    /// Replaces a value if it is still `old`; `false` when it changed meanwhile.
    async fn reseal(
        &self,
        field: SealedField,
        row: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool>;
}

/// One entry of the audit log as stored. Never carries secrets or personal data:
/// ids rather than emails, no passwords, tokens or codes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRecord {
    /// Position in the log, assigned by the store (0 before it is appended).
    pub seq: i64,
    /// UUIDv7; appending a record whose id exists is a no-op (replays).
    pub id: String,
    pub at: Timestamp,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

/// What an audit query keeps; every filter is optional and they combine with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<String>,
    pub organization_id: Option<OrganizationId>,
    pub action: Option<ActionFilter>,
    pub target_id: Option<String>,
    /// At or after this instant.
    pub from: Option<Timestamp>,
    /// Before this instant.
    pub to: Option<Timestamp>,
    /// Only entries older than this position (the page cursor).
    pub before_seq: Option<i64>,
}

/// The audit log: append and read, never update or delete (the schema refuses both).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends the records in one transaction, skipping any whose id is stored.
    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()>;
    /// Up to `limit` records matching `filter`, newest (highest `seq`) first.
    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;
}

/// How far each in-process outbox consumer has read.
#[async_trait]
pub trait ConsumerOffsetStore: Send + Sync {
    /// The last outbox `seq` `consumer` handled; 0 when it never ran.
    async fn consumer_offset(&self, consumer: &str) -> StoreResult<i64>;
    async fn save_consumer_offset(&self, consumer: &str, seq: i64) -> StoreResult<()>;
    /// Where the outbox ends, how far each consumer has read and the open dead
    /// letters of each (consumer lag for operators).
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog>;
}

#[derive(Clone, Debug, Default)]
pub struct OutboxBacklog {
    /// The last `seq` written; 0 when the outbox is empty.
    pub head: i64,
    /// `(consumer, seq)`.
    pub offsets: Vec<(String, i64)>,
    /// `(consumer, open letters)`.
    pub open_dead_letters: Vec<(String, i64)>,
}
