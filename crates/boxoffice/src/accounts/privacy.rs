//! Personal data of an account holder: fields beyond the login email (the phone
//! number) kept sealed by the vault, so a copy of the database alone reveals nothing,
//! and the export of everything the platform holds about a person.
use super::mfa::{MfaService, MfaStatus};
use super::{AccountService, Principal, SessionView, UserView};
use crate::audit::{Action, AuditEntry, AuditEntryView, AuditLog, Target};
use crate::booking::{BookingService, BookingView};
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::http::paging::MAX_PER_PAGE;
use crate::notifications::{NotificationService, NotificationView};
use crate::organizations::{ApiKeyView, OrganizationService, OrganizationView};
use crate::store::{DynStore, MemberChange, Page};
use crate::vault::Vault;
use boxoffice_domain::account::parse_phone;
use boxoffice_domain::organization::MemberRole;
use boxoffice_domain::{UserId, Violations};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// Everything the platform holds about one person, as `GET /auth/me/export` gives it.
/// Secrets never appear: no password hash, TOTP secret, backup code or token.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PersonalDataExport {
    /// When the export was made.
    #[schema(schema_with = crate::http::contract::date_time)]
    pub exported_at: String,
    /// The profile, phone number included when one is set.
    pub profile: UserView,
    /// Live sessions (signed-in devices).
    pub sessions: Vec<SessionView>,
    /// Organizations the person belongs to, with their role in each.
    pub organizations: Vec<OrganizationView>,
    /// Every booking, whatever its status.
    pub bookings: Vec<BookingView>,
    /// Whether a second factor protects the account (never the secret).
    pub mfa: MfaStatus,
    /// API keys the person created in their organizations (never the key itself).
    pub api_keys: Vec<ApiKeyView>,
    /// Audit log entries of what the person did, newest first.
    pub audit: Vec<AuditEntryView>,
    /// Notifications sent to the person, newest first.
    pub notifications: Vec<NotificationView>,
    /// Tickets the person holds or held (revoked ones without their QR code).
    pub tickets: Vec<crate::tickets::views::TicketView>,
}

/// The capabilities an export reads from, each through its own use cases.
pub struct ExportSources {
    pub accounts: Arc<AccountService>,
    pub organizations: Arc<OrganizationService>,
    pub booking: Arc<BookingService>,
    pub mfa: Arc<MfaService>,
    pub audit: AuditLog,
    pub notifications: Arc<NotificationService>,
    pub tickets: Arc<crate::tickets::TicketService>,
}

/// The display name an erased account keeps.
pub const ERASED_NAME: &str = "Erased account";

/// The domain of the placeholder email an erased account keeps (reserved: RFC 2606).
const ERASED_DOMAIN: &str = "@erased.invalid";

/// Whether `email` is the placeholder of an erased account: nobody to write to.
pub fn is_erased_email(email: &str) -> bool {
    email.ends_with(ERASED_DOMAIN)
}

/// A change of the phone number: absent leaves it, `null` clears it.
pub type PhoneChange = Option<Option<String>>;

pub struct PrivacyService {
    store: DynStore,
    vault: Arc<Vault>,
    clock: DynClock,
    sources: ExportSources,
}

impl PrivacyService {
    pub fn new(
        store: DynStore,
        vault: Arc<Vault>,
        clock: DynClock,
        sources: ExportSources,
    ) -> Self {
        Self {
            store,
            vault,
            clock,
            sources,
        }
    }

    /// Erases the caller's own account, after checking their password.
    pub async fn erase_me(&self, who: Principal, password: String) -> Result<()> {
        if who.key.is_some() {
            return Err(Error::Forbidden("API keys cannot erase accounts"));
        }
        let user = self.store.user(who.user).await.or_not_found("user")?;
        if !super::password::verify(password, user.password_hash).await? {
            return Err(Error::field("password", "is wrong"));
        }
        self.erase(who, who.user).await
    }

    /// Erases another account (admins).
    pub async fn erase_user(&self, who: Principal, user: UserId) -> Result<()> {
        if !who.is_admin() {
            return Err(Error::Forbidden("only admins erase other accounts"));
        }
        self.store.user(user).await.or_not_found("user")?;
        self.erase(who, user).await
    }

