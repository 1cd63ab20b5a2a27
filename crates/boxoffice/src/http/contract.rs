//! The exact API contract: field schemas built from the domain's own rules (bounds,
//! patterns, closed sets), and every status and problem type each operation can answer.
//! Built from the code that enforces it, so the document and the server cannot drift.
use crate::error::ConflictKind;
use crate::http::idempotency;
use crate::http::paging::{MAX_PAGE, MAX_PER_PAGE};
use crate::http::problem;
use boxoffice_domain::account::{
    self, Role, BULK_PREFIX_PATTERN, EMAIL_MAX_CHARS, MAX_BULK_ACCOUNTS, PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS, PASSWORD_PATTERN,
};
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::catalog::{
    Category, SaleState, MAX_HOLD_TTL_SECS, MAX_PER_USER_LIMIT, MAX_ZONE_CAPACITY,
    MIN_HOLD_TTL_SECS,
};
use boxoffice_domain::money::{CURRENCY_PATTERN, MAX_PRICE_MINOR};
use boxoffice_domain::organization::{self, KeyScope, MemberRole};
use boxoffice_domain::validate::TextRule;
use boxoffice_domain::webhook;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{
    AllOfBuilder, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Content, OpenApi, RefOr, Required, Response, ResponseBuilder};

/// Instants on the wire.
pub const DATE_TIME_EXAMPLE: &str = "2027-03-01T20:00:00Z";
/// Visible ASCII, 1 to 255 characters: what the idempotency layer accepts as a key.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[\\x21-\\x7E]{1,255}$";
const REQUEST_ID: &str = "X-Request-Id";

fn with_null(schema: ObjectBuilder, nullable: bool) -> ObjectBuilder {
    if nullable {
        schema.schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
    } else {
        schema
    }
}

fn text_schema(rule: TextRule, example: &str, nullable: bool) -> Object {
    let base = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(rule.min_length()))
        .max_length(Some(rule.max))
        .pattern(Some(rule.pattern()))
        .description(Some(format!(
            "{}{} to {} characters{}; surrounding white space is dropped.",
            if rule.multiline {
                "Text with line breaks, "
            } else {
                "One line, "
            },
            rule.min_length(),
            rule.max,
            if rule.multiline {
                ", no control characters other than tab and line breaks"
            } else {
                ", no control characters"
            },
        )))
        .examples([json!(example)]);
    with_null(base, nullable).build()
}

fn integer(min: i64, max: i64, example: i64, nullable: bool) -> Object {
    let base = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
        .examples([json!(example)]);
    let base = if nullable {
        base.schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Integer,
            Type::Null,
        ]))
    } else {
        base
    };
    base.build()
}

fn closed_set(names: &[&str], nullable: bool) -> Object {
    let mut values: Vec<Value> = names.iter().map(|n| json!(n)).collect();
    if nullable {
        values.push(Value::Null);
    }
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .examples([json!(names[0])]),
        nullable,
    )
    .build()
}

macro_rules! text_field {
    ($($(#[$doc:meta])* $name:ident = $rule:expr, $example:expr, $nullable:expr;)*) => {
        $( $(#[$doc])* pub fn $name() -> Object { text_schema($rule, $example, $nullable) } )*
    };
}

text_field! {
    /// `title` of an event.
    event_title = boxoffice_domain::catalog::EVENT_TITLE, "Jazz Night", false;
    /// `description` of an event.
    event_description = boxoffice_domain::catalog::EVENT_DESCRIPTION, "Three sets, one encore.", false;
    /// `city` of an event.
    event_city = boxoffice_domain::catalog::EVENT_CITY, "Lyon", false;
    /// The `city` browse filter.
    city_filter = boxoffice_domain::catalog::EVENT_CITY, "Lyon", false;
    /// The `q` browse filter.
    search_text = boxoffice_domain::catalog::SEARCH_TEXT, "jazz", false;
    /// `venue` of a show.
    show_venue = boxoffice_domain::catalog::SHOW_VENUE, "Salle 3", false;
    /// `name` of a zone.
    zone_name = boxoffice_domain::catalog::ZONE_NAME, "Floor", false;
    /// `display_name` of an account.
    display_name = account::DISPLAY_NAME, "Ana Buyer", false;
    /// `display_name` of a profile change (`null`: unchanged).
    display_name_change = account::DISPLAY_NAME, "Ana Buyer", true;
    /// `name` of an organization.
    organization_name = organization::ORGANIZATION_NAME, "Lyon Jazz Club", false;
    /// `name` of an API key.
    api_key_name = organization::API_KEY_NAME, "ticket scanner", false;
}

fn email_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(EMAIL_MAX_CHARS))
            .pattern(Some(account::email_pattern()))
            .description(Some(
                "An address with a dotted domain; stored lower-cased, nothing trimmed.",
            ))
            .examples([json!("ana@example.com")]),
        nullable,
    )
    .build()
}

/// An email address as `Email::parse` accepts it.
pub fn email() -> Object {
    email_schema(false)
}

/// An email address, or `null` for unchanged.
pub fn email_change() -> Object {
    email_schema(true)
}

fn password_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .min_length(Some(PASSWORD_MIN_CHARS))
            .max_length(Some(PASSWORD_MAX_CHARS))
            .pattern(Some(PASSWORD_PATTERN))
            .description(Some(format!(
                "{PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters, not one character repeated."
            )))
            .examples([json!("correct horse battery staple")]),
        nullable,
    )
    .build()
}

