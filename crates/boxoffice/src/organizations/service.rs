//! Organization use cases: create and rename, members and roles (an organization
//! always keeps an owner), invitations by email, and API keys shown once.
use super::access::Access;
use super::keys;
use crate::accounts::tokens::{digest, KeyGrant};
use crate::accounts::Principal;
use crate::audit::{Action, Actor, AuditEntry, AuditLog, AuditPage, AuditQuery, Target};
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::http::contract;
use crate::mail::MailService;
use crate::store::{
    Acceptance, AccountStore, ApiKeyRecord, InvitationRecord, MemberChange, MembershipRecord,
    OrganizationRecord, OrganizationStore, Page, StoreError,
};
use crate::timefmt::rfc3339;
use boxoffice_domain::account::{Email, Role};
use boxoffice_domain::organization::{
    parse_api_key_name, parse_organization_name, KeyScope, MemberRole, Permission,
    API_KEY_MAX_DAYS, INVITATION_TTL_HOURS,
};
use boxoffice_domain::validate::in_range;
use boxoffice_domain::{ApiKeyId, InvitationId, OrganizationId, Timestamp, UserId, Violations};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// How often a key's `last_used_at` is written at most: a key used a thousand
/// times a second costs one write a minute.
const KEY_TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    #[schema(value_type = String, format = Uuid)]
    pub id: OrganizationId,
    #[schema(schema_with = contract::organization_name)]
    pub name: String,
    /// The caller's role in it; `null` for admins and API keys.
    #[schema(schema_with = contract::member_role_or_null)]
    pub role: Option<String>,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = contract::date_time)]
    pub updated_at: String,
}

