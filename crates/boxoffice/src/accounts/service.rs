//! Account use cases. Authorization of *who may change what* lives here, not in the
//! handlers: a buyer cannot make themself an admin, only an admin provisions accounts.
use super::password;
use super::tokens::{self, Principal, TokenIssuer, REFRESH_TTL_SECS};
use crate::audit::{Action, Actor, AuditEntry, AuditLog, Target};
use crate::clock::DynClock;
use crate::error::{Error, OrNotFound, Result};
use crate::store::{DynStore, RefreshRecord, StoreError, UserRecord};
use boxoffice_domain::account::{check_password, parse_display_name, Email, Role};
use boxoffice_domain::{Timestamp, UserId, Violations};
use serde::Serialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    #[schema(example = "ana@example.com")]
    pub email: String,
    #[schema(example = "Ana Buyer")]
    pub display_name: String,
    #[schema(schema_with = crate::http::contract::role)]
    pub role: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email.to_string(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().into(),
            created_at: crate::timefmt::rfc3339(u.created_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuthTokens {
    pub user: UserView,
    #[schema(example = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTg5In0.c2lnbmF0dXJl")]
    pub access_token: String,
    #[schema(schema_with = crate::http::contract::token_type)]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque; exchange at `/auth/refresh` for a new pair. Single use.
    #[schema(example = "q3JxY2VudGx5LXJvdGF0ZWQtdG9rZW4")]
    pub refresh_token: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProvisionedBuyer {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    #[schema(example = "flash-sale-0-1a2b3c4d@buyers.invalid")]
    pub email: String,
    #[schema(example = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTg5In0.c2lnbmF0dXJl")]
    pub access_token: String,
}

pub struct NewAccount {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub role: Option<String>,
}

pub struct ProfileChange {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub current_password: Option<String>,
}

pub struct AccountService {
    store: DynStore,
    issuer: Arc<TokenIssuer>,
    clock: DynClock,
    audit: AuditLog,
    /// A real hash checked when the email is unknown, so login time does not reveal
    /// which emails have accounts.
    decoy_hash: String,
}

impl AccountService {
    pub async fn new(
        store: DynStore,
        issuer: Arc<TokenIssuer>,
        clock: DynClock,
        audit: AuditLog,
    ) -> Result<Self> {
        let decoy_hash = password::hash(tokens::new_signing_secret()).await?;
        Ok(Self {
            store,
            issuer,
            clock,
            audit,
            decoy_hash,
        })
    }

    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    pub fn authenticate(&self, bearer: &str) -> Result<Principal> {
        self.issuer.verify(bearer, self.clock.now())
    }

    fn parse_new(&self, input: &NewAccount, allow_admin: bool) -> Result<(Email, String, Role)> {
        let mut v = Violations::new();
        let email = v.check("email", Email::parse(&input.email));
        v.check("password", check_password(&input.password));
        let name = v.check("display_name", parse_display_name(&input.display_name));
        let role = match input.role.as_deref() {
            None => Some(Role::Buyer),
            Some(r) => v.check(
                "role",
                Role::parse(r).and_then(|role| {
                    if role == Role::Admin && !allow_admin {
                        Err("must be buyer or organizer".to_string())
                    } else {
                        Ok(role)
                    }
                }),
            ),
        };
        v.finish(|| ())?;
        Ok((
            email.expect("checked"),
            name.expect("checked"),
            role.expect("checked"),
        ))
    }

    /// Self-service sign-up as a buyer or an organizer.
    pub async fn register(&self, input: NewAccount) -> Result<AuthTokens> {
        let user = self.create(input, false).await?;
        self.audit
            .record(AuditEntry::own(Action::AccountRegistered, user.id))
            .await;
        self.issue_pair(&user, None).await
    }

    /// Creates an account with any role (admin CLI and demo data).
    pub async fn create(&self, input: NewAccount, allow_admin: bool) -> Result<UserRecord> {
        let (email, display_name, role) = self.parse_new(&input, allow_admin)?;
        let password_hash = password::hash(input.password).await?;
        let now = self.clock.now();
        let user = UserRecord {
            id: UserId::new(),
            email,
            password_hash,
            display_name,
            role,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_users(std::slice::from_ref(&user)).await {
            Err(StoreError::Conflict(_)) => {
                Err(Error::Validation(vec![boxoffice_domain::FieldError::new(
                    "email",
                    "is already registered",
                )]))
            }
            other => other.map_err(Error::from),
        }?;
        tracing::info!(user = %user.id, role = role.as_str(), "account created");
        Ok(user)
    }

    pub async fn login(&self, email: &str, password_text: String) -> Result<AuthTokens> {
        let refused = Error::Unauthorized("email or password is wrong");
        let Ok(email) = Email::parse(email) else {
            password::verify(password_text, self.decoy_hash.clone()).await?;
            self.audit
                .record(AuditEntry::login_failed(None, "unknown_account"))
                .await;
            return Err(refused);
        };
        let user = match self.store.user_by_email(&email).await {
            Ok(u) => u,
            Err(StoreError::NotFound) => {
                password::verify(password_text, self.decoy_hash.clone()).await?;
                self.audit
                    .record(AuditEntry::login_failed(None, "unknown_account"))
                    .await;
                return Err(refused);
            }
            Err(e) => return Err(e.into()),
        };
        if !password::verify(password_text, user.password_hash.clone()).await? {
            self.audit
                .record(AuditEntry::login_failed(Some(user.id), "wrong_password"))
                .await;
            return Err(refused);
        }
        self.audit
            .record(AuditEntry::own(Action::LoginSucceeded, user.id))
            .await;
        self.issue_pair(&user, None).await
    }

    async fn issue_pair(&self, user: &UserRecord, family: Option<String>) -> Result<AuthTokens> {
        let now = self.clock.now();
        let (access_token, expires_in) = self.issuer.issue(user.id, user.role, now)?;
        let (refresh_token, token_hash) = tokens::new_refresh_token();
        let record = RefreshRecord {
            token_hash,
            user_id: user.id,
            family_id: family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            expires_at: now.plus_secs(REFRESH_TTL_SECS),
            created_at: now,
            used_at: None,
            revoked_at: None,
        };
        self.store.insert_refresh(&record).await?;
        Ok(AuthTokens {
            user: user.into(),
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
        })
    }

    async fn live_refresh(&self, token: &str) -> Result<RefreshRecord> {
        let hash = tokens::digest(token);
        let record = self.store.refresh(&hash).await.map_err(|e| match e {
            StoreError::NotFound => Error::Unauthorized("the refresh token is invalid"),
            other => other.into(),
        })?;
        // Defence in depth: the lookup was by digest; compare digests in constant time.
        if !bool::from(record.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
            return Err(Error::Unauthorized("the refresh token is invalid"));
        }
        Ok(record)
    }

    /// Rotates a refresh token. Presenting an already used token revokes its whole
    /// family: somebody else has a copy.
    pub async fn refresh(&self, token: &str) -> Result<AuthTokens> {
        let now = self.clock.now();
        let record = self.live_refresh(token).await?;
        if record.revoked_at.is_some() || record.expires_at <= now {
            return Err(Error::Unauthorized(
                "the refresh token has expired or was revoked",
            ));
        }
        if !self.store.spend_refresh(&record.token_hash, now).await? {
            self.store
                .revoke_refresh_family(&record.family_id, now)
                .await?;
            tracing::warn!(user = %record.user_id, "refresh token reuse detected; family revoked");
            self.audit
                .record(AuditEntry::on(
                    Action::RefreshTokenReused,
                    Actor::Anonymous,
                    Target::user(record.user_id),
                ))
                .await;
            return Err(Error::Unauthorized("the refresh token was already used"));
        }
        let user = self.store.user(record.user_id).await.or_not_found("user")?;
        self.issue_pair(&user, Some(record.family_id)).await
    }

    /// Revokes the refresh token and every token rotated from the same login.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let record = self.live_refresh(token).await?;
        self.store
            .revoke_refresh_family(&record.family_id, self.clock.now())
            .await?;
        self.audit
            .record(AuditEntry::own(Action::Logout, record.user_id))
            .await;
        Ok(())
    }

    pub async fn me(&self, who: Principal) -> Result<UserView> {
        Ok((&self.store.user(who.user).await.or_not_found("user")?).into())
    }

    pub async fn update_me(&self, who: Principal, change: ProfileChange) -> Result<UserView> {
        let mut user = self.store.user(who.user).await.or_not_found("user")?;
        let mut v = Violations::new();
        let name = change
            .display_name
            .as_deref()
            .and_then(|n| v.check("display_name", parse_display_name(n)));
        let email = change
            .email
            .as_deref()
            .and_then(|e| v.check("email", Email::parse(e)));
        if let Some(p) = &change.password {
            v.check("password", check_password(p));
        }
        if (change.password.is_some() || email.is_some()) && change.current_password.is_none() {
            v.push(
                "current_password",
                "is required to change email or password",
            );
        }
        v.finish(|| ())?;
        if let Some(current) = change.current_password {
            if !password::verify(current, user.password_hash.clone()).await? {
                return Err(Error::field("current_password", "is wrong"));
            }
        }
        if let Some(n) = name {
            user.display_name = n;
        }
        let email_changed = email.as_ref().is_some_and(|e| *e != user.email);
        let password_changed = change.password.is_some();
        if let Some(e) = email {
            user.email = e;
        }
        if let Some(p) = change.password {
            user.password_hash = password::hash(p).await?;
        }
        user.updated_at = self.clock.now();
        match self.store.update_user(&user).await {
            Err(StoreError::Conflict(_)) => {
                return Err(Error::field("email", "is already registered"))
            }
            other => other?,
        }
        if email_changed {
            self.audit
                .record(AuditEntry::own(Action::AccountEmailChanged, user.id))
                .await;
        }
        if password_changed {
            self.audit
                .record(AuditEntry::own(Action::AccountPasswordChanged, user.id))
                .await;
        }
        Ok((&user).into())
    }

    /// Creates `count` buyer accounts sharing one password (hashed once) and returns
    /// an access token for each: load tests need thousands of buyers in seconds.
    pub async fn provision_buyers(
        &self,
        who: Principal,
        count: u32,
        prefix: &str,
        password_text: String,
    ) -> Result<Vec<ProvisionedBuyer>> {
        if !who.is_admin() {
            return Err(Error::Forbidden("only admins provision accounts"));
        }
        let mut v = Violations::new();
        v.check(
            "count",
            boxoffice_domain::validate::in_range(
                count,
                1,
                boxoffice_domain::account::MAX_BULK_ACCOUNTS,
            ),
        );
        v.check("password", check_password(&password_text));
        let prefix = v.check(
            "prefix",
            boxoffice_domain::account::check_bulk_prefix(prefix),
        );
        v.finish(|| ())?;
        let prefix = prefix.expect("checked");
        let hash = password::hash(password_text).await?;
        let now = self.clock.now();
        let users: Vec<UserRecord> = (0..count)
            .map(|n| -> Result<UserRecord> {
                let id = UserId::new();
                Ok(UserRecord {
                    id,
                    email: Email::parse(&format!(
                        "{prefix}-{n}-{}@buyers.invalid",
                        &id.to_string()[24..]
                    ))
                    .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?,
                    password_hash: hash.clone(),
                    display_name: format!("{prefix} buyer {n}"),
                    role: Role::Buyer,
                    created_at: now,
                    updated_at: now,
                })
            })
            .collect::<Result<_>>()?;
        self.store.insert_users(&users).await?;
        self.audit
            .record(
                AuditEntry::new(Action::AccountsBulkCreated, who)
                    .detail(serde_json::json!({"count": count})),
            )
            .await;
        users
            .iter()
            .map(|u| {
                let (access_token, _) = self.issuer.issue(u.id, u.role, now)?;
                Ok(ProvisionedBuyer {
                    id: u.id,
                    email: u.email.to_string(),
                    access_token,
                })
            })
            .collect()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