/// A new password under the password policy.
pub fn password() -> Object {
    password_schema(false)
}

/// A new password, or `null` for unchanged.
pub fn password_change() -> Object {
    password_schema(true)
}

/// A password being checked (login, current password): any text up to the maximum.
pub fn password_given() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .examples([json!("correct horse battery staple")])
        .build()
}

/// The current password, needed to change email or password.
pub fn current_password() -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .examples([json!("correct horse battery staple")]),
        true,
    )
    .build()
}

/// The account's current password, required (any string: a wrong one is a 422).
pub fn current_password_required() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .examples([json!("correct horse battery staple")])
        .build()
}

/// ISO 4217 code in capitals.
pub fn currency() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(CURRENCY_PATTERN))
        .examples([json!("EUR")])
        .build()
}

/// Ticket price in minor units.
pub fn price_minor() -> Object {
    integer(0, MAX_PRICE_MINOR, 4_500, false)
}

/// Tickets a zone has.
pub fn capacity() -> Object {
    integer(1, i64::from(MAX_ZONE_CAPACITY), 800, false)
}

/// Tickets one reserve asks for; the show's own limit applies on top.
pub fn quantity() -> Object {
    integer(1, i64::from(MAX_PER_USER_LIMIT), 2, false)
}

/// Hold time of a show, `null` for the default.
pub fn hold_ttl_secs() -> Object {
    integer(MIN_HOLD_TTL_SECS, MAX_HOLD_TTL_SECS, 600, true)
}

/// Per-buyer limit of a show, `null` for the default.
pub fn per_user_limit() -> Object {
    integer(1, i64::from(MAX_PER_USER_LIMIT), 4, true)
}

/// Buyer accounts per bulk call.
pub fn bulk_count() -> Object {
    integer(1, i64::from(MAX_BULK_ACCOUNTS), 100, false)
}

/// Prefix of bulk-created emails.
pub fn bulk_prefix() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(BULK_PREFIX_PATTERN))
        .examples([json!("flash-sale")])
        .build()
}

fn phone_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(account::PHONE_PATTERN))
            .description(Some(
                "International form: '+' and 7 to 15 digits, the first not 0.",
            ))
            .examples([json!("+4915112345678")]),
        nullable,
    )
    .build()
}

/// A phone number.
pub fn phone() -> Object {
    phone_schema(false)
}

/// A new phone number, or `null` to remove it.
pub fn phone_change() -> Object {
    phone_schema(true)
}

/// `page` query parameter.
pub fn page() -> Object {
    integer(1, i64::from(MAX_PAGE), 1, false)
}

/// `per_page` query parameter.
pub fn per_page() -> Object {
    integer(1, i64::from(MAX_PER_PAGE), 20, false)
}

fn date_time_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 date-time."))
            .examples([json!(DATE_TIME_EXAMPLE)]),
        nullable,
    )
    .build()
}

/// An RFC 3339 instant.
pub fn date_time() -> Object {
    date_time_schema(false)
}

/// An RFC 3339 instant, or `null` for the default.
pub fn date_time_or_default() -> Object {
    date_time_schema(true)
}

/// An RFC 3339 instant, or `null` when it has not happened (or never ends).
pub fn date_time_or_null() -> Object {
    date_time_schema(true)
}

const UUID_EXAMPLE: &str = "01890a5d-ac96-774b-bcce-b302099a8057";

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

/// Event categories.
pub fn category() -> Object {
    closed_set(&names(&Category::ALL, Category::as_str), false)
}

/// Where a show's sale stands.
pub fn sale_state() -> Object {
    closed_set(&names(&SaleState::ALL, SaleState::as_str), false)
}

/// Life-cycle state of a booking.
pub fn booking_status() -> Object {
    closed_set(&names(&BookingStatus::ALL, BookingStatus::as_str), false)
}

/// State of a payment attempt.
pub fn payment_status() -> Object {
    use boxoffice_domain::payment::PaymentStatus;
    closed_set(&names(&PaymentStatus::ALL, PaymentStatus::as_str), false)
}

/// Whether a ticket's code opens the door.
pub fn ticket_status() -> Object {
    use boxoffice_domain::ticket::TicketStatus;
    closed_set(&names(&TicketStatus::ALL, TicketStatus::as_str), false)
}

/// Why a ticket's code was revoked, when it was.
pub fn revoke_reason_or_null() -> Object {
    use boxoffice_domain::ticket::RevokeReason;
    closed_set(&names(&RevokeReason::ALL, RevokeReason::as_str), true)
}