impl OrganizationView {
    fn of(o: &OrganizationRecord, role: Option<MemberRole>) -> Self {
        Self {
            id: o.id,
            name: o.name.clone(),
            role: role.map(|r| r.as_str().to_owned()),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    #[schema(example = "olga@example.com")]
    pub email: String,
    #[schema(example = "Olga Organizer")]
    pub display_name: String,
    #[schema(schema_with = contract::member_role)]
    pub role: String,
    #[schema(schema_with = contract::date_time)]
    pub joined_at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvitationView {
    #[schema(value_type = String, format = Uuid)]
    pub id: InvitationId,
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrganizationId,
    #[schema(example = "boxoffice@example.com")]
    pub email: String,
    #[schema(schema_with = contract::member_role)]
    pub role: String,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = contract::date_time)]
    pub expires_at: String,
}

impl From<&InvitationRecord> for InvitationView {
    fn from(i: &InvitationRecord) -> Self {
        Self {
            id: i.id,
            organization_id: i.organization_id,
            email: i.email.to_string(),
            role: i.role.as_str().into(),
            created_at: rfc3339(i.created_at),
            expires_at: rfc3339(i.expires_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    #[schema(value_type = String, format = Uuid)]
    pub id: ApiKeyId,
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrganizationId,
    #[schema(schema_with = contract::api_key_name)]
    pub name: String,
    #[schema(schema_with = contract::key_scope)]
    pub scope: String,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
    /// `null`: never expires.
    #[schema(schema_with = contract::date_time_or_null)]
    pub expires_at: Option<String>,
    /// Within a minute.
    #[schema(schema_with = contract::date_time_or_null)]
    pub last_used_at: Option<String>,
    #[schema(schema_with = contract::date_time_or_null)]
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for ApiKeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id,
            organization_id: k.organization_id,
            name: k.name.clone(),
            scope: k.scope.as_str().into(),
            created_by: k.created_by,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

/// A new key and its secret token, which is never shown again.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    pub key: ApiKeyView,
    /// Send as `Authorization: Bearer <token>`. Shown once: only a digest is kept.
    #[schema(example = "bo_0190d0f47f0c7aa68f2e5c2d3b1a9e77_q3JxY2VudGx5LXJvdGF0ZWQtdG9rZW4")]
    pub token: String,
}

pub struct NewApiKey {
    pub name: String,
    pub scope: String,
    pub expires_in_days: Option<i64>,
}

/// An invitation ready to be delivered: who to, into what, and the secret token.
pub struct Invitation {
    pub view: InvitationView,
    pub organization_name: String,
    pub token: String,
}

pub struct OrganizationService {
    store: Arc<dyn OrganizationStore>,
    accounts: Arc<dyn AccountStore>,
    access: Arc<Access>,
    clock: DynClock,
    audit: AuditLog,
    /// Delivers invitations; `None`: tokens are only returned (command line, tests).
    mail: Option<Arc<MailService>>,
    /// When each key's use was last written (see `KEY_TOUCH_EVERY_MS`).
    touched: Mutex<HashMap<ApiKeyId, Timestamp>>,
}

impl OrganizationService {
    pub fn new(
        store: Arc<dyn OrganizationStore>,
        accounts: Arc<dyn AccountStore>,
        access: Arc<Access>,
        clock: DynClock,
        audit: AuditLog,
    ) -> Self {
        Self {
            store,
            accounts,
            access,
            clock,
            audit,
            mail: None,
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// Mails each new invitation's token to the invitee.
    pub fn with_mail(mut self, mail: Arc<MailService>) -> Self {
        self.mail = Some(mail);
        self
    }

    /// Records `action` by `who` in organization `org`.
    async fn record(&self, action: Action, who: Principal, org: OrganizationId, target: Target) {
        self.audit
            .record(AuditEntry::on(action, who, target).organization(org))
            .await;
    }

    pub fn access(&self) -> &Arc<Access> {
        &self.access
    }

    async fn insert(&self, owner: UserId, name: String) -> Result<OrganizationRecord> {
        let now = self.clock.now();
        let org = OrganizationRecord {
            id: OrganizationId::new(),
            name,
            created_at: now,
            updated_at: now,
        };
        let membership = MembershipRecord {
            organization_id: org.id,
            user_id: owner,
            role: MemberRole::Owner,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_organization(&org, &membership).await?;
        tracing::info!(organization = %org.id, owner = %owner, "organization created");
        Ok(org)
    }

    /// A new organization with the caller as its owner (organizers and admins).
    pub async fn create(&self, who: Principal, name: &str) -> Result<OrganizationView> {
        if who.key.is_some() || !who.role.can_publish() {
            return Err(Error::Forbidden(
                "only organizers and admins create organizations",
            ));
        }
        let name = parse_organization_name(name).map_err(|e| Error::field("name", e))?;
        let org = self.insert(who.user, name).await?;
        self.record(
            Action::OrganizationCreated,
            who,
            org.id,
            Target::organization(org.id),
        )
        .await;
        Ok(OrganizationView::of(&org, Some(MemberRole::Owner)))
    }

    /// The organization every organizer starts with, named after them.
    pub async fn create_personal(&self, owner: UserId, display_name: &str) -> Result<()> {
        let org = self.insert(owner, display_name.to_owned()).await?;
        self.audit
            .record(
                AuditEntry::on(
                    Action::OrganizationCreated,
                    Actor::User(owner),
                    Target::organization(org.id),
                )
                .organization(org.id)
                .detail(serde_json::json!({"personal": true})),
            )
            .await;
        Ok(())
    }

    /// The caller's organizations (an API key: its own).
    pub async fn mine(&self, who: Principal) -> Result<Vec<OrganizationView>> {
        if let Some(key) = who.key {
            let org = self.store.organization(key.organization).await?;
            return Ok(vec![OrganizationView::of(&org, None)]);
        }
        Ok(self
            .store
            .organizations_of(who.user)
            .await?
            .iter()
            .map(|(o, role)| OrganizationView::of(o, Some(*role)))
            .collect())
    }

    /// Every organization (admins).
    pub async fn all(&self, who: Principal, page: Page) -> Result<(Vec<OrganizationView>, i64)> {
        if !who.is_admin() {
            return Err(Error::Forbidden("only admins list every organization"));
        }
        let (items, total) = self.store.list_organizations(page).await?;
        Ok((
            items
                .iter()
                .map(|o| OrganizationView::of(o, None))
                .collect(),
            total,
        ))
    }

    pub async fn get(&self, who: Principal, id: OrganizationId) -> Result<OrganizationView> {
        let org = self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ViewOrganization)
            .await?;
        let role = self.access.role(&who, id).await?;
        Ok(OrganizationView::of(&org, role))
    }

    pub async fn rename(
        &self,
        who: Principal,
        id: OrganizationId,
        name: &str,
    ) -> Result<OrganizationView> {
        let mut org = self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageOrganization)
            .await?;
        org.name = parse_organization_name(name).map_err(|e| Error::field("name", e))?;
        org.updated_at = self.clock.now();
        self.store.update_organization(&org).await?;
        self.record(
            Action::OrganizationRenamed,
            who,
            id,
            Target::organization(id),
        )
        .await;
        let role = self.access.role(&who, id).await?;
        Ok(OrganizationView::of(&org, role))
    }

    /// Fails with 404 when the organization does not exist, before any 403.
    async fn existing(&self, id: OrganizationId) -> Result<OrganizationRecord> {
        self.store
            .organization(id)
            .await
            .or_not_found("organization")
    }

    pub async fn members(&self, who: Principal, id: OrganizationId) -> Result<Vec<MemberView>> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ViewOrganization)
            .await?;
        Ok(self
            .store
            .members(id)
            .await?
            .into_iter()
            .map(|m| MemberView {
                user_id: m.membership.user_id,
                email: m.email.to_string(),
                display_name: m.display_name,
                role: m.membership.role.as_str().into(),
                joined_at: rfc3339(m.membership.created_at),
            })
            .collect())
    }

    fn member_change(change: MemberChange) -> Result<()> {
        match change {
            MemberChange::Done => Ok(()),
            MemberChange::NotAMember => Err(Error::NotFound("member")),
            MemberChange::LastOwner => Err(Error::conflict(
                ConflictKind::LastOwner,
                "an organization keeps at least one owner: make another member owner first",
            )),
        }
    }

    pub async fn change_role(
        &self,
        who: Principal,
        id: OrganizationId,
        user: UserId,
        role: &str,
    ) -> Result<MemberView> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageMembers)
            .await?;
        let role = MemberRole::parse(role).map_err(|e| Error::field("role", e))?;
        let now = self.clock.now();
        Self::member_change(self.store.change_member_role(id, user, role, now).await?)?;
        tracing::info!(organization = %id, member = %user, role = role.as_str(), "member role changed");
        self.audit
            .record(
                AuditEntry::on(Action::MemberRoleChanged, who, Target::user(user))
                    .organization(id)
                    .detail(serde_json::json!({"role": role.as_str()})),
            )
            .await;
        self.members(who, id)
            .await?
            .into_iter()
            .find(|m| m.user_id == user)
            .ok_or(Error::NotFound("member"))
    }

