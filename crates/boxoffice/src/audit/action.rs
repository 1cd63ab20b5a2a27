//! The catalogue of audited actions and the typed entry services hand to the log: one
//! place to see what is recorded, and no way to record free text by accident.
use crate::accounts::Principal;
use crate::http::origin::Origin;
use boxoffice_domain::audit::ActorType;
use boxoffice_domain::{BookingId, EventId, OrganizationId, ShowId, UserId, ZoneId};
use serde_json::Value;

/// Every action the platform records. Names are dotted, lower-case, and stable: they
/// are filtered on by prefix (`auth.`, `catalog.`) and kept for years.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    Logout,
    RefreshTokenReused,
    AccountRegistered,
    AccountCreated,
    AccountEmailChanged,
    AccountPasswordChanged,
    AccountsBulkCreated,
    AccountErased,
    AccountRoleChanged,
    EventCreated,
    EventUpdated,
    EventDeleted,
    ShowCreated,
    ShowUpdated,
    ShowDeleted,
    ZoneCreated,
    ZoneUpdated,
    ZoneDeleted,
    BookingHeld,
    BookingPaymentStarted,
    BookingConfirmed,
    BookingCancelled,
    BookingExpired,
    BookingPaymentFailed,
    BookingRefunded,
    BookingPartiallyRefunded,
    OrganizationCreated,
    OrganizationRenamed,
    InvitationCreated,
    InvitationRevoked,
    InvitationAccepted,
    MemberRoleChanged,
    MemberRemoved,
    MemberLeft,
    ApiKeyCreated,
    ApiKeyRevoked,
    MfaEnabled,
    MfaDisabled,
    MfaBackupCodesRegenerated,
    MfaTrustedDeviceRevoked,
    PasswordReset,
    EmailVerified,
    SessionRevoked,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookSecretRotated,
    WebhookRedelivered,
    TicketTransferred,
    TicketPolicyChanged,
    CheckinListCreated,
}

impl Action {
    pub const ALL: [Action; 53] = [
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::Logout,
        Action::RefreshTokenReused,
        Action::AccountRegistered,
        Action::AccountCreated,
        Action::AccountEmailChanged,
        Action::AccountPasswordChanged,
        Action::AccountsBulkCreated,
        Action::AccountErased,
        Action::AccountRoleChanged,
        Action::EventCreated,
        Action::EventUpdated,
        Action::EventDeleted,
        Action::ShowCreated,
        Action::ShowUpdated,
        Action::ShowDeleted,
        Action::ZoneCreated,
        Action::ZoneUpdated,
        Action::ZoneDeleted,
        Action::BookingHeld,
        Action::BookingPaymentStarted,
        Action::BookingConfirmed,
        Action::BookingCancelled,
        Action::BookingExpired,
        Action::BookingPaymentFailed,
        Action::BookingRefunded,
        Action::BookingPartiallyRefunded,
        Action::OrganizationCreated,
        Action::OrganizationRenamed,
        Action::InvitationCreated,
        Action::InvitationRevoked,
        Action::InvitationAccepted,
        Action::MemberRoleChanged,
        Action::MemberRemoved,
        Action::MemberLeft,
        Action::ApiKeyCreated,
        Action::ApiKeyRevoked,
        Action::MfaEnabled,
        Action::MfaDisabled,
        Action::MfaBackupCodesRegenerated,
        Action::MfaTrustedDeviceRevoked,
        Action::PasswordReset,
        Action::EmailVerified,
        Action::SessionRevoked,
        Action::WebhookCreated,
        Action::WebhookUpdated,
        Action::WebhookDeleted,
        Action::WebhookSecretRotated,
        Action::WebhookRedelivered,
        Action::TicketTransferred,
        Action::TicketPolicyChanged,
        Action::CheckinListCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login.succeeded",
            Action::LoginFailed => "auth.login.failed",
            Action::Logout => "auth.logout",
            Action::RefreshTokenReused => "auth.refresh.reuse_detected",
            Action::AccountRegistered => "account.registered",
            Action::AccountCreated => "account.created",
            Action::AccountEmailChanged => "account.email.changed",
            Action::AccountPasswordChanged => "account.password.changed",
            Action::AccountsBulkCreated => "account.bulk_created",
            Action::AccountErased => "account.erased",
            Action::AccountRoleChanged => "account.role.changed",
            Action::EventCreated => "catalog.event.created",
            Action::EventUpdated => "catalog.event.updated",
            Action::EventDeleted => "catalog.event.deleted",
            Action::ShowCreated => "catalog.show.created",
            Action::ShowUpdated => "catalog.show.updated",
            Action::ShowDeleted => "catalog.show.deleted",
            Action::ZoneCreated => "catalog.zone.created",
            Action::ZoneUpdated => "catalog.zone.updated",
            Action::ZoneDeleted => "catalog.zone.deleted",
            Action::BookingHeld => "booking.held",
            Action::BookingPaymentStarted => "booking.payment_started",
            Action::BookingConfirmed => "booking.confirmed",
            Action::BookingCancelled => "booking.cancelled",
            Action::BookingExpired => "booking.expired",
            Action::BookingPaymentFailed => "booking.payment_failed",
            Action::BookingRefunded => "booking.refunded",
            Action::BookingPartiallyRefunded => "booking.partially_refunded",
            Action::OrganizationCreated => "organization.created",
            Action::OrganizationRenamed => "organization.renamed",
            Action::InvitationCreated => "organization.invitation.created",
            Action::InvitationRevoked => "organization.invitation.revoked",
            Action::InvitationAccepted => "organization.invitation.accepted",
            Action::MemberRoleChanged => "organization.member.role_changed",
            Action::MemberRemoved => "organization.member.removed",
            Action::MemberLeft => "organization.member.left",
            Action::ApiKeyCreated => "organization.api_key.created",
            Action::ApiKeyRevoked => "organization.api_key.revoked",
            Action::MfaEnabled => "auth.mfa.enabled",
            Action::MfaDisabled => "auth.mfa.disabled",
            Action::MfaBackupCodesRegenerated => "auth.mfa.backup_codes_regenerated",
            Action::MfaTrustedDeviceRevoked => "auth.mfa.trusted_device_revoked",
            Action::PasswordReset => "account.password.reset",
            Action::EmailVerified => "account.email.verified",
            Action::SessionRevoked => "auth.session.revoked",
            Action::WebhookCreated => "organization.webhook.created",
            Action::WebhookUpdated => "organization.webhook.updated",
            Action::WebhookDeleted => "organization.webhook.deleted",
            Action::WebhookSecretRotated => "organization.webhook.secret_rotated",
            Action::WebhookRedelivered => "organization.webhook.redelivered",
            Action::TicketTransferred => "ticket.transferred",
            Action::TicketPolicyChanged => "ticket.policy.changed",
            Action::CheckinListCreated => "checkin.list.created",
        }
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    /// An API key, by its id (never the key itself).
    ApiKey(String),
    System,
    Anonymous,
}