/// What a scan at the door came to.
pub fn scan_result() -> Object {
    use boxoffice_domain::ticket::ScanResult;
    closed_set(&names(&ScanResult::ALL, ScanResult::as_str), false)
}

/// State of a refund.
pub fn refund_status() -> Object {
    use boxoffice_domain::payment::RefundStatus;
    closed_set(&names(&RefundStatus::ALL, RefundStatus::as_str), false)
}

/// Why money went back.
pub fn refund_reason() -> Object {
    use boxoffice_domain::payment::RefundReason;
    closed_set(&names(&RefundReason::ALL, RefundReason::as_str), false)
}

/// What a ledger row records.
pub fn ledger_kind() -> Object {
    use crate::store::LedgerKind;
    closed_set(&names(&LedgerKind::ALL, LedgerKind::as_str), false)
}

/// State of a dead letter.
pub fn dead_letter_status() -> Object {
    closed_set(
        &names(
            &crate::store::DeadLetterStatus::ALL,
            crate::store::DeadLetterStatus::as_str,
        ),
        false,
    )
}

/// What became of a notification's email.
pub fn email_status() -> Object {
    closed_set(
        &names(
            &crate::store::EmailStatus::ALL,
            crate::store::EmailStatus::as_str,
        ),
        false,
    )
}

/// Name of an outbox consumer.
pub fn consumer_name() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(crate::outbox::dead_letters::CONSUMER_MAX_CHARS))
        .examples([json!("notifications")])
        .build()
}

/// Role of an account.
pub fn role() -> Object {
    closed_set(&names(&Role::ALL, Role::as_str), false)
}

/// Role of a member in an organization.
pub fn member_role() -> Object {
    closed_set(&names(&MemberRole::ALL, MemberRole::as_str), false)
}

/// Role of a member, or `null` for a caller who is not one.
pub fn member_role_or_null() -> Object {
    closed_set(&names(&MemberRole::ALL, MemberRole::as_str), true)
}

/// What an API key may do.
pub fn key_scope() -> Object {
    closed_set(&names(&KeyScope::ALL, KeyScope::as_str), false)
}

/// Lifetime of a new API key in days; `null` or absent: it never expires.
pub fn key_lifetime_days() -> Object {
    integer(1, organization::API_KEY_MAX_DAYS, 90, true)
}

/// Role chosen at sign-up; `null` or absent: buyer.
pub fn signup_role() -> Object {
    closed_set(&names(&Role::SELF_SERVICE, Role::as_str), true)
}

/// Comma-separated booking statuses (`held,confirmed`).
pub fn booking_status_list() -> Object {
    let one = format!(
        "(?:{})",
        names(&BookingStatus::ALL, BookingStatus::as_str).join("|")
    );
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{one}(?:,{one})*$")))
        .examples([json!("held,confirmed")])
        .build()
}

fn totp_code_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(boxoffice_domain::mfa::TOTP_CODE_PATTERN))
            .description(Some(
                "The six digits an authenticator app shows (RFC 6238, 30 s).",
            ))
            .examples([json!("492039")]),
        nullable,
    )
    .build()
}

/// A TOTP code.
pub fn totp_code() -> Object {
    totp_code_schema(false)
}

/// A TOTP code, or `null` when a backup code is sent instead.
pub fn totp_code_or_null() -> Object {
    totp_code_schema(true)
}

/// A backup code, or `null` when a TOTP code is sent instead.
pub fn backup_code_or_null() -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(boxoffice_domain::mfa::BACKUP_CODE_PATTERN))
            .description(Some("One of the ten backup codes; single use."))
            .examples([json!("k3m7q-a2xzp")]),
        true,
    )
    .build()
}

/// A trusted-device token, or `null`.
pub fn trusted_device_token() -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .examples([json!("dHJ1c3RlZC1kZXZpY2UtdG9rZW4tZXhhbXBsZQ")]),
        true,
    )
    .build()
}

/// Ways to answer an MFA challenge.
pub fn mfa_methods() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(closed_set(&["totp", "backup_code"], false))
        .examples([json!(["totp", "backup_code"])])
        .build()
}

/// Pattern of an emailed single-use token: 32 random bytes, base64url, no padding.
pub const EMAILED_TOKEN_PATTERN: &str = "^[A-Za-z0-9_-]{43}$";

/// A code from a verification or password reset email.
pub fn emailed_token() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(EMAILED_TOKEN_PATTERN))
        .examples([json!("Zm9yLWV4YW1wbGUtb25seS1ub3QtYS1yZWFsLXRva2U")])
        .build()
}

/// Who performed an audited action.
pub fn actor_type() -> Object {
    closed_set(
        &names(
            &boxoffice_domain::audit::ActorType::ALL,
            boxoffice_domain::audit::ActorType::as_str,
        ),
        false,
    )
}

/// A UUID query filter.
pub fn uuid_filter() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .examples([json!(UUID_EXAMPLE)])
        .build()
}

/// An audit action or a prefix of actions ending in a dot.
pub fn audit_action_filter() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(boxoffice_domain::audit::ACTION_MAX_CHARS))
        .pattern(Some(boxoffice_domain::audit::ACTION_FILTER_PATTERN))
        .examples([json!("auth.login.failed")])
        .build()
}

