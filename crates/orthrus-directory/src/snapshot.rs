//! The directory snapshot: what `orthrus directory sync` writes and `orthrus analyze
//! --directory` reads. One JSON document; every domain carries its own sync cursor so a later
//! sync asks only for what changed.

use std::path::Path;

use orthrus_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::DirectoryError;

pub const FORMAT: &str = "orthrus-directory-snapshot";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub version: u32,
    pub domains: Vec<Domain>,
}

/// One domain naming context and everything synced from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    /// `lab.test`
    pub dns_name: String,
    /// `LAB`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netbios_name: Option<String>,
    /// `DC=lab,DC=test`
    pub dn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The forest root domain's DN, to group domains into forests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forest_root: Option<String>,
    /// The server the last sync read from and its `highestCommittedUSN` then: the cursor.
    pub synced_from: String,
    pub highest_usn: u64,
    /// Wall-clock time of the last sync, as the server reported it (`currentTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<Timestamp>,
    /// When the domain was last read whole (a full sync): incremental syncs carry it, and a
    /// sync past the reconciliation period reads everything again. A snapshot written before
    /// it was kept has none, and its next sync is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_synced_at: Option<Timestamp>,
    /// Group Policy objects linked to the domain root (its `gPLink`), by GUID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gp_links: Vec<String>,
    pub objects: Vec<DirectoryObject>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusts: Vec<Trust>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<Site>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Subnet>,
    /// What the sync left out (values and objects beyond the bounds), by reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncations: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    User,
    Computer,
    Group,
    /// Managed and group managed service accounts.
    ServiceAccount,
    OrganizationalUnit,
}

/// A user, computer, group, service account or OU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectoryObject {
    pub kind: Option<ObjectKind>,
    pub dn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sam_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_account_control: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_principal_names: Vec<String>,
    /// `msDS-SupportedEncryptionTypes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supported_encryption_types: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pwd_last_set: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_logon_timestamp: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub admin_count: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_group_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sid_history: Vec<String>,
    /// Groups only: the members' DNs (all ranges of a large group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_host_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_version: Option<String>,
    /// OUs: the Group Policy objects linked to it (its `gPLink`), by GUID (`{…}`, upper case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gp_links: Vec<String>,
    /// `msDS-AllowedToDelegateTo`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_to_delegate_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_changed: Option<Timestamp>,
    pub usn_changed: u64,
}

impl DirectoryObject {
    pub fn uac(&self) -> u32 {
        self.user_account_control.unwrap_or(0)
    }

    pub fn is_domain_controller(&self) -> bool {
        self.kind == Some(ObjectKind::Computer)
            && (self.uac() & (crate::ad::uac::SERVER_TRUST_ACCOUNT | crate::ad::uac::PARTIAL_SECRETS_ACCOUNT)
                != 0
                || matches!(self.primary_group_id, Some(516 | 521)))
    }

    pub fn does_not_require_preauth(&self) -> bool {
        self.uac() & crate::ad::uac::DONT_REQUIRE_PREAUTH != 0
    }