impl Actor {
    pub fn kind(&self) -> ActorType {
        match self {
            Actor::User(_) => ActorType::User,
            Actor::ApiKey(_) => ActorType::ApiKey,
            Actor::System => ActorType::System,
            Actor::Anonymous => ActorType::Anonymous,
        }
    }

    pub fn id(&self) -> Option<String> {
        match self {
            Actor::User(u) => Some(u.to_string()),
            Actor::ApiKey(k) => Some(k.clone()),
            Actor::System | Actor::Anonymous => None,
        }
    }
}

/// An API key acts as itself, never as the account that created it.
impl From<Principal> for Actor {
    fn from(p: Principal) -> Self {
        match p.key {
            Some(key) => Actor::ApiKey(key.id.to_string()),
            None => Actor::User(p.user),
        }
    }
}

/// What was acted on: a kind (`user`, `event`, `booking` …) and its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: &'static str,
    pub id: String,
}

impl Target {
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind,
            id: id.to_string(),
        }
    }
    pub fn user(id: UserId) -> Self {
        Self::new("user", id)
    }
    pub fn event(id: EventId) -> Self {
        Self::new("event", id)
    }
    pub fn show(id: ShowId) -> Self {
        Self::new("show", id)
    }
    pub fn zone(id: ZoneId) -> Self {
        Self::new("zone", id)
    }
    pub fn booking(id: BookingId) -> Self {
        Self::new("booking", id)
    }
    pub fn organization(id: OrganizationId) -> Self {
        Self::new("organization", id)
    }
}

/// One action to record. Built with [`AuditEntry::new`] and the setters; the origin
/// defaults to the request being served (see `request_scope`).
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub action: Action,
    pub actor: Actor,
    pub organization: Option<OrganizationId>,
    pub target: Option<Target>,
    /// `None`: the origin of the request being served, or internal outside one.
    pub origin: Option<Origin>,
    /// Small, non-personal facts (ids, counts, which fields changed). Never secrets.
    pub detail: Value,
}

impl AuditEntry {
    pub fn new(action: Action, actor: impl Into<Actor>) -> Self {
        Self {
            action,
            actor: actor.into(),
            organization: None,
            target: None,
            origin: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// `actor` did `action` to `target`.
    pub fn on(action: Action, actor: impl Into<Actor>, target: Target) -> Self {
        Self::new(action, actor).target(target)
    }

    /// An account acted on itself (logged in, logged out, changed its email …).
    pub fn own(action: Action, user: UserId) -> Self {
        Self::on(action, Actor::User(user), Target::user(user))
    }

    /// A refused login: nobody is proven, the account is named when it exists.
    pub fn login_failed(account: Option<UserId>, reason: &'static str) -> Self {
        let entry = Self::new(Action::LoginFailed, Actor::Anonymous)
            .detail(serde_json::json!({ "reason": reason }));
        match account {
            Some(user) => entry.target(Target::user(user)),
            None => entry,
        }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn organization(mut self, org: OrganizationId) -> Self {
        self.organization = Some(org);
        self
    }

    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::audit::is_action_name;
    use std::collections::HashSet;

    #[test]
    fn an_api_key_acts_as_itself_not_as_its_creator() {
        use crate::accounts::tokens::KeyGrant;
        use boxoffice_domain::account::Role;
        use boxoffice_domain::organization::KeyScope;
        let creator = UserId::new();
        let user = Principal::user(creator, Role::Organizer);
        assert_eq!(Actor::from(user), Actor::User(creator));
        let key = boxoffice_domain::ApiKeyId::new();
        let by_key = Principal {
            key: Some(KeyGrant {
                id: key,
                organization: OrganizationId::new(),
                scope: KeyScope::Write,
            }),
            ..user
        };
        let actor = Actor::from(by_key);
        assert_eq!(actor, Actor::ApiKey(key.to_string()));
        assert_eq!(actor.kind(), ActorType::ApiKey);
        assert_eq!(actor.id(), Some(key.to_string()));
    }

    #[test]
    fn action_names_are_well_formed_and_unique() {
        let names: HashSet<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), Action::ALL.len());
        for n in names {
            assert!(is_action_name(n), "{n}");
        }
        for a in boxoffice_domain::booking::BookingAction::ALL {
            assert!(
                Action::ALL.iter().any(|x| x.as_str() == a.event_type()),
                "booking events keep their outbox names: {}",
                a.event_type()
            );
        }
    }
}