fn audit_cursor_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9a-f]{1,15}$"))
            .description(Some("Opaque; pass it back unchanged."))
            .examples([json!("1f4")]),
        nullable,
    )
    .build()
}

/// The `cursor` of an audit query.
pub fn audit_cursor() -> Object {
    audit_cursor_schema(false)
}

/// `next_cursor` of an audit page.
pub fn audit_cursor_or_null() -> Object {
    audit_cursor_schema(true)
}

/// Entries per audit page.
pub fn audit_limit() -> Object {
    integer(
        1,
        i64::from(boxoffice_domain::audit::MAX_AUDIT_LIMIT),
        50,
        false,
    )
}

fn webhook_url_schema(nullable: bool) -> Object {
    with_null(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uri".into())))
            .max_length(Some(webhook::MAX_URL_CHARS))
            .pattern(Some(webhook::URL_PATTERN))
            .description(Some(
                "An https URL with a host and no user name or password (plain http only \
                 where the platform's `webhooks.allow_http` allows it).",
            ))
            .examples([json!("https://hooks.example.com/boxoffice")]),
        nullable,
    )
    .build()
}

/// Where a webhook endpoint receives deliveries.
pub fn webhook_url() -> Object {
    webhook_url_schema(false)
}

/// A new endpoint URL, or `null` for unchanged.
pub fn webhook_url_change() -> Object {
    webhook_url_schema(true)
}

/// Description of a webhook endpoint.
pub fn webhook_description() -> Object {
    text_schema(webhook::DESCRIPTION, "Ticket sync", false)
}

/// Description of a webhook endpoint, or `null` (none, or unchanged).
pub fn webhook_description_change() -> Object {
    text_schema(webhook::DESCRIPTION, "Ticket sync", true)
}

fn webhook_event_types_schema(nullable: bool) -> utoipa::openapi::schema::Array {
    let builder = utoipa::openapi::schema::ArrayBuilder::new()
        .items(closed_set(&webhook::EVENT_TYPES, false))
        .min_items(Some(1))
        .description(Some("Event types to receive; repeats are ignored."))
        .examples([json!(["booking.confirmed", "booking.refunded"])]);
    if nullable {
        builder
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::Array,
                Type::Null,
            ]))
            .build()
    } else {
        builder.build()
    }
}

/// Event types a webhook endpoint subscribes to.
pub fn webhook_event_types() -> utoipa::openapi::schema::Array {
    webhook_event_types_schema(false)
}

/// Event types, or `null` for unchanged.
pub fn webhook_event_types_change() -> utoipa::openapi::schema::Array {
    webhook_event_types_schema(true)
}

/// The `type` of a delivered webhook event (subscribable types and the ping).
pub fn webhook_delivered_type() -> Object {
    closed_set(&webhook::delivered_types(), false)
}

/// Where a webhook delivery stands.
pub fn delivery_status() -> Object {
    closed_set(
        &names(
            &crate::store::DeliveryStatus::ALL,
            crate::store::DeliveryStatus::as_str,
        ),
        false,
    )
}

/// Always `Bearer`.
pub fn token_type() -> Object {
    closed_set(&["Bearer"], false)
}

/// What the payment webhook did with an event.
pub fn webhook_outcome() -> Object {
    closed_set(&["processed", "ignored"], false)
}

/// How a waiting room orders its places.
pub fn queue_method() -> Object {
    closed_set(
        &names(
            &boxoffice_domain::queue::QueueMethod::ALL,
            boxoffice_domain::queue::QueueMethod::as_str,
        ),
        false,
    )
}

/// Where a waiting room stands.
pub fn queue_state() -> Object {
    closed_set(
        &names(
            &boxoffice_domain::queue::QueueState::ALL,
            boxoffice_domain::queue::QueueState::as_str,
        ),
        false,
    )
}

/// What moves a waiting room.
pub fn queue_action() -> Object {
    closed_set(&["pause", "resume", "drain", "close"], false)
}

/// How a waiting room admits.
pub fn queue_admission() -> Object {
    closed_set(&["fixed", "automatic"], false)
}

/// Where a buyer's place stands.
pub fn place_status() -> Object {
    closed_set(&["waiting", "admitted", "lost", "left"], false)
}

/// Liveness and readiness answers.
pub fn health_status() -> Object {
    closed_set(&["ok", "ready"], false)
}

pub fn readiness_status() -> Object {
    closed_set(&["ready"], false)
}

pub fn dependency_name() -> Object {
    closed_set(
        &[
            "tasks",
            "store",
            "inventory",
            "smtp",
            "payment_gateway",
            "event_stream",
        ],
        false,
    )
}

pub fn dependency_status() -> Object {
    closed_set(&["up", "down"], false)
}

