//! Account use cases. Authorization of *who may change what* lives here, not in the
//! handlers: a buyer cannot make themself an admin, only an admin provisions accounts.
use super::mfa::{MfaChallenge, MfaService, SecondFactor, TrustedDeviceToken};
use super::password;
use super::tokens::{self, Principal, TokenIssuer, REFRESH_TTL_SECS};
use crate::audit::{Action, Actor, AuditEntry, AuditLog, Target};
use crate::clock::DynClock;
use crate::error::{Error, OrNotFound, Result};
use crate::http::origin::Origin;
use crate::mail::MailService;
use crate::store::{DynStore, RefreshRecord, SessionRecord, StoreError, UserRecord};
use boxoffice_domain::account::{check_password, parse_display_name, Email, Role};
use boxoffice_domain::lifecycle::{lockout_millis, LOCKOUT_FORGET_MILLIS};
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
    /// Whether the account holder proved the email is theirs (see `/auth/verify-email`).
    pub email_verified: bool,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    /// Shown by `/auth/me` when one is set (kept encrypted at rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::http::contract::phone, required = false)]
    pub phone: Option<String>,
}

impl From<&UserRecord> for UserView {
    fn from(u: &UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email.to_string(),
            display_name: u.display_name.clone(),
            role: u.role.as_str().into(),
            email_verified: u.email_verified_at.is_some(),
            created_at: crate::timefmt::rfc3339(u.created_at),
            phone: None,
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

/// What a right password leads to.
#[derive(Clone, Debug)]
pub enum LoginOutcome {
    Tokens(AuthTokens),
    /// The account has MFA: the second step is `POST /auth/login/mfa`.
    MfaChallenge(MfaChallenge),
}

/// The tokens of a login finished with a second factor.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MfaLoginTokens {
    #[serde(flatten)]
    pub tokens: AuthTokens,
    /// Present when `trust_device` was asked: send its `token` as `trusted_device`
    /// at later logins to skip the second step for 30 days.
    pub trusted_device: Option<TrustedDeviceToken>,
}

pub struct AccountService {
    pub(super) store: DynStore,
    issuer: Arc<TokenIssuer>,
    /// The second factor, when the platform has it wired in.
    mfa: Option<Arc<MfaService>>,
    pub(super) clock: DynClock,
    /// Verification and reset mail; `None` where nothing is ever sent (the admin CLI).
    pub(super) mail: Option<Arc<MailService>>,
    pub(super) audit: AuditLog,
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
            mfa: None,
            mail: None,
            audit,
            decoy_hash,
        })
    }

    /// Logins of accounts with a second factor go through `mfa`.
    pub fn with_mfa(mut self, mfa: Arc<MfaService>) -> Self {
        self.mfa = Some(mfa);
        self
    }

    /// Sends verification and password reset mail through `mail`.
    pub fn with_mail(mut self, mail: Arc<MailService>) -> Self {
        self.mail = Some(mail);
        self
    }

    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    pub fn authenticate(&self, bearer: &str) -> Result<Principal> {
        self.issuer.verify(bearer, self.clock.now())
    }

    /// The caller and the session their access token was issued in, if any.
    pub fn authenticate_in(&self, bearer: &str) -> Result<(Principal, Option<String>)> {
        self.issuer.verify_in(bearer, self.clock.now())
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

    /// Self-service sign-up as a buyer or an organizer: signed in at once, with a
    /// verification email on its way.
    pub async fn register(&self, input: NewAccount, origin: &Origin) -> Result<AuthTokens> {
        let user = self.insert_new(input, false, false).await?;
        self.audit
            .record(AuditEntry::own(Action::AccountRegistered, user.id))
            .await;
        self.send_verification(&user).await;
        let session = self.open_session(&user, origin).await?;
        self.issue_pair(&user, &session, true).await
    }

    /// Creates an account with any role (admin CLI and demo data). An operator vouches
    /// for the address, so it counts as verified.
    pub async fn create(&self, input: NewAccount, allow_admin: bool) -> Result<UserRecord> {
        self.insert_new(input, allow_admin, true).await
    }

    async fn insert_new(
        &self,
        input: NewAccount,
        allow_admin: bool,
        verified: bool,
    ) -> Result<UserRecord> {
        let (email, display_name, role) = self.parse_new(&input, allow_admin)?;
        let password_hash = password::hash(input.password).await?;
        let now = self.clock.now();
        let user = UserRecord {
            id: UserId::new(),
            email,
            password_hash,
            display_name,
            role,
            email_verified_at: verified.then_some(now),
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

    /// Signs in. Every refusal is the same 401 with the same detail, whether the
    /// email is unknown, the password wrong or the email locked out, and an unknown
    /// email costs the same hash as a known one. After `LOCKOUT_THRESHOLD`
    /// consecutive failures an email is locked for a delay that doubles with each
    /// further failure (1 s … 15 min); attempts while locked are refused without
    /// checking the password. Counters are kept per email digest in the store.
    /// A right password for an account with MFA gets a challenge instead of tokens,
    /// unless `trusted_device` is a live trusted-device token of that account.
    pub async fn login(
        &self,
        email: &str,
        password_text: String,
        trusted_device: Option<&str>,
        origin: &Origin,
    ) -> Result<LoginOutcome> {
        let refused = Error::Unauthorized("email or password is wrong");
        let Ok(email) = Email::parse(email) else {
            password::verify(password_text, self.decoy_hash.clone()).await?;
            self.audit
                .record(AuditEntry::login_failed(None, "unknown_account"))
                .await;
            return Err(refused);
        };
        let key = failure_key(&email);
        let now = self.clock.now();
        let failures = self.store.login_failures(&key).await?;
        if failures.is_some_and(|f| f.locked_until > now) {
            tracing::info!("login refused: locked out");
            self.audit
                .record(AuditEntry::login_failed(None, "locked_out"))
                .await;
            return Err(refused);
        }
        let user = match self.store.user_by_email(&email).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let hash = user
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |u| u.password_hash.clone());
        let matches = password::verify(password_text, hash).await?;
        let known = user.as_ref().map(|u| u.id);
        let Some(user) = user.filter(|_| matches) else {
            let now = self.clock.now();
            let f = self
                .store
                .record_login_failure(
                    &key,
                    now,
                    now.plus_millis(-LOCKOUT_FORGET_MILLIS),
                    lockout_millis,
                )
                .await?;
            tracing::info!(failures = f.failures, "login refused");
            let (account, reason) = match known {
                Some(id) => (Some(id), "wrong_password"),
                None => (None, "unknown_account"),
            };
            self.audit
                .record(AuditEntry::login_failed(account, reason))
                .await;
            return Err(refused);
        };
        if failures.is_some() {
            self.store.clear_login_failures(&key).await?;
        }
        if let Some(mfa) = &self.mfa {
            if let Some(challenge) = mfa.login_gate(&user, trusted_device).await? {
                return Ok(LoginOutcome::MfaChallenge(challenge));
            }
        }
        self.audit
            .record(AuditEntry::own(Action::LoginSucceeded, user.id))
            .await;
        let session = self.open_session(&user, origin).await?;
        self.issue_pair(&user, &session, true)
            .await
            .map(LoginOutcome::Tokens)
    }

    /// The second login step: tokens once the challenge is answered.
    pub async fn login_mfa(
        &self,
        mfa_token: &str,
        factor: SecondFactor,
        trust_device: bool,
        origin: &Origin,
    ) -> Result<MfaLoginTokens> {
        let mfa = self
            .mfa
            .as_ref()
            .ok_or(Error::Unauthorized("the MFA token is invalid"))?;
        let (user, trusted_device) = mfa
            .complete_login(mfa_token, factor, trust_device, origin.user_agent.clone())
            .await?;
        let user = self.store.user(user).await.or_not_found("user")?;
        let session = self.open_session(&user, origin).await?;
        Ok(MfaLoginTokens {
            tokens: self.issue_pair(&user, &session, true).await?,
            trusted_device,
        })
    }

    /// Records a new session (one sign-in on one device).
    pub(super) async fn open_session(&self, user: &UserRecord, origin: &Origin) -> Result<String> {
        let now = self.clock.now();
        let session = SessionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            ip: origin.ip.to_string(),
            user_agent: origin.user_agent.clone(),
            revoked_at: None,
        };
        self.store.insert_session(&session).await?;
        Ok(session.id)
    }

    /// An access token and a refresh token in `family`; the access token names the
    /// family as its session when `in_session` (families older than sessions are not).
    async fn issue_pair(
        &self,
        user: &UserRecord,
        family: &str,
        in_session: bool,
    ) -> Result<AuthTokens> {
        let now = self.clock.now();
        // Every login of an account with MFA passed it, and so did its refreshes.
        let mfa = match &self.mfa {
            Some(m) => m.is_enabled(user.id).await?,
            None => false,
        };
        let (access_token, expires_in) =
            self.issuer
                .issue_in(user.id, user.role, in_session.then_some(family), mfa, now)?;
        let (refresh_token, token_hash) = tokens::new_refresh_token();
        let record = RefreshRecord {
            token_hash,
            user_id: user.id,
            family_id: family.to_owned(),
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
    /// family: somebody else has a copy. A token of a revoked session is refused and
    /// changes nothing; a live session records the use (time, address, user agent).
    pub async fn refresh(&self, token: &str, origin: &Origin) -> Result<AuthTokens> {
        let now = self.clock.now();
        let record = self.live_refresh(token).await?;
        if record.revoked_at.is_some() || record.expires_at <= now {
            return Err(Error::Unauthorized(
                "the refresh token has expired or was revoked",
            ));
        }
        // Families from before sessions existed have no session record; they keep
        // working until they expire, outside the session list.
        let in_session = match self.store.session(&record.family_id).await {
            Ok(s) if s.revoked_at.is_some() => {
                return Err(Error::Unauthorized("the session was signed out"))
            }
            Ok(_) => true,
            Err(StoreError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        if !self.store.spend_refresh(&record.token_hash, now).await? {
            self.store
                .revoke_refresh_family(&record.family_id, now)
                .await?;
            self.store
                .revoke_session(record.user_id, &record.family_id, now)
                .await?;
            tracing::warn!(user = %record.user_id, "refresh token reuse detected; session revoked");
            self.audit
                .record(AuditEntry::on(
                    Action::RefreshTokenReused,
                    Actor::Anonymous,
                    Target::user(record.user_id),
                ))
                .await;
            return Err(Error::Unauthorized("the refresh token was already used"));
        }
        if in_session
            && !self
                .store
                .touch_session(
                    &record.family_id,
                    now,
                    &origin.ip.to_string(),
                    origin.user_agent.as_deref(),
                )
                .await?
        {
            return Err(Error::Unauthorized("the session was signed out"));
        }
        let user = self.store.user(record.user_id).await.or_not_found("user")?;
        self.issue_pair(&user, &record.family_id, in_session).await
    }

    /// Ends the session of the refresh token: it and every token rotated from the
    /// same login stop working.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let record = self.live_refresh(token).await?;
        let now = self.clock.now();
        self.store
            .revoke_refresh_family(&record.family_id, now)
            .await?;
        self.store
            .revoke_session(record.user_id, &record.family_id, now)
            .await?;
        self.audit
            .record(AuditEntry::own(Action::Logout, record.user_id))
            .await;
        Ok(())
    }

    /// Ends one of `user`'s sessions by its id (a web sign-out, which holds no
    /// refresh token): the same effect as [`AccountService::logout`].
    pub async fn end_session(&self, user: UserId, session: &str) -> Result<()> {
        let now = self.clock.now();
        self.store.revoke_refresh_family(session, now).await?;
        self.store.revoke_session(user, session, now).await?;
        self.audit
            .record(AuditEntry::own(Action::Logout, user))
            .await;
        Ok(())
    }

    pub async fn me(&self, who: Principal) -> Result<UserView> {
        Ok((&self.store.user(who.user).await.or_not_found("user")?).into())
    }

    /// Changes the profile. A new email is unverified until its holder confirms it
    /// (a verification is sent); a new password signs out every other session.
    pub async fn update_me(
        &self,
        who: Principal,
        session: Option<&str>,
        change: ProfileChange,
    ) -> Result<UserView> {
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
        if let Some(e) = email {
            user.email = e;
        }
        if email_changed {
            user.email_verified_at = None;
        }
        let password_changed = change.password.is_some();
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
        if password_changed {
            self.store
                .revoke_sessions_except(user.id, session, self.clock.now())
                .await?;
            self.audit
                .record(AuditEntry::own(Action::AccountPasswordChanged, user.id))
                .await;
        }
        if email_changed {
            self.audit
                .record(AuditEntry::own(Action::AccountEmailChanged, user.id))
                .await;
            self.send_verification(&user).await;
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
                    // Load-test buyers: nobody reads their mail.
                    email_verified_at: Some(now),
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

/// The key of an email's failed-login counter: its SHA-256, so the table holds no
/// addresses (failures are counted for unknown emails too).
pub(super) fn failure_key(email: &Email) -> String {
    tokens::digest(email.as_str())
}
