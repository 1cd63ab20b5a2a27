//! What admins do to other people's accounts: find them and change their platform
//! role. A new role takes effect at the next sign-in, so changing it ends the
//! account's sessions; access tokens already issued keep the old role until they
//! expire (15 minutes at most), as after a password change.
use super::service::{AccountService, UserView};
use super::tokens::Principal;
use crate::audit::{Action, AuditEntry, Target};
use crate::error::{Error, OrNotFound, Result};
use crate::store::{Page, UserFilter};
use boxoffice_domain::account::Role;
use boxoffice_domain::UserId;

impl AccountService {
    fn require_admin(who: &Principal) -> Result<()> {
        if who.is_admin() && who.key.is_none() {
            Ok(())
        } else {
            Err(Error::Forbidden("only admins manage accounts"))
        }
    }

    /// Accounts matching `filter`, newest first (admins).
    pub async fn users(
        &self,
        who: Principal,
        filter: UserFilter,
        page: Page,
    ) -> Result<(Vec<UserView>, i64)> {
        Self::require_admin(&who)?;
        let (users, total) = self.store.list_users(&filter, page).await?;
        Ok((users.iter().map(UserView::from).collect(), total))
    }

    /// One account (admins).
    pub async fn user(&self, who: Principal, id: UserId) -> Result<UserView> {
        Self::require_admin(&who)?;
        Ok((&self.store.user(id).await.or_not_found("user")?).into())
    }

    /// Gives `id` the platform role `role` and signs it out everywhere (admins, never
    /// on their own account, so the platform cannot lose its last admin this way).
    pub async fn set_role(&self, who: Principal, id: UserId, role: &str) -> Result<UserView> {
        Self::require_admin(&who)?;
        let role = Role::parse(role).map_err(|e| Error::field("role", e))?;
        if id == who.user {
            return Err(Error::field(
                "role",
                "admins cannot change their own role: ask another admin",
            ));
        }
        let mut user = self.store.user(id).await.or_not_found("user")?;
        if user.role == role {
            return Ok((&user).into());
        }
        let was = user.role;
        let now = self.clock.now();
        user.role = role;
        user.updated_at = now;
        self.store.update_user(&user).await.or_not_found("user")?;
        self.store.revoke_sessions_except(id, None, now).await?;
        tracing::info!(user = %id, role = role.as_str(), "account role changed");
        self.audit
            .record(
                AuditEntry::on(Action::AccountRoleChanged, who, Target::user(id))
                    .detail(serde_json::json!({"from": was.as_str(), "role": role.as_str()})),
            )
            .await;
        Ok((&user).into())
    }
}