/// What an operation can answer beyond success, besides what its shape implies
/// (body, path ids, bearer token, idempotency).
#[derive(Clone, Copy)]
struct Specific {
    /// Refuses credentials sent in the body (login, refresh, logout).
    unauthorized: bool,
    forbidden: bool,
    conflicts: &'static [ConflictKind],
    /// Fields a schema-valid request can still be refused on (422), by rules that
    /// depend on other fields or on stored state.
    rule_fields: &'static [&'static str],
    /// Answers 404 although it has no path id (ids in the body).
    not_found: bool,
    /// Calls the payment provider: 503 payment-unavailable with Retry-After while
    /// its circuit breaker is open.
    gateway: bool,
    /// Needs a queue pass while the show is queued (403 queue-pass-invalid).
    pass: bool,
}

const NONE: Specific = Specific {
    unauthorized: false,
    forbidden: false,
    conflicts: &[],
    rule_fields: &[],
    not_found: false,
    gateway: false,
    pass: false,
};

const OWNER: Specific = Specific {
    forbidden: true,
    ..NONE
};

/// The rules of each operation, by operationId.
fn specific(operation_id: &str) -> Option<Specific> {
    use ConflictKind as C;
    Some(match operation_id {
        "listEvents" => Specific {
            rule_fields: &["to"],
            ..NONE
        },
        "getMe"
        | "exportMyData"
        | "getMfaStatus"
        | "listTrustedDevices"
        | "revokeTrustedDevices"
        | "revokeTrustedDevice"
        | "getEvent"
        | "listShows"
        | "getShow"
        | "listZones"
        | "listBookings"
        | "listPendingBookings"
        | "liveness"
        | "readiness"
        | "getSigningKeys"
        | "getJwks"
        | "getQueue" => NONE,
        "configureQueue" => Specific {
            rule_fields: &[
                "method",
                "opens_at",
                "admission",
                "rate_per_sec",
                "lottery_winners",
            ],
            ..OWNER
        },
        "steerQueue" => Specific {
            conflicts: &[C::InvalidState],
            ..OWNER
        },
        "joinQueue" => Specific {
            forbidden: true,
            conflicts: &[C::QueueClosed, C::QueueFull],
            ..NONE
        },
        "getQueueStatus" | "followQueue" => NONE,
        "leaveQueue" => Specific {
            conflicts: &[C::InvalidState],
            ..NONE
        },
        "getQueueDraw" => Specific {
            conflicts: &[C::InvalidState],
            ..NONE
        },
        "getQueueStats" | "revokeQueuePass" => OWNER,
        "registerAccount" => Specific {
            rule_fields: &["email"],
            ..NONE
        },
        "requestEmailVerification"
        | "forgotPassword"
        | "listSessions"
        | "revokeOtherSessions"
        | "revokeSession" => NONE,
        "verifyEmail" | "resetPassword" => Specific {
            rule_fields: &["token"],
            ..NONE
        },
        "changePassword" => Specific {
            rule_fields: &["current_password"],
            ..NONE
        },
        "logIn" | "refreshTokens" | "logOut" => Specific {
            unauthorized: true,
            ..NONE
        },
        "logInMfa" => Specific {
            unauthorized: true,
            rule_fields: &["code", "backup_code"],
            ..NONE
        },
        "startTotpEnrolment" => Specific {
            conflicts: &[C::InvalidState],
            ..NONE
        },
        "confirmTotp" | "regenerateBackupCodes" => Specific {
            conflicts: &[C::InvalidState],
            rule_fields: &["code"],
            ..NONE
        },
        "disableTotp" => Specific {
            conflicts: &[C::InvalidState],
            rule_fields: &["password", "code", "backup_code"],
            ..NONE
        },
        "eraseMe" => Specific {
            conflicts: &[C::LastOwner],
            rule_fields: &["password"],
            ..NONE
        },
        "eraseUser" => Specific {
            conflicts: &[C::LastOwner],
            ..OWNER
        },
        "listUsers" | "getUser" => OWNER,
        // Refused on `role` when it is the caller's own account.
        "changeUserRole" => Specific {
            rule_fields: &["role"],
            ..OWNER
        },
        "updateMe" => Specific {
            rule_fields: &["email", "current_password"],
            ..NONE
        },
        "createBuyers" => Specific {
            rule_fields: &["email"],
            ..OWNER
        },
        "createEvent" => Specific {
            rule_fields: &["organization_id"],
            ..OWNER
        },
        "updateEvent" => Specific {
            rule_fields: &["organization_id"],
            ..OWNER
        },
        "getBooking" | "getSales" => OWNER,
        "listMyOrganizations" => NONE,
        "createOrganization"
        | "listAllOrganizations"
        | "getOrganization"
        | "renameOrganization"
        | "listMembers"
        | "listInvitations"
        | "inviteMember"
        | "revokeInvitation"
        | "listApiKeys"
        | "createApiKey"
        | "revokeApiKey" => OWNER,
        "changeMemberRole" | "removeMember" => Specific {
            conflicts: &[C::LastOwner],
            ..OWNER
        },
        "acceptInvitation" => Specific {
            not_found: true,
            ..OWNER
        },
        "listAuditEntries" | "listOrganizationAudit" => OWNER,
        "listWebhooks"
        | "getWebhook"
        | "deleteWebhook"
        | "rotateWebhookSecret"
        | "listWebhookDeliveries"
        | "getWebhookDelivery"
        | "redeliverWebhookDelivery"
        | "pingWebhook" => OWNER,
        "createWebhook" | "updateWebhook" => Specific {
            rule_fields: &["url"],
            ..OWNER
        },
        "listDeadLetters" | "getDeadLetter" => OWNER,
        "replayDeadLetter" | "discardDeadLetter" => Specific {
            conflicts: &[C::InvalidState],
            ..OWNER
        },
        "listNotifications" | "markNotificationRead" | "markAllNotificationsRead" => NONE,
        "createLayout" => Specific {
            rule_fields: &["organization_id", "name", "rows"],
            ..OWNER
        },
        "getLayout" => OWNER,
        "setShowSeating" => Specific {
            conflicts: &[C::InUse],
            rule_fields: &["layout_id", "categories", "blocked"],
            ..OWNER
        },
        "getShowSeating" | "getSeatStatus" | "getSeatMapSvg" => NONE,
        "deleteEvent" | "deleteShow" | "deleteZone" => Specific {
            conflicts: &[C::InUse],
            ..OWNER
        },
        "createShow" => Specific {
            rule_fields: &["sale_closes_at", "name"],
            ..OWNER
        },
        "updateShow" => Specific {
            rule_fields: &["sale_closes_at", "per_user_limit"],
            ..OWNER
        },
        "createZone" | "updateZone" => Specific {
            rule_fields: &["name", "capacity"],
            ..OWNER
        },
        "reserveTickets" => Specific {
            conflicts: &[
                C::SoldOut,
                C::LimitReached,
                C::SaleNotOpen,
                C::SaleClosed,
                C::SeatTaken,
                C::NoAdjacentSeats,
            ],
            rule_fields: &["quantity", "zone_id", "items"],
            not_found: true,
            pass: true,
            ..NONE
        },
        "confirmBooking" => Specific {
            conflicts: &[C::HoldExpired, C::InvalidState, C::PaymentRequired],
            ..OWNER
        },
        "cancelBooking" => Specific {
            conflicts: &[C::InvalidState],
            ..OWNER
        },
        "checkoutBooking" => Specific {
            conflicts: &[C::HoldExpired, C::InvalidState, C::PaymentInProgress],
            rule_fields: &["payment_method"],
            gateway: true,
            ..OWNER
        },
        "getBookingPayments" | "listShowRefunds" => OWNER,
        "requestRefund" => Specific {
            conflicts: &[C::InvalidState],
            gateway: true,
            ..OWNER
        },
        "approveRefund" => Specific {
            conflicts: &[C::InvalidState],
            gateway: true,
            ..OWNER
        },
        "rejectRefund" => Specific {
            conflicts: &[C::InvalidState],
            ..OWNER
        },
        "getRefundPolicy" => NONE,
        "setRefundPolicy" => Specific {
            rule_fields: &["tiers"],
            ..OWNER
        },
        "receivePaymentWebhook" => Specific {
            unauthorized: true,
            conflicts: &[C::InvalidState],
            ..NONE
        },
        "listMyTickets" | "getTicketPolicy" => NONE,
        "getTicket" | "listBookingTickets" | "setTicketPolicy" => OWNER,
        "getTicketQr" | "getBookingTicketsPdf" => Specific {
            conflicts: &[C::InvalidState],
            ..OWNER
        },
        "transferTicket" => Specific {
            conflicts: &[C::InvalidState],
            rule_fields: &["to_email"],
            ..OWNER
        },
        "scanTicket" => Specific {
            rule_fields: &["qr", "gate", "list_id"],
            not_found: true,
            ..OWNER
        },
        "listCheckinLists" | "getShowAttendance" | "getOfflineCheckinList" => OWNER,
        "createCheckinList" => Specific {
            rule_fields: &["name", "zone_ids"],
            ..OWNER
        },
        "syncCheckinList" => Specific {
            rule_fields: &["gate", "scans"],
            ..OWNER
        },
        _ => return None,
    })
}

