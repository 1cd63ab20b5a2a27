//! The platform policy on the second factor: which callers must have one before they
//! may use the API beyond enrolling. Decided from the principal alone, so it costs no
//! store read per request.
use crate::accounts::Principal;
use crate::error::{Error, Result};
use boxoffice_domain::account::Role;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    /// Platform roles that must have MFA (`mfa_required_roles`).
    pub required_roles: Vec<Role>,
}

impl MfaPolicy {
    /// From the configured role names; an unknown name is a configuration error.
    pub fn from_role_names(names: &[String]) -> anyhow::Result<Self> {
        let required_roles = names
            .iter()
            .map(|n| Role::parse(n).map_err(|e| anyhow::anyhow!("mfa_required_roles: {n:?} {e}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { required_roles })
    }

    /// Whether the policy asks this caller for a second factor. Organization
    /// membership (once principals carry it) joins the roles here.
    pub fn requires_mfa(&self, who: &Principal) -> bool {
        self.required_roles.contains(&who.role)
    }

    /// Refuses a caller the policy asks for MFA whose session has none.
    pub fn check(&self, who: &Principal) -> Result<()> {
        if self.requires_mfa(who) && !who.mfa {
            return Err(Error::MfaRequired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::UserId;

    fn principal(role: Role, mfa: bool) -> Principal {
        Principal {
            mfa,
            ..Principal::user(UserId::new(), role)
        }
    }

    #[test]
    fn only_listed_roles_without_mfa_are_refused() {
        let policy = MfaPolicy::from_role_names(&["admin".into()]).unwrap();
        assert!(matches!(
            policy.check(&principal(Role::Admin, false)),
            Err(Error::MfaRequired)
        ));
        assert!(policy.check(&principal(Role::Admin, true)).is_ok());
        assert!(policy.check(&principal(Role::Buyer, false)).is_ok());
        assert!(MfaPolicy::default()
            .check(&principal(Role::Admin, false))
            .is_ok());
        assert!(MfaPolicy::from_role_names(&["root".into()]).is_err());
    }
}
