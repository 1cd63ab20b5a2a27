//! The authorization check of everything an organization owns: an API key acts for its
//! own organization within its scope, an admin for any, an account by its role there.
//! One membership lookup per check, answered by the store's primary key; where
//! membership is known, so is whether members must have a second factor.
use crate::accounts::Principal;
use crate::error::{Error, Result};
use crate::store::OrganizationStore;
use boxoffice_domain::organization::{MemberRole, Permission};
use boxoffice_domain::OrganizationId;
use std::sync::Arc;

pub struct Access {
    store: Arc<dyn OrganizationStore>,
    /// `mfa_required_for_members`: members act in their organizations only from a
    /// session that passed a second factor (API keys are exempt).
    mfa_for_members: bool,
}

impl Access {
    pub fn new(store: Arc<dyn OrganizationStore>) -> Self {
        Self {
            store,
            mfa_for_members: false,
        }
    }

    /// Refuses members without MFA (403 `mfa-required`) when `required`.
    pub fn with_mfa_for_members(mut self, required: bool) -> Self {
        self.mfa_for_members = required;
        self
    }

    /// Succeeds when `who` may do `what` in `org`; 403 otherwise (`mfa-required` for a
    /// member without a second factor when the policy asks members for one).
    pub async fn require(
        &self,
        who: &Principal,
        org: OrganizationId,
        what: Permission,
    ) -> Result<()> {
        if let Some(key) = who.key {
            return if key.organization != org {
                Err(Error::Forbidden(
                    "this API key belongs to another organization",
                ))
            } else if !key.scope.allows(what) {
                Err(Error::Forbidden("this API key's scope does not allow this"))
            } else {
                Ok(())
            };
        }
        if who.is_admin() {
            return Ok(());
        }
        match self.role(who, org).await? {
            Some(_) if self.mfa_for_members && !who.mfa => Err(Error::MfaRequired),
            Some(role) if role.allows(what) => Ok(()),
            Some(_) => Err(Error::Forbidden(
                "your role in this organization does not allow this",
            )),
            None => Err(Error::Forbidden("this belongs to another organization")),
        }
    }

    /// The caller's role in `org`, if an account that is a member.
    pub async fn role(&self, who: &Principal, org: OrganizationId) -> Result<Option<MemberRole>> {
        if who.key.is_some() {
            return Ok(None);
        }
        Ok(self.store.membership(org, who.user).await?)
    }
}