/// Operations an account the MFA policy blocks may still use, to enrol: every other
/// operation with a bearer token can answer 403 mfa-required.
const MFA_EXEMPT: &[&str] = &[
    "getMe",
    "getMfaStatus",
    "startTotpEnrolment",
    "confirmTotp",
    "disableTotp",
    "regenerateBackupCodes",
    "listTrustedDevices",
    "revokeTrustedDevices",
    "revokeTrustedDevice",
];

fn problem_response(description: &str, types: &[String], status: u16) -> Response {
    let narrowed = ObjectBuilder::new().property(
        "type",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(types.iter().map(|t| json!(t)))),
    );
    let schema = AllOfBuilder::new()
        .item(RefOr::<Schema>::Ref(
            utoipa::openapi::Ref::from_schema_name("Problem"),
        ))
        .item(narrowed)
        .build();
    let example = json!({
        "type": types[0],
        "title": problem::title_of(&types[0]).unwrap_or("Error"),
        "status": status,
        "detail": description,
        "request_id": "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77",
    });
    ResponseBuilder::new()
        .description(format!(
            "{description} Problem types: {}.",
            types.join(", ")
        ))
        .content(
            problem::PROBLEM_JSON,
            Content::builder()
                .schema(Some(RefOr::T(Schema::AllOf(schema))))
                .example(Some(example))
                .build(),
        )
        .header(REQUEST_ID, request_id_header())
        .build()
}