    /// Removes a member (owners), or leaves (any member, for themself).
    pub async fn remove_member(
        &self,
        who: Principal,
        id: OrganizationId,
        user: UserId,
    ) -> Result<()> {
        self.existing(id).await?;
        let leaving = who.key.is_none() && who.user == user;
        if !leaving {
            self.access
                .require(&who, id, Permission::ManageMembers)
                .await?;
        }
        Self::member_change(self.store.remove_member(id, user).await?)?;
        tracing::info!(organization = %id, member = %user, "member removed");
        let action = if leaving {
            Action::MemberLeft
        } else {
            Action::MemberRemoved
        };
        self.record(action, who, id, Target::user(user)).await;
        Ok(())
    }

    /// Records an invitation; the caller delivers its token to the invitee by email.
    pub async fn invite(
        &self,
        who: Principal,
        id: OrganizationId,
        email: &str,
        role: &str,
    ) -> Result<Invitation> {
        let org = self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageMembers)
            .await?;
        let mut v = Violations::new();
        let email = v.check("email", Email::parse(email));
        let role = v.check("role", MemberRole::parse(role));
        v.finish(|| ())?;
        let (email, role) = (email.expect("checked"), role.expect("checked"));
        let (token, token_hash) = crate::accounts::tokens::new_refresh_token();
        let now = self.clock.now();
        let record = InvitationRecord {
            id: InvitationId::new(),
            organization_id: id,
            email,
            role,
            token_hash,
            invited_by: who.user,
            created_at: now,
            expires_at: now.plus_secs(INVITATION_TTL_HOURS * 3600),
            accepted_at: None,
            revoked_at: None,
        };
        self.store.insert_invitation(&record).await?;
        tracing::info!(organization = %id, invitation = %record.id, role = role.as_str(), "invitation created");
        self.audit
            .record(
                AuditEntry::on(
                    Action::InvitationCreated,
                    who,
                    Target::new("invitation", record.id),
                )
                .organization(id)
                .detail(serde_json::json!({"role": role.as_str()})),
            )
            .await;
        self.deliver(&record, &org.name, &token).await;
        Ok(Invitation {
            view: (&record).into(),
            organization_name: org.name,
            token,
        })
    }

