//! MFA use cases: enrolment, confirmation, backup codes, trusted devices, disabling,
//! and the second step of a login. Every check of a code happens here, against the
//! service clock, with replay and single-use rules enforced by conditional writes.
use super::policy::MfaPolicy;
use super::totp;
use crate::accounts::password;
use crate::accounts::tokens::{self, Principal};
use crate::audit::{Action, AuditEntry, AuditLog, Target};
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::store::{
    DynStore, MfaChallengeRecord, StoreError, TotpRecord, TrustedDeviceRecord, UserRecord,
};
use crate::vault::Vault;
use boxoffice_domain::mfa::{
    self, CHALLENGE_MAX_ATTEMPTS, CHALLENGE_TTL_SECS, TRUSTED_DEVICE_DAYS,
};
use boxoffice_domain::{UserId, Violations};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// Characters of a user agent kept as a device's label.
const LABEL_MAX_CHARS: usize = 120;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The base32 secret, for typing into an app by hand. Shown once.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    #[schema(
        example = "otpauth://totp/boxoffice:ana%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&digits=6&algorithm=SHA1&issuer=boxoffice&period=30"
    )]
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    #[schema(
        example = "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"203\" height=\"203\" viewBox=\"0 0 203 203\" shape-rendering=\"crispEdges\"><path fill=\"#000\" d=\"M28 28h7v7h-7z\"/></svg>"
    )]
    pub qr_svg: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BackupCodes {
    /// Ten single-use codes; shown once, stored hashed. Each replaces a TOTP code once.
    #[schema(example = json!(["k3m7q-a2xzp", "b4nr5-tt6ye"]))]
    pub backup_codes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrustedDeviceView {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// The user agent that asked to be trusted.
    #[schema(example = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")]
    pub label: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub expires_at: String,
    #[schema(schema_with = crate::http::contract::date_time_or_default)]
    pub last_used_at: Option<String>,
}

impl From<&TrustedDeviceRecord> for TrustedDeviceView {
    fn from(d: &TrustedDeviceRecord) -> Self {
        Self {
            id: d.id,
            label: d.label.clone(),
            created_at: crate::timefmt::rfc3339(d.created_at),
            expires_at: crate::timefmt::rfc3339(d.expires_at),
            last_used_at: d.last_used_at.map(crate::timefmt::rfc3339),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// A confirmed TOTP factor protects the account.
    pub enabled: bool,
    /// An enrolment was started and waits for its first code.
    pub pending: bool,
    /// The platform policy asks this account for MFA.
    pub required: bool,
    #[schema(example = 10)]
    pub backup_codes_left: i64,
    pub trusted_devices: Vec<TrustedDeviceView>,
}

/// The answer to a right password on an account with MFA: finish at
/// `POST /auth/login/mfa`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Single use, valid five minutes.
    #[schema(example = "n6Q0dVq2oK3xY1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p")]
    pub mfa_token: String,
    #[schema(schema_with = crate::http::contract::mfa_methods)]
    pub methods: Vec<&'static str>,
    /// Seconds until the token expires.
    #[schema(example = 300)]
    pub expires_in: i64,
}

/// A device trusted for 30 days: send `token` as `trusted_device` at login.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrustedDeviceToken {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    #[schema(example = "dHJ1c3RlZC1kZXZpY2UtdG9rZW4tZXhhbXBsZQ")]
    pub token: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub expires_at: String,
}

/// What proves the second factor.
pub enum SecondFactor {
    Totp(String),
    BackupCode(String),
}

impl SecondFactor {
    /// Exactly one of a TOTP code and a backup code, each in its shape.
    pub fn parse(code: Option<&str>, backup_code: Option<&str>) -> Result<Self> {
        let mut v = Violations::new();
        let factor = match (code, backup_code) {
            (Some(c), None) => v
                .check("code", mfa::parse_totp_code(c))
                .map(SecondFactor::Totp),
            (None, Some(b)) => v
                .check("backup_code", mfa::parse_backup_code(b))
                .map(SecondFactor::BackupCode),
            _ => {
                v.push("code", "send exactly one of code and backup_code");
                None
            }
        };
        v.finish(|| ())?;
        Ok(factor.expect("checked"))
    }
}

/// Why a second factor was refused.
enum Refusal {
    Wrong,
    Replayed,
    BackupCodeUnknown,
}

impl Refusal {
    /// As a field error of an authenticated request.
    fn field_error(self) -> Error {
        match self {
            Refusal::Wrong => Error::field("code", "is wrong"),
            Refusal::Replayed => Error::field("code", "was already used; wait for the next one"),
            Refusal::BackupCodeUnknown => {
                Error::field("backup_code", "is wrong or was already used")
            }
        }
    }

    /// As the refusal of a login step.
    fn unauthorized(self) -> Error {
        Error::Unauthorized(match self {
            Refusal::Wrong => "the code is wrong",
            Refusal::Replayed => "the code was already used; wait for the next one",
            Refusal::BackupCodeUnknown => "the backup code is wrong or was already used",
        })
    }
}

pub struct MfaService {
    store: DynStore,
    vault: Arc<Vault>,
    clock: DynClock,
    policy: MfaPolicy,
    audit: AuditLog,
}

impl MfaService {
    pub fn new(
        store: DynStore,
        vault: Arc<Vault>,
        clock: DynClock,
        policy: MfaPolicy,
        audit: AuditLog,
    ) -> Self {
        Self {
            store,
            vault,
            clock,
            policy,
            audit,
        }
    }

    pub fn policy(&self) -> &MfaPolicy {
        &self.policy
    }

    /// Whether the account has a confirmed second factor.
    pub async fn is_enabled(&self, user: UserId) -> Result<bool> {
        Ok(self
            .store
            .totp(user)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some()))
    }

    pub async fn status(&self, who: Principal) -> Result<MfaStatus> {
        let totp = self.store.totp(who.user).await?;
        let now = self.clock.now();
        Ok(MfaStatus {
            enabled: totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()),
            pending: totp.as_ref().is_some_and(|t| t.confirmed_at.is_none()),
            required: self.policy.requires_mfa(&who),
            backup_codes_left: self.store.backup_codes_left(who.user).await?,
            trusted_devices: self.trusted_devices_at(who.user, now).await?,
        })
    }

    /// Starts (or restarts) an enrolment: a new secret, not active until confirmed.
    pub async fn start_totp(&self, who: Principal) -> Result<TotpEnrolment> {
        let user = self.store.user(who.user).await.or_not_found("user")?;
        let secret = totp::new_secret();
        let otpauth_uri = totp::otpauth_uri(&secret, user.email.as_str())?;
        let qr_svg = totp::qr_svg(&otpauth_uri)?;
        let now = self.clock.now();
        let record = TotpRecord {
            user_id: user.id,
            secret: self.vault.encrypt(&secret),
            confirmed_at: None,
            last_step: None,
            created_at: now,
            updated_at: now,
        };
        if !self.store.put_pending_totp(&record).await? {
            return Err(already_enabled());
        }
        tracing::info!(user = %user.id, "TOTP enrolment started");
        Ok(TotpEnrolment {
            secret,
            otpauth_uri,
            qr_svg,
        })
    }

    /// Activates the pending factor with a first code; the backup codes, once.
    pub async fn confirm_totp(&self, who: Principal, code: &str) -> Result<BackupCodes> {
        let code = mfa::parse_totp_code(code).map_err(|e| Error::field("code", e))?;
        let record = match self.store.totp(who.user).await? {
            Some(t) if t.confirmed_at.is_none() => t,
            Some(_) => return Err(already_enabled()),
            None => {
                return Err(Error::conflict(
                    ConflictKind::InvalidState,
                    "no TOTP enrolment is pending; start one with POST /api/v1/auth/mfa/totp",
                ))
            }
        };
        let secret = self.vault.open(&record.secret).await?;
        let now = self.clock.now();
        let Some(step) = totp::matching_step(&secret, &code, now)? else {
            return Err(Refusal::Wrong.field_error());
        };
        // Only the secret the code was checked against: a restarted enrolment wins.
        if !self
            .store
            .activate_totp(who.user, &record.secret, step, now)
            .await?
        {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                "the enrolment was restarted or confirmed meanwhile",
            ));
        }
        let codes = self.new_backup_codes(who.user).await?;
        tracing::info!(user = %who.user, "MFA enabled");
        self.audit
            .record(AuditEntry::own(Action::MfaEnabled, who.user))
            .await;
        Ok(codes)
    }

    /// Turns MFA off: needs the password and a current code (or a backup code).
    pub async fn disable(
        &self,
        who: Principal,
        password_text: String,
        factor: SecondFactor,
    ) -> Result<()> {
        let user = self.store.user(who.user).await.or_not_found("user")?;
        let record = self.confirmed(who.user).await?;
        if !password::verify(password_text, user.password_hash.clone()).await? {
            return Err(Error::field("password", "is wrong"));
        }
        self.check_factor(&record, factor)
            .await?
            .map_err(Refusal::field_error)?;
        self.store.delete_mfa(who.user, self.clock.now()).await?;
        tracing::info!(user = %who.user, "MFA disabled");
        self.audit
            .record(AuditEntry::own(Action::MfaDisabled, who.user))
            .await;
        Ok(())
    }

    /// New backup codes (the old ones stop working), against a current TOTP code.
    pub async fn regenerate_backup_codes(&self, who: Principal, code: &str) -> Result<BackupCodes> {
        let code = mfa::parse_totp_code(code).map_err(|e| Error::field("code", e))?;
        let record = self.confirmed(who.user).await?;
        self.check_factor(&record, SecondFactor::Totp(code))
            .await?
            .map_err(Refusal::field_error)?;
        let codes = self.new_backup_codes(who.user).await?;
        tracing::info!(user = %who.user, "backup codes regenerated");
        self.audit
            .record(AuditEntry::own(Action::MfaBackupCodesRegenerated, who.user))
            .await;
        Ok(codes)
    }

    pub async fn trusted_devices(&self, who: Principal) -> Result<Vec<TrustedDeviceView>> {
        self.trusted_devices_at(who.user, self.clock.now()).await
    }

    async fn trusted_devices_at(
        &self,
        user: UserId,
        now: boxoffice_domain::Timestamp,
    ) -> Result<Vec<TrustedDeviceView>> {
        Ok(self
            .store
            .trusted_devices(user, now)
            .await?
            .iter()
            .map(Into::into)
            .collect())
    }

    /// Revokes one of the caller's devices; another account's id is not found.
    pub async fn revoke_trusted_device(&self, who: Principal, id: uuid::Uuid) -> Result<()> {
        if !self
            .store
            .revoke_trusted_device(who.user, id, self.clock.now())
            .await?
        {
            return Err(Error::NotFound("trusted device"));
        }
        self.audit
            .record(
                AuditEntry::on(Action::MfaTrustedDeviceRevoked, who, Target::user(who.user))
                    .detail(serde_json::json!({"device_id": id})),
            )
            .await;
        Ok(())
    }

    pub async fn revoke_trusted_devices(&self, who: Principal) -> Result<u64> {
        let revoked = self
            .store
            .revoke_trusted_devices(who.user, self.clock.now())
            .await?;
        if revoked > 0 {
            self.audit
                .record(
                    AuditEntry::own(Action::MfaTrustedDeviceRevoked, who.user)
                        .detail(serde_json::json!({"devices": revoked})),
                )
                .await;
        }
        Ok(revoked)
    }

    /// After a right password: `None` when the account has no second factor or the
    /// request presents a live trusted-device token of this account, else a
    /// challenge to answer at `POST /auth/login/mfa`.
    pub async fn login_gate(
        &self,
        user: &UserRecord,
        trusted_device: Option<&str>,
    ) -> Result<Option<MfaChallenge>> {
        if !self.is_enabled(user.id).await? {
            return Ok(None);
        }
        let now = self.clock.now();
        if let Some(token) = trusted_device {
            match self.store.trusted_device(&tokens::digest(token)).await {
                Ok(d) if d.user_id == user.id && d.revoked_at.is_none() && d.expires_at > now => {
                    self.store.touch_trusted_device(d.id, now).await?;
                    return Ok(None);
                }
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let (mfa_token, token_hash) = tokens::new_refresh_token();
        self.store
            .insert_mfa_challenge(&MfaChallengeRecord {
                token_hash,
                user_id: user.id,
                expires_at: now.plus_secs(CHALLENGE_TTL_SECS),
                used_at: None,
                attempts: 0,
                created_at: now,
            })
            .await?;
        Ok(Some(MfaChallenge {
            mfa_token,
            methods: vec!["totp", "backup_code"],
            expires_in: CHALLENGE_TTL_SECS,
        }))
    }

    /// The second login step: spends the challenge when the factor is right and, if
    /// asked, trusts the device (labelled by its user agent) for 30 days.
    pub async fn complete_login(
        &self,
        mfa_token: &str,
        factor: SecondFactor,
        trust_device: bool,
        user_agent: Option<String>,
    ) -> Result<(UserId, Option<TrustedDeviceToken>)> {
        let hash = tokens::digest(mfa_token);
        let challenge = self.store.mfa_challenge(&hash).await.map_err(|e| match e {
            StoreError::NotFound => Error::Unauthorized("the MFA token is invalid"),
            other => other.into(),
        })?;
        let now = self.clock.now();
        if challenge.used_at.is_some() {
            return Err(Error::Unauthorized("the MFA token was already used"));
        }
        if challenge.expires_at <= now {
            return Err(Error::Unauthorized(
                "the MFA token has expired; sign in again",
            ));
        }
        if challenge.attempts >= CHALLENGE_MAX_ATTEMPTS {
            return Err(Error::Unauthorized(
                "too many wrong codes for this MFA token; sign in again",
            ));
        }
        let record = self
            .confirmed(challenge.user_id)
            .await
            .map_err(|_| Error::Unauthorized("the MFA token is invalid"))?;
        if let Err(refusal) = self.check_factor(&record, factor).await? {
            self.store.fail_mfa_challenge(&hash).await?;
            return Err(refusal.unauthorized());
        }
        if !self.store.spend_mfa_challenge(&hash, now).await? {
            return Err(Error::Unauthorized("the MFA token was already used"));
        }
        let device = if trust_device {
            Some(self.trust_device(challenge.user_id, user_agent).await?)
        } else {
            None
        };
        Ok((challenge.user_id, device))
    }

    async fn trust_device(
        &self,
        user: UserId,
        label: Option<String>,
    ) -> Result<TrustedDeviceToken> {
        let now = self.clock.now();
        let (token, token_hash) = tokens::new_refresh_token();
        let label: String = label
            .unwrap_or_else(|| "unknown device".into())
            .chars()
            .filter(|c| !c.is_control())
            .take(LABEL_MAX_CHARS)
            .collect();
        let device = TrustedDeviceRecord {
            id: uuid::Uuid::now_v7(),
            user_id: user,
            token_hash,
            label,
            created_at: now,
            expires_at: now.plus_secs(TRUSTED_DEVICE_DAYS * 24 * 3600),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_trusted_device(&device).await?;
        tracing::info!(user = %user, device = %device.id, "device trusted");
        Ok(TrustedDeviceToken {
            id: device.id,
            token,
            expires_at: crate::timefmt::rfc3339(device.expires_at),
        })
    }

    async fn confirmed(&self, user: UserId) -> Result<TotpRecord> {
        match self.store.totp(user).await? {
            Some(t) if t.confirmed_at.is_some() => Ok(t),
            _ => Err(Error::conflict(
                ConflictKind::InvalidState,
                "multi-factor authentication is not enabled",
            )),
        }
    }

    /// Checks a factor and spends it (the TOTP step, or the backup code).
    async fn check_factor(
        &self,
        record: &TotpRecord,
        factor: SecondFactor,
    ) -> Result<std::result::Result<(), Refusal>> {
        let now = self.clock.now();
        match factor {
            SecondFactor::Totp(code) => {
                let secret = self.vault.open(&record.secret).await?;
                let Some(step) = totp::matching_step(&secret, &code, now)? else {
                    return Ok(Err(Refusal::Wrong));
                };
                if self.store.use_totp_step(record.user_id, step, now).await? {
                    Ok(Ok(()))
                } else {
                    Ok(Err(Refusal::Replayed))
                }
            }
            SecondFactor::BackupCode(code) => {
                let hash = backup_code_digest(record.user_id, &code);
                if self
                    .store
                    .use_backup_code(record.user_id, &hash, now)
                    .await?
                {
                    tracing::info!(user = %record.user_id, "backup code used");
                    Ok(Ok(()))
                } else {
                    Ok(Err(Refusal::BackupCodeUnknown))
                }
            }
        }
    }

    async fn new_backup_codes(&self, user: UserId) -> Result<BackupCodes> {
        let codes = totp::new_backup_codes();
        let hashes: Vec<String> = codes.iter().map(|c| backup_code_digest(user, c)).collect();
        self.store
            .replace_backup_codes(user, &hashes, self.clock.now())
            .await?;
        Ok(BackupCodes {
            backup_codes: codes.iter().map(|c| mfa::format_backup_code(c)).collect(),
        })
    }
}

/// Backup codes carry 50 random bits; a digest salted with the account id is enough
/// to keep the stored form useless (and unlike a password hash, cheap to look up).
fn backup_code_digest(user: UserId, normalised: &str) -> String {
    tokens::digest(&format!("{user}:{normalised}"))
}

fn already_enabled() -> Error {
    Error::conflict(
        ConflictKind::InvalidState,
        "multi-factor authentication is already enabled; disable it first",
    )
}