fn request_id_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "The request's id: the one sent in X-Request-Id, or a generated UUID.",
        ))
        .build()
}

fn seconds_header(description: &str, minimum: f64) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum)),
        )
        .description(Some(description))
        .build()
}

/// `RateLimit-*` on every answer of a limited operation, `Retry-After` on its 429.
fn rate_limit_headers(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(r) = response else { continue };
        for (name, description) in crate::ratelimit::http::HEADERS {
            r.headers
                .insert((*name).into(), seconds_header(description, 0.0));
        }
        if status == "429" {
            r.headers.insert(
                "Retry-After".into(),
                seconds_header("Whole seconds until a request can pass again.", 1.0),
            );
        }
    }
}

fn slug(s: &str) -> String {
    format!("/problems/{s}")
}

/// Statuses an operation answers with besides success, with their problem types.
fn error_statuses(
    op: &Operation,
    spec: &Specific,
    write: bool,
    idempotent: bool,
    limited: bool,
) -> BTreeMap<u16, Vec<String>> {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let has_body = op.request_body.is_some();
    let bearer = op.security.is_some();
    let mut out: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    let mut add = |status: u16, kind: String| out.entry(status).or_default().push(kind);
    if has_body || has_path {
        add(400, slug("malformed-request"));
    }
    if bearer || spec.unauthorized {
        add(401, slug("unauthorized"));
    }
    if spec.forbidden {
        add(403, slug("forbidden"));
    }
    if spec.pass {
        add(403, slug("queue-pass-invalid"));
    }
    if has_path || spec.not_found {
        add(404, slug("not-found"));
    }
    for c in spec.conflicts {
        add(409, slug(c.slug()));
    }
    if idempotent {
        add(409, slug(ConflictKind::RequestInFlight.slug()));
    }
    if write {
        // A stored-data rule with no more specific meaning (see `error.rs`).
        add(409, slug(ConflictKind::DataConflict.slug()));
    }
    if has_body {
        add(413, slug("payload-too-large"));
        add(415, slug("unsupported-media-type"));
    }
    if has_body || has_query || idempotent || !spec.rule_fields.is_empty() {
        add(422, slug("validation"));
    }
    if idempotent {
        add(422, slug("idempotency-key-reused"));
    }
    if limited {
        add(429, slug("rate-limited"));
    }
    add(500, slug("internal"));
    for t in problem::UNAVAILABLE_TYPES {
        add(503, t.to_string());
    }
    if spec.gateway {
        add(503, slug("payment-unavailable"));
    }
    out
}

fn describe(status: u16, spec: &Specific) -> String {
    match status {
        400 => "The body is not JSON, or a path id is not a UUID.".into(),
        401 => "No valid bearer access token.".into(),
        403 => "The caller may not act on this resource, or must enable MFA first (the platform policy asks it of this account).".into(),
        404 => "No such resource.".into(),
        409 => "The request conflicts with the current state.".into(),
        413 => "The body is larger than the configured limit.".into(),
        415 => "The body is not sent as application/json.".into(),
        429 => "The caller's bucket for this route is empty (the caller is the account of a \
                valid token, else the client address; login and register always count by \
                address); retry after Retry-After seconds."
            .into(),
        422 if spec.rule_fields.is_empty() => {
            "A field breaks the schema; `errors` names each one by its JSON path.".into()
        }
        422 => format!(
            "A field breaks the schema, or one of [{}] breaks a rule that depends on other \
             fields or stored state; `errors` names each field by its JSON path.",
            spec.rule_fields.join(", ")
        ),
        500 => "An unexpected failure; it is logged with the request id.".into(),
        503 if spec.gateway => "The request timed out, the store is unavailable, the server is \
            shutting down, or the payment provider is unavailable (payment-unavailable, with \
            Retry-After; a hold is kept meanwhile)."
            .into(),
        503 => "The request timed out, the store is unavailable, or the server is shutting down."
            .into(),
        _ => "Error.".into(),
    }
}

fn idempotency_parameter() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Retries with the same key and body replay the first answer (with \
             `Idempotent-Replayed: true`) for 24 hours; the same key with another body is \
             422 idempotency-key-reused; a retry while the first is still running is 409 \
             request-in-flight.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(IDEMPOTENCY_KEY_PATTERN))
                .examples([json!("5b0c6c4e-reserve-1")]),
        ))
        .build()
}

