//! Organizations (tenants) and what each member role may do. The permission table is
//! here, in one pure function, so every service asks the same question the same way.
use crate::validate::TextRule;
use serde::{Deserialize, Serialize};

/// Organization name: one line, 1 to 100 characters.
pub const ORGANIZATION_NAME: TextRule = TextRule::line(100);
/// API key name: one line, 1 to 80 characters.
pub const API_KEY_NAME: TextRule = TextRule::line(80);
/// Longest lifetime of an API key, in days.
pub const API_KEY_MAX_DAYS: i64 = 3650;
/// Hours an invitation can be accepted.
pub const INVITATION_TTL_HOURS: i64 = 72;

/// A member's role in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// Everything, including members, API keys and the audit log.
    Owner,
    /// The catalog, sales, check-in, API keys and webhooks; not the team or the
    /// organization.
    Manager,
    /// Check-in and sales views only.
    BoxOffice,
}

impl MemberRole {
    pub const ALL: [MemberRole; 3] = [
        MemberRole::Owner,
        MemberRole::Manager,
        MemberRole::BoxOffice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Manager => "manager",
            MemberRole::BoxOffice => "box_office",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| "must be one of owner, manager, box_office".into())
    }

    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            MemberRole::Owner => true,
            MemberRole::Manager => {
                !matches!(p, P::ManageOrganization | P::ManageMembers | P::ViewAudit)
            }
            MemberRole::BoxOffice => matches!(p, P::ViewOrganization | P::ViewSales | P::CheckIn),
        }
    }
}

/// Something a caller may do within one organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// See the organization and its members.
    ViewOrganization,
    /// Rename the organization.
    ManageOrganization,
    /// Invite, change roles, remove members.
    ManageMembers,
    /// Create, change and delete events, shows and zones.
    ManageCatalog,
    /// Sales figures and the bookings of the organization's shows.
    ViewSales,
    /// Scan tickets at the door.
    CheckIn,
    /// Create and revoke API keys.
    ManageApiKeys,
    /// Read the organization's audit log.
    ViewAudit,
    /// Set refund policies; approve or reject refunds outside them.
    ManageRefunds,
    /// Register, change and remove webhook endpoints; read their delivery log.
    ManageWebhooks,
}

/// What an API key may do: read is the sales and check-in views; write adds the
/// catalog and webhooks (an integration registers its own endpoint). Keys never
/// manage members, keys or the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    Read,
    Write,
}

impl KeyScope {
    pub const ALL: [KeyScope; 2] = [KeyScope::Read, KeyScope::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| "must be read or write".into())
    }

    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            KeyScope::Read => matches!(p, P::ViewOrganization | P::ViewSales | P::CheckIn),
            KeyScope::Write => matches!(
                p,
                P::ViewOrganization
                    | P::ViewSales
                    | P::CheckIn
                    | P::ManageCatalog
                    | P::ManageWebhooks
            ),
        }
    }
}

/// Whether removing or demoting one member of a team leaves it without an owner.
pub fn leaves_no_owner(owners: usize, target_is_owner: bool, target_stays_owner: bool) -> bool {
    target_is_owner && !target_stays_owner && owners <= 1
}

pub fn parse_organization_name(raw: &str) -> Result<String, String> {
    ORGANIZATION_NAME.parse(raw)
}

pub fn parse_api_key_name(raw: &str) -> Result<String, String> {
    API_KEY_NAME.parse(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_round_trip() {
        for r in MemberRole::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(MemberRole::parse(r.as_str()).unwrap(), r);
        }
        for s in KeyScope::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(KeyScope::parse(s.as_str()).unwrap(), s);
        }
        assert!(MemberRole::parse("Owner").is_err());
        assert!(KeyScope::parse("admin").is_err());
    }

    #[test]
    fn the_permission_table() {
        use Permission as P;
        let all = [
            P::ViewOrganization,
            P::ManageOrganization,
            P::ManageMembers,
            P::ManageCatalog,
            P::ViewSales,
            P::CheckIn,
            P::ManageApiKeys,
            P::ViewAudit,
            P::ManageRefunds,
            P::ManageWebhooks,
        ];
        let granted = |f: &dyn Fn(P) -> bool| all.iter().filter(|p| f(**p)).count();
        assert_eq!(granted(&|p| MemberRole::Owner.allows(p)), 10);
        assert!(MemberRole::Manager.allows(P::ManageRefunds));
        assert!(!MemberRole::BoxOffice.allows(P::ManageRefunds));
        assert!(MemberRole::Manager.allows(P::ManageWebhooks));
        assert!(!MemberRole::BoxOffice.allows(P::ManageWebhooks));
        assert!(!KeyScope::Read.allows(P::ManageWebhooks));
        assert!(KeyScope::Write.allows(P::ManageWebhooks));
        assert!(!MemberRole::Manager.allows(P::ManageMembers));
        assert!(!MemberRole::Manager.allows(P::ViewAudit));
        assert!(!MemberRole::Manager.allows(P::ManageOrganization));
        assert!(MemberRole::Manager.allows(P::ManageCatalog));
        assert!(MemberRole::Manager.allows(P::ManageApiKeys));
        assert!(MemberRole::BoxOffice.allows(P::CheckIn));
        assert!(MemberRole::BoxOffice.allows(P::ViewSales));
        assert!(!MemberRole::BoxOffice.allows(P::ManageCatalog));
        assert!(!KeyScope::Read.allows(P::ManageCatalog));
        assert!(KeyScope::Write.allows(P::ManageCatalog));
        for scope in KeyScope::ALL {
            for p in [
                P::ManageMembers,
                P::ManageApiKeys,
                P::ViewAudit,
                P::ManageOrganization,
                P::ManageRefunds,
            ] {
                assert!(!scope.allows(p), "{scope:?} {p:?}");
            }
        }
    }

    #[test]
    fn the_last_owner_stays() {
        assert!(leaves_no_owner(1, true, false));
        assert!(!leaves_no_owner(2, true, false));
        assert!(!leaves_no_owner(1, true, true));
        assert!(!leaves_no_owner(1, false, false));
    }
}
