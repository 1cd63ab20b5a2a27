//! Personal data of an account holder: fields beyond the login email (the phone
//! number) kept sealed by the vault, so a copy of the database alone reveals nothing.
use crate::clock::DynClock;
use crate::error::{OrNotFound, Result};
use crate::store::DynStore;
use crate::vault::Vault;
use boxoffice_domain::account::parse_phone;
use boxoffice_domain::{UserId, Violations};
use std::sync::Arc;

/// A change of the phone number: absent leaves it, `null` clears it.
pub type PhoneChange = Option<Option<String>>;

pub struct PrivacyService {
    store: DynStore,
    vault: Arc<Vault>,
    clock: DynClock,
}

impl PrivacyService {
    pub fn new(store: DynStore, vault: Arc<Vault>, clock: DynClock) -> Self {
        Self {
            store,
            vault,
            clock,
        }
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
