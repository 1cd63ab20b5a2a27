//! Who is browsing, by cookie: a signed session cookie naming the account and its
//! session (the same session list and sign-out as API logins), checked against the
//! store on every page so a session signed out elsewhere ends here too; and a CSRF
//! token, double-submitted (cookie and form field) and compared in constant time.
use crate::accounts::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use boxoffice_domain::account::Role;
use boxoffice_domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie: signed, HttpOnly, sent on same-site navigation.
pub const SESSION_COOKIE: &str = "bo_session";
/// The CSRF cookie every form's `csrf` field must match.
pub const CSRF_COOKIE: &str = "bo_csrf";
/// How long a web session lasts without signing in again.
const SESSION_SECS: i64 = 12 * 3600;
const AUDIENCE: &str = "boxoffice-web";

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    exp: i64,
    aud: String,
}

/// Signs and checks session cookies with a key derived from the token secret.
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl SessionKeys {
    pub fn new(secret: &[u8]) -> Self {
        // A key of its own: a session cookie is never an API token, nor the reverse.
        let key = Sha256::new()
            .chain_update(b"boxoffice web session\0")
            .chain_update(secret)
            .finalize();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
        }
    }

    fn sign(&self, user: UserId, session: &str, now_secs: i64) -> Result<String> {
        let claims = Claims {
            sub: user.to_string(),
            sid: session.to_owned(),
            exp: now_secs + SESSION_SECS,
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(e.into()))
    }

    fn open(&self, cookie: &str) -> Option<(UserId, String)> {
        let data = jsonwebtoken::decode::<Claims>(cookie, &self.decoding, &self.validation).ok()?;
        let user = data.claims.sub.parse().ok()?;
        Some((user, data.claims.sid))
    }
}

/// The signed-in account of a page, if any.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub session: String,
    pub name: String,
}

impl Viewer {
    pub fn is_organizer(&self) -> bool {
        matches!(self.principal.role, Role::Organizer | Role::Admin)
    }
}

/// The viewer of `jar`'s session cookie: the signature, the expiry, the session (not
/// signed out) and the account (still there) are all checked.
pub async fn viewer(state: &AppState, jar: &CookieJar) -> Option<Viewer> {
    let cookie = jar.get(SESSION_COOKIE)?;
    let (user, session) = state.web.keys.open(cookie.value())?;
    let record = state.store.session(&session).await.ok()?;
    if record.user_id != user || record.revoked_at.is_some() {
        return None;
    }
    let account = state.store.user(user).await.ok()?;
    let mfa = state.mfa.is_enabled(user).await.unwrap_or(false);
    Some(Viewer {
        principal: Principal {
            user,
            role: account.role,
            key: None,
            mfa,
        },
        session,
        name: account.display_name,
    })
}

/// `jar` with a session cookie for the session an access token was issued in.
pub fn signed_in(
    state: &AppState,
    jar: CookieJar,
    access_token: &str,
    secure: bool,
) -> Result<CookieJar> {
    let (principal, session) = state.accounts.authenticate_in(access_token)?;
    let session =
        session.ok_or_else(|| Error::Internal(anyhow::anyhow!("a login without a session")))?;
    // Wall-clock time, as the signature check reads it.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let value = state.web.keys.sign(principal.user, &session, now)?;
    Ok(jar.add(cookie(
        SESSION_COOKIE,
        value,
        SameSite::Lax,
        secure,
        SESSION_SECS,
    )))
}

/// `jar` without the session cookie.
pub fn signed_out(jar: CookieJar) -> CookieJar {
    jar.remove(
        Cookie::build(SESSION_COOKIE)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax),
    )
}

fn cookie(
    name: &'static str,
    value: String,
    same_site: SameSite,
    secure: bool,
    max_age: i64,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age))
        .build()
}

/// The CSRF token of `jar`, and the jar with a new one when it had none.
pub fn csrf_token(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(c) = jar.get(CSRF_COOKIE).filter(|c| c.value().len() == 64) {
        let token = c.value().to_owned();
        return (jar, token);
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let jar = jar.add(cookie(
        CSRF_COOKIE,
        token.clone(),
        SameSite::Strict,
        secure,
        SESSION_SECS,
    ));
    (jar, token)
}

/// Whether a form's `csrf` field matches its cookie.
pub fn csrf_ok(jar: &CookieJar, field: Option<&str>) -> bool {
    match (jar.get(CSRF_COOKIE), field) {
        (Some(c), Some(f)) if !f.is_empty() => c.value().as_bytes().ct_eq(f.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_opens_with_its_key_only_and_not_after_it_expires() {
        let keys = SessionKeys::new(b"secret one");
        let user = UserId::new();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signed = keys.sign(user, "s1", now).unwrap();
        assert_eq!(keys.open(&signed), Some((user, "s1".to_owned())));
        assert_eq!(SessionKeys::new(b"secret two").open(&signed), None);
        let old = keys.sign(user, "s1", now - SESSION_SECS - 5).unwrap();
        assert_eq!(keys.open(&old), None);
        let mut tampered = signed.clone();
        tampered.insert(10, 'x');
        assert_eq!(keys.open(&tampered), None);
    }

    #[test]
    fn csrf_needs_the_same_value_in_cookie_and_form() {
        let (jar, token) = csrf_token(CookieJar::new(), false);
        assert_eq!(token.len(), 64);
        assert!(csrf_ok(&jar, Some(&token)));
        assert!(!csrf_ok(&jar, Some("0".repeat(64).as_str())));
        assert!(!csrf_ok(&jar, None));
        assert!(!csrf_ok(&CookieJar::new(), Some(&token)));
        let (again, same) = csrf_token(jar, false);
        assert_eq!(same, token, "an existing token is kept");
        assert!(csrf_ok(&again, Some(&token)));
    }
}
