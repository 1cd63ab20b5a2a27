//! Storage port of organizations: the tenants, their members, invitations and API keys.
//! Rules that must hold under concurrency (an organization keeps an owner, an
//! invitation is accepted once) are applied by the store in one transaction.
use super::{Page, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::account::Email;
use boxoffice_domain::organization::{KeyScope, MemberRole};
use boxoffice_domain::{ApiKeyId, InvitationId, OrganizationId, Timestamp, UserId};

#[derive(Clone, Debug)]
pub struct OrganizationRecord {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct MembershipRecord {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub role: MemberRole,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A membership with the member's account details, for listings.
#[derive(Clone, Debug)]
pub struct MemberRecord {
    pub membership: MembershipRecord,
    pub email: Email,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub struct InvitationRecord {
    pub id: InvitationId,
    pub organization_id: OrganizationId,
    pub email: Email,
    pub role: MemberRole,
    pub token_hash: String,
    pub invited_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub scope: KeyScope,
    pub secret_hash: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// What a change of membership that must keep an owner did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    NotAMember,
    /// Refused: the organization would have no owner left.
    LastOwner,
}

/// What accepting an invitation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// The user is now a member with the invitation's role.
    Joined,
    /// The user was a member already; the invitation is spent, the role unchanged.
    AlreadyMember,
    /// Accepted, revoked or expired before this call.
    Spent,
}

#[async_trait]
pub trait OrganizationStore: Send + Sync {
    /// Creates the organization with its first owner, atomically.
    async fn insert_organization(
        &self,
        org: &OrganizationRecord,
        owner: &MembershipRecord,
    ) -> StoreResult<()>;
    async fn organization(&self, id: OrganizationId) -> StoreResult<OrganizationRecord>;
    async fn update_organization(&self, org: &OrganizationRecord) -> StoreResult<()>;
    /// Every organization, by name (admins).
    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<OrganizationRecord>, i64)>;
    /// The organizations a user belongs to, with their role in each, by name.
    async fn organizations_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(OrganizationRecord, MemberRole)>>;
    async fn membership(
        &self,
        org: OrganizationId,
        user: UserId,
    ) -> StoreResult<Option<MemberRole>>;
    async fn members(&self, org: OrganizationId) -> StoreResult<Vec<MemberRecord>>;
    /// Changes a member's role unless that leaves the organization without an owner.
    async fn change_member_role(
        &self,
        org: OrganizationId,
        user: UserId,
        role: MemberRole,
        at: Timestamp,
    ) -> StoreResult<MemberChange>;
    /// Removes a member unless they are its last owner.
    async fn remove_member(&self, org: OrganizationId, user: UserId) -> StoreResult<MemberChange>;

    async fn insert_invitation(&self, invitation: &InvitationRecord) -> StoreResult<()>;
    async fn invitation_by_token(&self, token_hash: &str) -> StoreResult<InvitationRecord>;
    /// Open invitations (neither accepted, revoked nor expired at `now`).
    async fn open_invitations(
        &self,
        org: OrganizationId,
        now: Timestamp,
    ) -> StoreResult<Vec<InvitationRecord>>;
    /// Revokes an open invitation of `org`; `false` if there is none with that id.
    async fn revoke_invitation(
        &self,
        org: OrganizationId,
        id: InvitationId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Spends the invitation and adds `user` with its role, in one transaction.
    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: Timestamp,
    ) -> StoreResult<Acceptance>;

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    async fn api_key(&self, id: ApiKeyId) -> StoreResult<ApiKeyRecord>;
    async fn api_keys(&self, org: OrganizationId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a live key of `org`; `false` if there is none with that id.
    async fn revoke_api_key(
        &self,
        org: OrganizationId,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()>;
}