    /// The best name for people: sAMAccountName, else the RDN.
    pub fn name(&self) -> &str {
        self.sam_account_name.as_deref().unwrap_or_else(|| crate::ad::rdn_value(&self.dn))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trust {
    /// The trusted domain's DNS name (`trustPartner`).
    pub partner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// 1 inbound, 2 outbound, 3 both.
    pub direction: u32,
    /// 1 down-level, 2 up-level (AD), 3 MIT, 4 DCE.
    pub trust_type: u32,
    pub attributes: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub name: String,
    pub dn: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// `10.99.0.0/24`
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

impl Snapshot {
    pub fn new(domains: Vec<Domain>) -> Self {
        Self { format: FORMAT.into(), version: VERSION, domains }
    }

    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read(path).map_err(|e| DirectoryError::Io(path.display().to_string(), e))?;
        Self::from_json(&text).map_err(|why| DirectoryError::Snapshot(path.display().to_string(), why))
    }

    /// A snapshot from its JSON, its format and version checked; the error says why not.
    pub fn from_json(json: &[u8]) -> Result<Self, String> {
        let snapshot: Snapshot = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        Self::checked(snapshot)
    }

    /// The snapshot when its format and version are this build's.
    pub fn checked(snapshot: Snapshot) -> Result<Self, String> {
        if snapshot.format != FORMAT || snapshot.version != VERSION {
            return Err(format!(
                "not an Orthrus directory snapshot version {VERSION} (format {:?}, version {})",
                snapshot.format, snapshot.version
            ));
        }
        Ok(snapshot)
    }

    /// Writes to a temporary file beside `path` and renames it over, so a reader never sees
    /// half a snapshot.
    pub fn save(&self, path: &Path) -> Result<(), DirectoryError> {
        let io = |e| DirectoryError::Io(path.display().to_string(), e);
        let text = serde_json::to_vec(self)
            .map_err(|e| DirectoryError::Snapshot(path.display().to_string(), e.to_string()))?;
        let mut temp = path.as_os_str().to_owned();
        temp.push(".partial");
        std::fs::write(&temp, text).map_err(io)?;
        std::fs::rename(&temp, path).map_err(io)
    }

    pub fn domain(&self, dn: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.dn.eq_ignore_ascii_case(dn))
    }

    /// Puts in a freshly synced domain, replacing the one with the same DN.
    pub fn upsert(&mut self, domain: Domain) {
        match self.domains.iter_mut().find(|d| d.dn.eq_ignore_ascii_case(&domain.dn)) {
            Some(slot) => *slot = domain,
            None => self.domains.push(domain),
        }
    }
}

/// What an incremental sync changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSummary {
    pub added: Vec<String>,
    pub modified: Vec<String>,
    pub deleted: Vec<String>,
}

impl Domain {
    /// Applies objects changed since the cursor (matched by GUID, else DN) and removes the
    /// deleted ones (by GUID).
    pub fn apply_changes(
        &mut self,
        changed: Vec<DirectoryObject>,
        deleted_guids: &[String],
    ) -> ChangeSummary {
        let mut summary = ChangeSummary::default();
        // Objects renamed or moved: (old DN, new DN).
        let mut renamed: Vec<(String, String)> = Vec::new();
        for object in changed {
            let slot = self.objects.iter_mut().find(|o| match (&o.guid, &object.guid) {
                (Some(a), Some(b)) => a == b,
                _ => o.dn.eq_ignore_ascii_case(&object.dn),
            });
            match slot {
                Some(slot) => {
                    if *slot != object {
                        summary.modified.push(object.dn.clone());
                        if !slot.dn.eq_ignore_ascii_case(&object.dn) {
                            renamed.push((slot.dn.clone(), object.dn.clone()));
                        }
                        *slot = object;
                    }
                }
                None => {
                    summary.added.push(object.dn.clone());
                    self.objects.push(object);
                }
            }
        }
        self.objects.retain(|o| {
            let gone = o.guid.as_ref().is_some_and(|g| deleted_guids.contains(g));
            if gone {
                summary.deleted.push(o.dn.clone());
            }
            !gone
        });
        // A member deleted or renamed changes its groups' member lists without the DC touching
        // the groups (Samba and AD keep links by object, and bump no group's uSNChanged), so an
        // incremental sync never reads those groups again: follow the change here, or a new
        // account of the same name would inherit the old one's groups.
        if !summary.deleted.is_empty() || !renamed.is_empty() {
            let deleted: std::collections::HashSet<String> =
                summary.deleted.iter().map(|dn| dn.to_ascii_lowercase()).collect();
            let renamed: std::collections::HashMap<String, String> =
                renamed.into_iter().map(|(old, new)| (old.to_ascii_lowercase(), new)).collect();
            for group in &mut self.objects {
                group.members.retain(|m| !deleted.contains(&m.to_ascii_lowercase()));
                for member in &mut group.members {
                    if let Some(new) = renamed.get(&member.to_ascii_lowercase()) {
                        member.clone_from(new);
                    }
                }
            }
        }
        summary
    }
}