fn request_id_parameter() -> Parameter {
    ParameterBuilder::new()
        .name(REQUEST_ID)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "An id for this request, echoed in the response and in problem documents; \
             generated when absent.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// Whether the idempotency layer handles writes to `path` (it exempts credential
/// endpoints, whose answers must never be stored).
fn idempotent_write(method: &str, path: &str) -> bool {
    matches!(method, "post" | "put" | "patch" | "delete")
        && !idempotency::EXEMPT_PREFIXES
            .iter()
            .any(|p| path.starts_with(p))
}

/// A value for `schema`, from its examples or composed from its parts.
fn example_of(schema: &RefOr<Schema>, components: &BTreeMap<String, RefOr<Schema>>) -> Value {
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.rsplit('/').next().unwrap_or_default();
            components
                .get(name)
                .map(|s| example_of(s, components))
                .unwrap_or(Value::Null)
        }
        RefOr::T(Schema::Object(o)) => {
            if let Some(e) = o.examples.first() {
                return e.clone();
            }
            if o.format == Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)) {
                return json!(UUID_EXAMPLE);
            }
            #[allow(deprecated)]
            if let Some(e) = &o.example {
                return e.clone();
            }
            if !o.properties.is_empty() {
                let map = o
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), example_of(v, components)))
                    .collect::<serde_json::Map<_, _>>();
                return Value::Object(map);
            }
            match &o.schema_type {
                utoipa::openapi::schema::SchemaType::Type(Type::Integer) => json!(1),
                utoipa::openapi::schema::SchemaType::Type(Type::Boolean) => json!(true),
                _ => json!("string"),
            }
        }
        RefOr::T(Schema::Array(a)) => {
            if let Some(e) = a.examples.first() {
                return e.clone();
            }
            match &a.items {
                utoipa::openapi::schema::ArrayItems::RefOrSchema(item) => {
                    json!([example_of(item, components)])
                }
                _ => json!([]),
            }
        }
        RefOr::T(Schema::AllOf(all)) => {
            let mut out = serde_json::Map::new();
            for item in &all.items {
                if let Value::Object(m) = example_of(item, components) {
                    out.extend(m);
                }
            }
            Value::Object(out)
        }
        RefOr::T(Schema::OneOf(one)) => one
            .items
            .first()
            .map(|s| example_of(s, components))
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn with_example(content: &mut Content, components: &BTreeMap<String, RefOr<Schema>>) {
    if content.example.is_none() {
        if let Some(schema) = &content.schema {
            content.example = Some(example_of(schema, components));
        }
    }
}

fn body_example(body: &mut RequestBody, components: &BTreeMap<String, RefOr<Schema>>) {
    for content in body.content.values_mut() {
        with_example(content, components);
    }
}

/// Completes the document: problem types, statuses, headers and examples of every
/// operation. Panics on an operation it has no rules for, so a new route cannot
/// ship undescribed (the OpenAPI tests build the document).
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert(
        "Problem".into(),
        RefOr::T(Schema::Object(problem::problem_schema())),
    );
    let schemas = components.schemas.clone();
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let id = op
                .operation_id
                .clone()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            let spec = specific(&id)
                .unwrap_or_else(|| panic!("{id} ({method} {path}) has no contract rules"));
            let write = method != "get";
            let idempotent = idempotent_write(method, path);
            let limited = crate::ratelimit::class_of(method, path).is_some();
            let params = op.parameters.get_or_insert_with(Vec::new);
            if idempotent {
                params.push(idempotency_parameter());
            }
            params.push(request_id_parameter());
            if let Some(body) = op.request_body.as_mut() {
                body_example(body, &schemas);
            }
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = response {
                    if r.description.is_empty() {
                        r.description = match status.as_str() {
                            "201" => "Created.",
                            "204" => "Done; no content.",
                            _ => "OK.",
                        }
                        .into();
                    }
                    for content in r.content.values_mut() {
                        with_example(content, &schemas);
                    }
                    r.headers.insert(REQUEST_ID.into(), request_id_header());
                }
            }
            let mut statuses = error_statuses(op, &spec, write, idempotent, limited);
            if op.security.is_some() && !MFA_EXEMPT.contains(&id.as_str()) {
                statuses.entry(403).or_default().push(slug("mfa-required"));
            }
            for (status, types) in statuses {
                op.responses.responses.insert(
                    status.to_string(),
                    RefOr::T(problem_response(&describe(status, &spec), &types, status)),
                );
            }
            if limited {
                rate_limit_headers(op);
            }
            if spec.gateway {
                if let Some(RefOr::T(r)) = op.responses.responses.get_mut("503") {
                    r.headers.insert(
                        "Retry-After".into(),
                        seconds_header(
                            "Whole seconds until the payment provider may be tried again (payment-unavailable).",
                            1.0,
                        ),
                    );
                }
            }
            if !spec.rule_fields.is_empty() {
                let ext = ExtensionsBuilder::new()
                    .add("x-rule-fields", json!(spec.rule_fields))
                    .build();
                match op.extensions.as_mut() {
                    Some(e) => e.merge(ext),
                    None => op.extensions = Some(ext),
                }
            }
        }
    }
}
