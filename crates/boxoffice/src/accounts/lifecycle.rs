//! An account's life after sign-up: proving the email, resetting a forgotten password
//! by an emailed single-use token, changing the password, and seeing and ending
//! sessions. Tokens are 256-bit random strings stored as SHA-256 digests.
//!
//! What an unverified account may not do: everything a buyer or an organizer does
//! today works unverified (signing in, reserving, paying, publishing), because load
//! tests create buyers in bulk and an on-sale must never wait on a mail server.
//! Capabilities that act on *other* people through the address (organization
//! invitations and memberships, API keys) call [`AccountService::require_verified`],
//! which answers 403 until the address is confirmed.
use super::password;
use super::service::{failure_key, AccountService};
use super::tokens::{self, Principal};
use crate::audit::{Action, AuditEntry};
use crate::error::{Error, OrNotFound, Result};
use crate::store::{AccountTokenRecord, SessionRecord, StoreError, UserRecord};
use boxoffice_domain::account::{check_password, Email};
use boxoffice_domain::lifecycle::{device_label, TokenPurpose};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// One sign-in on one device, as its owner sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SessionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// A readable label from the user agent, e.g. `Firefox on Linux`.
    #[schema(example = "Firefox on Linux")]
    pub device: String,
    #[schema(example = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")]
    pub user_agent: Option<String>,
    /// The client address at sign-in or at the last refresh.
    #[schema(example = "203.0.113.9")]
    pub ip: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub last_used_at: String,
    /// Whether this is the session of the access token making the request.
    pub current: bool,
}

impl SessionView {
    fn of(s: &SessionRecord, current: Option<&str>) -> Self {
        Self {
            id: s.id.clone(),
            device: device_label(s.user_agent.as_deref()),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            created_at: crate::timefmt::rfc3339(s.created_at),
            last_used_at: crate::timefmt::rfc3339(s.last_used_at),
            current: current == Some(s.id.as_str()),
        }
    }
}

const TOKEN_REFUSED: &str = "is invalid, has expired or was already used";

impl AccountService {
    /// Creates a token of `purpose` for the user's current email and mails it.
    async fn mail_token(&self, user: &UserRecord, purpose: TokenPurpose) -> Result<()> {
        let Some(mail) = &self.mail else {
            return Ok(());
        };
        let now = self.clock.now();
        let (token, token_hash) = tokens::new_refresh_token();
        self.store
            .insert_account_token(&AccountTokenRecord {
                token_hash,
                user_id: user.id,
                purpose,
                email: user.email.clone(),
                created_at: now,
                expires_at: now.plus_secs(purpose.ttl_secs()),
                used_at: None,
            })
            .await?;
        let template = match purpose {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "password_reset",
        };
        mail.send_template(
            &user.email,
            template,
            json!({
                "display_name": user.display_name,
                "email": user.email.as_str(),
                "token": token,
                "hours": purpose.ttl_secs() / 3600,
            }),
        )
        .map_err(Error::Internal)
    }

    /// Sends a verification email; a failure is logged, never the caller's problem
    /// (the account holder can ask for another).
    pub(super) async fn send_verification(&self, user: &UserRecord) {
        if let Err(e) = self.mail_token(user, TokenPurpose::VerifyEmail).await {
            tracing::error!(user = %user.id, error = %e, "verification mail not queued");
        }
    }

    /// Sends a new verification email, unless the email is verified already.
    pub async fn request_verification(&self, who: Principal) -> Result<()> {
        let user = self.store.user(who.user).await.or_not_found("user")?;
        if user.email_verified_at.is_none() {
            self.mail_token(&user, TokenPurpose::VerifyEmail).await?;
        }
        Ok(())
    }

