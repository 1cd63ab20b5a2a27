//! Organizations in SQL: tenants, memberships, invitations and API keys. Changes that
//! must keep an owner lock the organization's row (PostgreSQL) or run under SQLite's
//! single writer, so two owners demoting each other cannot leave none.
use super::statement::{get_id, get_opt_ts, get_parsed, get_str, get_ts, opt_ts, t, ts, Arg, Sql};
use super::{Backend, SqlStore};
use crate::store::{
    Acceptance, ApiKeyRecord, InvitationRecord, MemberChange, MemberRecord, MembershipRecord,
    OrganizationRecord, OrganizationStore, Page, StoreResult,
};
use async_trait::async_trait;
use boxoffice_domain::account::Email;
use boxoffice_domain::organization::{KeyScope, MemberRole};
use boxoffice_domain::{ApiKeyId, InvitationId, OrganizationId, Timestamp, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;

const ORG_COLUMNS: &str = "id, name, created_at, updated_at";
const MEMBERSHIP_COLUMNS: &str = "organization_id, user_id, role, created_at, updated_at";
const INVITATION_COLUMNS: &str = "id, organization_id, email, role, token_hash, invited_by, \
     created_at, expires_at, accepted_at, revoked_at";
const KEY_COLUMNS: &str = "id, organization_id, name, scope, secret_hash, created_by, \
     created_at, expires_at, last_used_at, revoked_at";

fn org_from(row: &AnyRow) -> StoreResult<OrganizationRecord> {
    Ok(OrganizationRecord {
        id: get_id(row, "id")?,
        name: get_str(row, "name")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn membership_from(row: &AnyRow) -> StoreResult<MembershipRecord> {
    Ok(MembershipRecord {
        organization_id: get_id(row, "organization_id")?,
        user_id: get_id(row, "user_id")?,
        role: get_parsed(row, "role", MemberRole::parse)?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn invitation_from(row: &AnyRow) -> StoreResult<InvitationRecord> {
    Ok(InvitationRecord {
        id: get_id(row, "id")?,
        organization_id: get_id(row, "organization_id")?,
        email: get_parsed(row, "email", Email::parse)?,
        role: get_parsed(row, "role", MemberRole::parse)?,
        token_hash: get_str(row, "token_hash")?,
        invited_by: get_id(row, "invited_by")?,
        created_at: get_ts(row, "created_at")?,
        expires_at: get_ts(row, "expires_at")?,
        accepted_at: get_opt_ts(row, "accepted_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn key_from(row: &AnyRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: get_id(row, "id")?,
        organization_id: get_id(row, "organization_id")?,
        name: get_str(row, "name")?,
        scope: get_parsed(row, "scope", KeyScope::parse)?,
        secret_hash: get_str(row, "secret_hash")?,
        created_by: get_id(row, "created_by")?,
        created_at: get_ts(row, "created_at")?,
        expires_at: get_opt_ts(row, "expires_at")?,
        last_used_at: get_opt_ts(row, "last_used_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn membership_args(m: &MembershipRecord) -> Vec<Arg> {
    vec![
        t(m.organization_id),
        t(m.user_id),
        t(m.role.as_str()),
        ts(m.created_at),
        ts(m.updated_at),
    ]
}

fn membership_insert(m: &MembershipRecord) -> Sql {
    let mut sql = Sql::insert("memberships", MEMBERSHIP_COLUMNS);
    sql.tuple(membership_args(m));
    sql
}

impl SqlStore {
    /// Marks a live row of `org` revoked; `false` when there is none (`extra`: more
    /// conditions of liveness).
    async fn revoke_of_organization(
        &self,
        table: &'static str,
        org: OrganizationId,
        id: &str,
        at: Timestamp,
        extra: &str,
    ) -> StoreResult<bool> {
        let mut sql = Sql::update(table);
        sql.push("revoked_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(id)
            .push(" AND organization_id = ")
            .text(org)
            .push(" AND revoked_at IS NULL")
            .push(extra);
        Ok(self.execute(&sql).await? == 1)
    }

    /// The statement that serializes owner-keeping changes of one organization: a row
    /// lock on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already admits one writer.
    fn lock_organization(&self, org: OrganizationId) -> Vec<Sql> {
        match self.backend() {
            Backend::Sqlite => Vec::new(),
            Backend::Postgres => {
                let mut sql = Sql::new("SELECT id FROM organizations WHERE id = ");
                sql.text(org).push(" FOR UPDATE");
                vec![sql]
            }
        }
    }

    /// Runs `change` (which must touch one membership row) under the organization's
    /// lock, unless it would leave no owner; what happened.
    async fn change_keeping_owner(
        &self,
        org: OrganizationId,
        user: UserId,
        change: Sql,
        stays_owner: bool,
    ) -> StoreResult<MemberChange> {
        let mut batch = self.batch().await?;
        let mut read = self.lock_organization(org);
        let mut current =
            Sql::new("SELECT role, (SELECT COUNT(*) FROM memberships WHERE organization_id = ");
        current
            .text(org)
            .push(" AND role = 'owner') AS owners FROM memberships WHERE organization_id = ")
            .text(org)
            .push(" AND user_id = ")
            .text(user);
        read.push(current);
        let rows = batch.run(read).await?;
        let Some(row) = rows.last().filter(|r| r.len() == 2) else {
            batch.finish(Vec::new()).await?;
            return Ok(MemberChange::NotAMember);
        };
        let role = get_parsed(row, "role", MemberRole::parse)?;
        let owners = super::statement::get_i64(row, "owners")?;
        let is_owner = role == MemberRole::Owner;
        if boxoffice_domain::organization::leaves_no_owner(
            usize::try_from(owners).unwrap_or(0),
            is_owner,
            stays_owner,
        ) {
            batch.finish(Vec::new()).await?;
            return Ok(MemberChange::LastOwner);
        }
        batch.finish(vec![change]).await?;
        Ok(MemberChange::Done)
    }
}

#[async_trait]
impl OrganizationStore for SqlStore {
    async fn insert_organization(
        &self,
        org: &OrganizationRecord,
        owner: &MembershipRecord,
    ) -> StoreResult<()> {
        let mut insert = Sql::insert("organizations", ORG_COLUMNS);
        insert.tuple(vec![
            t(org.id),
            t(&org.name),
            ts(org.created_at),
            ts(org.updated_at),
        ]);
        let mut batch = self.batch().await?;
        batch.run(vec![insert]).await?;
        batch.finish(vec![membership_insert(owner)]).await.map(drop)
    }

    async fn organization(&self, id: OrganizationId) -> StoreResult<OrganizationRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, org_from).await
    }

    async fn update_organization(&self, org: &OrganizationRecord) -> StoreResult<()> {
        let mut sql = Sql::update("organizations");
        sql.push("name = ")
            .text(&org.name)
            .push(", updated_at = ")
            .int(org.updated_at.millis())
            .push(" WHERE id = ")
            .text(org.id);
        self.exec_one(&sql).await
    }

    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<OrganizationRecord>, i64)> {
        let mut sql = Sql::new(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations ORDER BY name, id LIMIT "
        ));
        sql.int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        let items = self.all(&sql, org_from).await?;
        let total = self
            .count(&Sql::new("SELECT COUNT(*) AS n FROM organizations"))
            .await?;
        Ok((items, total))
    }

    async fn organizations_of(
        &self,
        user: UserId,
    ) -> StoreResult<Vec<(OrganizationRecord, MemberRole)>> {
        let mut sql = Sql::new(
            "SELECT o.id, o.name, o.created_at, o.updated_at, m.role FROM organizations o \
             JOIN memberships m ON m.organization_id = o.id WHERE m.user_id = ",
        );
        sql.text(user).push(" ORDER BY o.name, o.id");
        self.all(&sql, |row| {
            Ok((org_from(row)?, get_parsed(row, "role", MemberRole::parse)?))
        })
        .await
    }

    async fn membership(
        &self,
        org: OrganizationId,
        user: UserId,
    ) -> StoreResult<Option<MemberRole>> {
        let mut sql = Sql::new("SELECT role FROM memberships WHERE organization_id = ");
        sql.text(org).push(" AND user_id = ").text(user);
        self.fetch_optional(&sql)
            .await?
            .map(|row| get_parsed(&row, "role", MemberRole::parse))
            .transpose()
    }

    async fn members(&self, org: OrganizationId) -> StoreResult<Vec<MemberRecord>> {
        let mut sql = Sql::new(
            "SELECT m.organization_id, m.user_id, m.role, m.created_at, m.updated_at, \
             u.email, u.display_name FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.organization_id = ",
        );
        sql.text(org).push(" ORDER BY m.created_at, m.user_id");
        self.all(&sql, |row| {
            Ok(MemberRecord {
                membership: membership_from(row)?,
                email: get_parsed(row, "email", Email::parse)?,
                display_name: get_str(row, "display_name")?,
            })
        })
        .await
    }

    async fn change_member_role(
        &self,
        org: OrganizationId,
        user: UserId,
        role: MemberRole,
        at: Timestamp,
    ) -> StoreResult<MemberChange> {
        let mut change = Sql::update("memberships");
        change
            .push("role = ")
            .text(role.as_str())
            .push(", updated_at = ")
            .int(at.millis())
            .push(" WHERE organization_id = ")
            .text(org)
            .push(" AND user_id = ")
            .text(user);
        self.change_keeping_owner(org, user, change, role == MemberRole::Owner)
            .await
    }

    async fn remove_member(&self, org: OrganizationId, user: UserId) -> StoreResult<MemberChange> {
        let mut change = Sql::delete("memberships");
        change
            .push("organization_id = ")
            .text(org)
            .push(" AND user_id = ")
            .text(user);
        self.change_keeping_owner(org, user, change, false).await
    }

    async fn insert_invitation(&self, i: &InvitationRecord) -> StoreResult<()> {
        self.insert_one(
            "invitations",
            INVITATION_COLUMNS,
            vec![
                t(i.id),
                t(i.organization_id),
                t(i.email.as_str()),
                t(i.role.as_str()),
                t(&i.token_hash),
                t(i.invited_by),
                ts(i.created_at),
                ts(i.expires_at),
                opt_ts(i.accepted_at),
                opt_ts(i.revoked_at),
            ],
        )
        .await
    }

    async fn invitation_by_token(&self, token_hash: &str) -> StoreResult<InvitationRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = "
        ));
        sql.text(token_hash);
        self.one(&sql, invitation_from).await
    }

    async fn open_invitations(
        &self,
        org: OrganizationId,
        now: Timestamp,
    ) -> StoreResult<Vec<InvitationRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE organization_id = "
        ));
        sql.text(org)
            .push(" AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ")
            .int(now.millis())
            .push(" ORDER BY created_at, id");
        self.all(&sql, invitation_from).await
    }

    async fn revoke_invitation(
        &self,
        org: OrganizationId,
        id: InvitationId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.revoke_of_organization(
            "invitations",
            org,
            &id.to_string(),
            at,
            " AND accepted_at IS NULL",
        )
        .await
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: Timestamp,
    ) -> StoreResult<Acceptance> {
        let mut spend = Sql::update("invitations");
        spend
            .push("accepted_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(id)
            .push(" AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ")
            .int(at.millis())
            .push(" RETURNING organization_id, role");
        let mut batch = self.batch().await?;
        let rows = batch.run(vec![spend]).await?;
        let Some(row) = rows.first() else {
            batch.finish(Vec::new()).await?;
            return Ok(Acceptance::Spent);
        };
        let org: OrganizationId = get_id(row, "organization_id")?;
        let role = get_parsed(row, "role", MemberRole::parse)?;
        let mut existing = Sql::new("SELECT role FROM memberships WHERE organization_id = ");
        existing.text(org).push(" AND user_id = ").text(user);
        if !batch.run(vec![existing]).await?.is_empty() {
            batch.finish(Vec::new()).await?;
            return Ok(Acceptance::AlreadyMember);
        }
        let member = MembershipRecord {
            organization_id: org,
            user_id: user,
            role,
            created_at: at,
            updated_at: at,
        };
        batch.finish(vec![membership_insert(&member)]).await?;
        Ok(Acceptance::Joined)
    }

    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        self.insert_one(
            "api_keys",
            KEY_COLUMNS,
            vec![
                t(k.id),
                t(k.organization_id),
                t(&k.name),
                t(k.scope.as_str()),
                t(&k.secret_hash),
                t(k.created_by),
                ts(k.created_at),
                opt_ts(k.expires_at),
                opt_ts(k.last_used_at),
                opt_ts(k.revoked_at),
            ],
        )
        .await
    }

    async fn api_key(&self, id: ApiKeyId) -> StoreResult<ApiKeyRecord> {
        let mut sql = Sql::new(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = "));
        sql.text(id);
        self.one(&sql, key_from).await
    }

    async fn api_keys(&self, org: OrganizationId) -> StoreResult<Vec<ApiKeyRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE organization_id = "
        ));
        sql.text(org).push(" ORDER BY created_at, id");
        self.all(&sql, key_from).await
    }

    async fn revoke_api_key(
        &self,
        org: OrganizationId,
        id: ApiKeyId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        self.revoke_of_organization("api_keys", org, &id.to_string(), at, "")
            .await
    }

    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        let mut sql = Sql::update("api_keys");
        sql.push("last_used_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(id);
        self.execute(&sql).await.map(drop)
    }
}