    pub async fn invitations(
        &self,
        who: Principal,
        id: OrganizationId,
    ) -> Result<Vec<InvitationView>> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageMembers)
            .await?;
        Ok(self
            .store
            .open_invitations(id, self.clock.now())
            .await?
            .iter()
            .map(Into::into)
            .collect())
    }

    pub async fn revoke_invitation(
        &self,
        who: Principal,
        id: OrganizationId,
        invitation: InvitationId,
    ) -> Result<()> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageMembers)
            .await?;
        if self
            .store
            .revoke_invitation(id, invitation, self.clock.now())
            .await?
        {
            self.record(
                Action::InvitationRevoked,
                who,
                id,
                Target::new("invitation", invitation),
            )
            .await;
            Ok(())
        } else {
            Err(Error::NotFound("invitation"))
        }
    }

    /// Joins the organization of an invitation sent to the caller's email address.
    pub async fn accept(&self, who: Principal, token: &str) -> Result<OrganizationView> {
        if who.key.is_some() {
            return Err(Error::Forbidden("API keys cannot accept invitations"));
        }
        let me = self.accounts.user(who.user).await.or_not_found("user")?;
        // Otherwise anyone could register the invitee's address and take their place.
        if me.email_verified_at.is_none() {
            return Err(Error::Forbidden(
                "verify your email address before accepting an invitation",
            ));
        }
        let invitation = match self.store.invitation_by_token(&digest(token)).await {
            Err(StoreError::NotFound) => return Err(Error::NotFound("invitation")),
            other => other?,
        };
        let now = self.clock.now();
        if invitation.accepted_at.is_some()
            || invitation.revoked_at.is_some()
            || invitation.expires_at <= now
        {
            return Err(Error::NotFound("invitation"));
        }
        if me.email != invitation.email {
            return Err(Error::Forbidden(
                "this invitation was sent to another email address",
            ));
        }
        match self
            .store
            .accept_invitation(invitation.id, who.user, now)
            .await?
        {
            Acceptance::Spent => return Err(Error::NotFound("invitation")),
            Acceptance::Joined | Acceptance::AlreadyMember => {}
        }
        tracing::info!(organization = %invitation.organization_id, member = %who.user, "invitation accepted");
        self.audit
            .record(
                AuditEntry::on(
                    Action::InvitationAccepted,
                    who,
                    Target::new("invitation", invitation.id),
                )
                .organization(invitation.organization_id)
                .detail(serde_json::json!({"role": invitation.role.as_str()})),
            )
            .await;
        let org = self.store.organization(invitation.organization_id).await?;
        let role = self.store.membership(org.id, who.user).await?;
        Ok(OrganizationView::of(&org, role))
    }

    /// The organization's audit log (owners and admins), newest first; the
    /// organization filter is fixed to `id`.
    pub async fn audit(
        &self,
        who: Principal,
        id: OrganizationId,
        query: AuditQuery,
    ) -> Result<AuditPage> {
        self.existing(id).await?;
        self.access.require(&who, id, Permission::ViewAudit).await?;
        self.audit.search_organization(id, query).await
    }

    /// Queues the invitation email. Delivery happens in the background: a mail
    /// failure never fails the invitation (the owner can revoke and invite again).
    async fn deliver(&self, invitation: &InvitationRecord, organization: &str, token: &str) {
        let Some(mail) = &self.mail else {
            return;
        };
        let inviter = match self.accounts.user(invitation.invited_by).await {
            Ok(u) => u.display_name,
            Err(e) => {
                tracing::error!(invitation = %invitation.id, error = %e, "invitation mail not queued");
                return;
            }
        };
        let context = serde_json::json!({
            "organization_name": organization,
            "role": invitation.role.as_str(),
            "inviter": inviter,
            "token": token,
            "expires_at": rfc3339(invitation.expires_at),
            "hours": INVITATION_TTL_HOURS,
        });
        if let Err(e) = mail.send_template(&invitation.email, "invitation", context) {
            tracing::error!(invitation = %invitation.id, error = %e, "invitation mail not queued");
        }
    }

    pub async fn create_key(
        &self,
        who: Principal,
        id: OrganizationId,
        input: NewApiKey,
    ) -> Result<ApiKeyCreated> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageApiKeys)
            .await?;
        let mut v = Violations::new();
        let name = v.check("name", parse_api_key_name(&input.name));
        let scope = v.check("scope", KeyScope::parse(&input.scope));
        if let Some(days) = input.expires_in_days {
            v.check("expires_in_days", in_range(days, 1, API_KEY_MAX_DAYS));
        }
        v.finish(|| ())?;
        let now = self.clock.now();
        let key_id = ApiKeyId::new();
        let (token, secret_hash) = keys::new_token(key_id);
        let record = ApiKeyRecord {
            id: key_id,
            organization_id: id,
            name: name.expect("checked"),
            scope: scope.expect("checked"),
            secret_hash,
            created_by: who.user,
            created_at: now,
            expires_at: input.expires_in_days.map(|d| now.plus_secs(d * 24 * 3600)),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_api_key(&record).await?;
        tracing::info!(organization = %id, key = %key_id, scope = record.scope.as_str(), "API key created");
        self.audit
            .record(
                AuditEntry::on(Action::ApiKeyCreated, who, Target::new("api_key", key_id))
                    .organization(id)
                    .detail(serde_json::json!({"scope": record.scope.as_str()})),
            )
            .await;
        Ok(ApiKeyCreated {
            key: (&record).into(),
            token,
        })
    }

    pub async fn keys(&self, who: Principal, id: OrganizationId) -> Result<Vec<ApiKeyView>> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageApiKeys)
            .await?;
        Ok(self
            .store
            .api_keys(id)
            .await?
            .iter()
            .map(Into::into)
            .collect())
    }

    pub async fn revoke_key(
        &self,
        who: Principal,
        id: OrganizationId,
        key: ApiKeyId,
    ) -> Result<()> {
        self.existing(id).await?;
        self.access
            .require(&who, id, Permission::ManageApiKeys)
            .await?;
        if self.store.revoke_api_key(id, key, self.clock.now()).await? {
            tracing::info!(organization = %id, key = %key, "API key revoked");
            self.record(Action::ApiKeyRevoked, who, id, Target::new("api_key", key))
                .await;
            Ok(())
        } else {
            Err(Error::NotFound("API key"))
        }
    }

    /// The principal of an API key token: live, unexpired and matching its digest.
    pub async fn authenticate_key(&self, token: &str) -> Result<Principal> {
        let invalid = Error::Unauthorized("the API key is invalid, expired or revoked");
        let Some((id, secret)) = keys::parse(token) else {
            return Err(invalid);
        };
        let record = match self.store.api_key(id).await {
            Err(StoreError::NotFound) => return Err(invalid),
            other => other?,
        };
        let now = self.clock.now();
        if !keys::matches(secret, &record.secret_hash)
            || record.revoked_at.is_some()
            || record.expires_at.is_some_and(|e| e <= now)
        {
            return Err(invalid);
        }
        if self.due_for_touch(id, now) {
            self.store.touch_api_key(id, now).await?;
        }
        Ok(Principal {
            user: record.created_by,
            role: Role::Buyer,
            mfa: false,
            key: Some(KeyGrant {
                id,
                organization: record.organization_id,
                scope: record.scope,
            }),
        })
    }

    fn due_for_touch(&self, id: ApiKeyId, now: Timestamp) -> bool {
        let mut touched = self.touched.lock();
        match touched.get(&id) {
            Some(at) if now.millis() - at.millis() < KEY_TOUCH_EVERY_MS => false,
            _ => {
                touched.insert(id, now);
                true
            }
        }
    }
}