    /// Confirms the email a verification token was sent to.
    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let now = self.clock.now();
        let spent = self
            .store
            .spend_account_token(&tokens::digest(token), TokenPurpose::VerifyEmail, now)
            .await?
            .ok_or_else(|| Error::field("token", TOKEN_REFUSED))?;
        if !self
            .store
            .mark_email_verified(spent.user_id, &spent.email, now)
            .await?
        {
            return Err(Error::field(
                "token",
                "was sent to an address this account no longer uses",
            ));
        }
        tracing::info!(user = %spent.user_id, "email verified");
        self.audit
            .record(AuditEntry::own(Action::EmailVerified, spent.user_id))
            .await;
        Ok(())
    }

    /// Mails a password reset token when `email` has an account. The answer is the
    /// same either way, so it does not tell who has an account.
    pub async fn forgot_password(&self, email: &str) -> Result<()> {
        let email = Email::parse(email).map_err(|e| Error::field("email", e))?;
        match self.store.user_by_email(&email).await {
            Ok(user) => {
                if let Err(e) = self.mail_token(&user, TokenPurpose::ResetPassword).await {
                    tracing::error!(user = %user.id, error = %e, "reset mail not queued");
                }
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Sets a new password with an emailed reset token: signs out every session,
    /// lifts a lockout and, the mailbox being proven, marks the email verified.
    pub async fn reset_password(&self, token: &str, new_password: String) -> Result<()> {
        check_password(&new_password).map_err(|e| Error::field("password", e))?;
        let hash = password::hash(new_password).await?;
        let now = self.clock.now();
        let spent = self
            .store
            .spend_account_token(&tokens::digest(token), TokenPurpose::ResetPassword, now)
            .await?
            .ok_or_else(|| Error::field("token", TOKEN_REFUSED))?;
        let mut user = self.store.user(spent.user_id).await.or_not_found("user")?;
        if user.email != spent.email {
            return Err(Error::field(
                "token",
                "was sent to an address this account no longer uses",
            ));
        }
        user.password_hash = hash;
        user.email_verified_at = user.email_verified_at.or(Some(now));
        user.updated_at = now;
        self.store.update_user(&user).await?;
        let revoked = self
            .store
            .revoke_sessions_except(user.id, None, now)
            .await?;
        self.store
            .clear_login_failures(&failure_key(&user.email))
            .await?;
        tracing::info!(user = %user.id, sessions_revoked = revoked, "password reset");
        self.audit
            .record(
                AuditEntry::own(Action::PasswordReset, user.id)
                    .detail(json!({"sessions_revoked": revoked})),
            )
            .await;
        Ok(())
    }

    /// Changes the password after checking the current one; every other session is
    /// signed out, the caller's stays.
    pub async fn change_password(
        &self,
        who: Principal,
        session: Option<&str>,
        current: String,
        new_password: String,
    ) -> Result<()> {
        check_password(&new_password).map_err(|e| Error::field("new_password", e))?;
        let mut user = self.store.user(who.user).await.or_not_found("user")?;
        if !password::verify(current, user.password_hash.clone()).await? {
            return Err(Error::field("current_password", "is wrong"));
        }
        user.password_hash = password::hash(new_password).await?;
        let now = self.clock.now();
        user.updated_at = now;
        self.store.update_user(&user).await?;
        let revoked = self
            .store
            .revoke_sessions_except(user.id, session, now)
            .await?;
        tracing::info!(user = %user.id, sessions_revoked = revoked, "password changed");
        Ok(())
    }

    /// The caller's live sessions, most recently used first.
    pub async fn sessions(
        &self,
        who: Principal,
        current: Option<&str>,
    ) -> Result<Vec<SessionView>> {
        let since = self.clock.now().plus_secs(-super::tokens::REFRESH_TTL_SECS);
        Ok(self
            .store
            .sessions_of(who.user, since)
            .await?
            .iter()
            .map(|s| SessionView::of(s, current))
            .collect())
    }

    /// Signs out one of the caller's sessions (404 for a session not theirs).
    pub async fn revoke_session(&self, who: Principal, id: &str) -> Result<()> {
        if !self
            .store
            .revoke_session(who.user, id, self.clock.now())
            .await?
        {
            return Err(Error::NotFound("session"));
        }
        self.audit
            .record(AuditEntry::own(Action::SessionRevoked, who.user))
            .await;
        Ok(())
    }

    /// Signs out every session of the caller but the current one.
    pub async fn revoke_other_sessions(
        &self,
        who: Principal,
        current: Option<&str>,
    ) -> Result<u64> {
        let revoked = self
            .store
            .revoke_sessions_except(who.user, current, self.clock.now())
            .await?;
        if revoked > 0 {
            self.audit
                .record(
                    AuditEntry::own(Action::SessionRevoked, who.user)
                        .detail(json!({"sessions": revoked})),
                )
                .await;
        }
        Ok(revoked)
    }

    /// 403 until the caller's email is verified: for capabilities that reach other
    /// people through the address (invitations, memberships, API keys).
    pub async fn require_verified(&self, who: Principal) -> Result<()> {
        let user = self.store.user(who.user).await.or_not_found("user")?;
        match user.email_verified_at {
            Some(_) => Ok(()),
            None => Err(Error::Forbidden("verify your email address first")),
        }
    }
}