    /// Anonymizes the person: what identifies them is replaced, their second factor,
    /// sessions, trusted devices, memberships and notifications go; bookings stay
    /// with the user id (financial records). Refused while they are the last owner
    /// of an organization.
    async fn erase(&self, who: Principal, user: UserId) -> Result<()> {
        let orgs = self.store.organizations_of(user).await?;
        for (org, role) in &orgs {
            if *role != MemberRole::Owner {
                continue;
            }
            let members = self.store.members(org.id).await?;
            let owners = members
                .iter()
                .filter(|m| m.membership.role == MemberRole::Owner)
                .count();
            if owners <= 1 {
                return Err(Error::conflict(
                    ConflictKind::LastOwner,
                    "the account is the last owner of an organization: make another member owner first",
                ));
            }
        }
        let now = self.clock.now();
        for (org, _) in &orgs {
            // A concurrent change may have left it: nothing to remove then.
            if self.store.remove_member(org.id, user).await? == MemberChange::LastOwner {
                return Err(Error::conflict(
                    ConflictKind::LastOwner,
                    "the account is the last owner of an organization: make another member owner first",
                ));
            }
        }
        self.store.delete_mfa(user, now).await?;
        self.store.revoke_trusted_devices(user, now).await?;
        self.store.revoke_sessions_except(user, None, now).await?;
        self.store.delete_notifications_of(user).await?;
        self.store.rename_holder(user, ERASED_NAME).await?;
        // A hash of a random secret nobody knows: no password matches it.
        let unusable = super::password::hash(super::tokens::new_signing_secret()).await?;
        self.store
            .anonymize_user(
                user,
                &format!("erased-{user}{ERASED_DOMAIN}"),
                ERASED_NAME,
                &unusable,
                now,
            )
            .await
            .or_not_found("user")?;
        self.sources
            .audit
            .record(AuditEntry::on(
                Action::AccountErased,
                who,
                Target::user(user),
            ))
            .await;
        Ok(())
    }

    /// Everything held about the caller, who must be the person (not an API key).
    pub async fn export(
        &self,
        who: Principal,
        session: Option<&str>,
    ) -> Result<PersonalDataExport> {
        if who.key.is_some() {
            return Err(Error::Forbidden("API keys cannot export personal data"));
        }
        let s = &self.sources;
        let mut profile = s.accounts.me(who).await?;
        profile.phone = self.phone(who.user).await?;
        let organizations = s.organizations.mine(who).await?;
        let mut api_keys = Vec::new();
        for org in &organizations {
            api_keys.extend(
                self.store
                    .api_keys(org.id)
                    .await?
                    .iter()
                    .filter(|k| k.created_by == who.user)
                    .map(ApiKeyView::from),
            );
        }
        let mut bookings = Vec::new();
        for n in 1.. {
            let page = Page {
                page: n,
                per_page: MAX_PER_PAGE,
            };
            let (items, total) = s.booking.list(who, Vec::new(), page).await?;
            let done = items.is_empty() || page.offset() + items.len() as i64 >= total;
            bookings.extend(items);
            if done {
                break;
            }
        }
        Ok(PersonalDataExport {
            exported_at: crate::timefmt::rfc3339(self.clock.now()),
            profile,
            sessions: s.accounts.sessions(who, session).await?,
            organizations,
            bookings,
            mfa: s.mfa.status(who).await?,
            api_keys,
            audit: s.audit.by_actor(who.user).await?,
            notifications: s.notifications.all_of(who.user).await?,
            tickets: s.tickets.all_of(who.user).await?,
        })
    }

    /// Checks a phone change before anything is written: a 422 on `phone`.
    pub fn check_phone(change: &PhoneChange) -> Result<()> {
        let mut v = Violations::new();
        if let Some(Some(p)) = change {
            v.check("phone", parse_phone(p));
        }
        v.finish(|| ())?;
        Ok(())
    }

    /// The user's phone number, opened.
    pub async fn phone(&self, user: UserId) -> Result<Option<String>> {
        match self.store.user_phone(user).await.or_not_found("user")? {
            None => Ok(None),
            Some(sealed) => Ok(Some(self.vault.open(&sealed).await?)),
        }
    }

    /// Applies a phone change (checked again here) for the user themself; the
    /// phone number afterwards.
    pub async fn change_phone(&self, user: UserId, change: PhoneChange) -> Result<Option<String>> {
        Self::check_phone(&change)?;
        match change {
            None => self.phone(user).await,
            Some(phone) => {
                let sealed = phone.as_deref().map(|p| self.vault.encrypt(p));
                self.store
                    .set_user_phone(user, sealed.as_deref(), self.clock.now())
                    .await
                    .or_not_found("user")?;
                Ok(phone)
            }
        }
    }
}
