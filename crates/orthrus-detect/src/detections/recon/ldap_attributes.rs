//! ORT-LDAP-004 — Active Directory attributes reconnaissance (LDAP).
//!
//! - Attack: before escalating, an attacker sweeps the directory for the attributes that
//!   hand over privileges or secrets: LAPS passwords, gMSA passwords, constrained and
//!   resource-based delegation, shadow credentials (`msDS-KeyCredentialLink`), stored
//!   `userPassword`s, SID history, every object's security descriptor (BloodHound,
//!   PowerView, ldapdomaindump, LAPSDumper, pyWhisker's listing).
//! - ATT&CK: T1087.002, T1069.002, T1202. MDI: Active Directory attributes reconnaissance
//!   (LDAP) (2210).
//! - Data: NET: LDAP SearchRequests in the clear (simple binds or unsealed SASL): scope,
//!   filter, requested attributes, entries returned.
//! - Logic: a search over the directory (scope one-level or subtree) that asks for — or
//!   filters on — one of the attributes [`sensitive_attribute`] names, by a host that is not a
//!   known DC. A security descriptor counts only when the search returned at least
//!   `min_descriptor_entries` entries outside the Group Policy container (Windows' Group
//!   Policy client reads every GPO's descriptor at each refresh). Medium. One alert per
//!   source and quiet gap `window_secs` (config `[ldap_attributes]`), listing what was
//!   swept.
//! - Thresholds: `window_secs = 3600`, `min_descriptor_entries = 50`.
//! - Benign: sources that are supposed to read these attributes (Entra Connect and identity
//!   sync read key credentials and descriptors, LAPS management consoles, audit tools) —
//!   exclude their hosts (`exclude_sources`) or accounts (`exclude_actors`). Base-scope reads
//!   of one object (an admin opening an account's properties) never count.
//! - Gaps: sealed LDAP (Windows tools sign and seal by default) cannot be read; LDAPS is
//!   opaque.
//! - Evidence: each search (request and result frames), bound account, base, filter, the
//!   attributes, entries returned.

use std::collections::BTreeSet;
use std::net::IpAddr;

use orthrus_model::{Activity, ActivityKind, AlertTargets, LdapSearch, Severity};
use serde::Deserialize;

use crate::names::bare_account;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding, Settings};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-LDAP-004",
    title: "Active Directory attributes reconnaissance (LDAP)",
    mdi: "Active Directory attributes reconnaissance (LDAP) (2210)",
    external_id: 2210,
    cef_app: "LdapSearch",
    tactic: "TA0007",
    techniques: &["T1087.002", "T1069.002", "T1202"],
    data_sources: &["LDAP SearchRequest (clear): scope, filter, requested attributes, entries"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "ldap_attributes",
    meaning: "A computer read directory attributes that expose secrets or privileges: LAPS and gMSA passwords, delegation settings, key credentials, SID history, security descriptors.",
    impact: "Those attributes reveal passwords or the cheapest path to escalate.",
    actions: &[
        "Identify the user and process on the source; an unexplained reader is compromised.",
        "Check who may read LAPS and gMSA passwords and tighten it.",
        "If passwords were read, rotate them (LAPS: reset the local administrator passwords of the computers read).",
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapAttributesConfig {
    pub window_secs: u64,
    /// Entries a directory-wide search for security descriptors must return to count.
    pub min_descriptor_entries: u32,
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for LdapAttributesConfig {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            min_descriptor_entries: 50,
            exclude_actors: Vec::new(),
            exclude_sources: Vec::new(),
        }
    }
}

impl Settings for LdapAttributesConfig {
    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }

    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![
            ("window_secs", self.window_secs.to_string()),
            ("min_descriptor_entries", self.min_descriptor_entries.to_string()),
        ]
    }
}

const SECURITY_DESCRIPTOR: &str = "security descriptors";

/// What an attribute reveals, when it is one attackers sweep for (names compared
/// case-insensitively, as LDAP does).
pub fn sensitive_attribute(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "ms-mcs-admpwd"
        | "mslaps-password"
        | "mslaps-encryptedpassword"
        | "mslaps-encryptedpasswordhistory"
        | "mslaps-encrypteddsrmpassword" => "LAPS passwords",
        "msds-managedpassword" | "msds-groupmsamembership" => "gMSA passwords",
        "msds-allowedtodelegateto" => "constrained delegation",
        "msds-allowedtoactonbehalfofotheridentity" => "resource-based delegation",
        "msds-keycredentiallink" => "key credentials",
        "userpassword" | "unixuserpassword" | "unicodepwd" | "orclcommonattribute" | "os400-password" => {
            "stored passwords"
        }
        "sidhistory" => "SID history",
        "ntsecuritydescriptor" => SECURITY_DESCRIPTOR,
        _ => return None,
    })
}

impl Detection for LdapAttributes {
    type Settings = LdapAttributesConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        LdapAttributes { config: settings.clone(), episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct LdapAttributes {
    config: LdapAttributesConfig,
    episodes: Incidents<String>,
}

impl LdapAttributes {
    /// What this search sweeps for, by what the attributes reveal.
    fn swept(&self, search: &LdapSearch) -> BTreeSet<&'static str> {
        if search.scope == "base" {
            return BTreeSet::new();
        }
        let in_gpo_container = search.base.to_ascii_lowercase().contains("cn=policies,cn=system,");
        let descriptors_count = search.entries >= self.config.min_descriptor_entries && !in_gpo_container;
        search
            .attributes
            .iter()
            .map(String::as_str)
            .chain(search.assertions.iter().map(|a| a.attribute.as_str()))
            .filter_map(sensitive_attribute)
            .filter(|what| *what != SECURITY_DESCRIPTOR || descriptors_count)
            .collect()
    }

    fn searched(
        &mut self,
        activity: &Activity,
        search: &LdapSearch,
        context: &Context,
        alerts: &mut Alerts<'_>,
    ) {
        let swept = self.swept(search);
        if swept.is_empty() {
            return;
        }
        let Some(source) = activity.source_ip() else { return };
        let who = search.user.as_deref().unwrap_or("an unknown account");
        let excluded = |a: &str| {
            self.config.exclude_actors.iter().any(|x| bare_account(x).eq_ignore_ascii_case(bare_account(a)))
        };
        if context.dcs().contains_address(source) || excluded(who) {
            return;
        }
        let key = source.to_string();
        let all = self.episodes.named(&key, activity.time, swept.iter().map(|s| (*s).to_owned()));
        let server = activity.destination.map(|d| d.ip.to_string());
        let summary = format!(
            "{who} searched {} ({}) for {}: {} entries",
            search.base,
            search.filter,
            search.attributes.join(", "),
            search.entries
        );
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source} ({who}) swept the directory{} for {} over LDAP.",
                server.as_ref().map(|s| format!(" on {s}")).unwrap_or_default(),
                all.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
            source: Finding::source_of(activity, search.user.clone()),
            targets: AlertTargets { computers: server.into_iter().collect(), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

impl Detector for LdapAttributes {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if let ActivityKind::LdapSearched(search) = &activity.kind {
            self.searched(activity, search, context, alerts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::lab::alerts_for;
    use crate::testing::logs::assert_silent_on_logs_and_captures;
    use orthrus_model::LdapAssertion;

    #[test]
    fn reads_the_assertions_of_a_filter() {
        let pairs = |filter: &str| -> Vec<(String, String, bool)> {
            LdapAssertion::from_text(filter)
                .into_iter()
                .map(|a| (a.attribute.clone(), a.value.clone(), a.is_equality_form()))
                .collect()
        };
        let owned = |list: &[(&str, &str, bool)]| -> Vec<(String, String, bool)> {
            list.iter().map(|(a, v, e)| ((*a).to_owned(), (*v).to_owned(), *e)).collect()
        };
        assert_eq!(
            pairs(
                "(&(objectClass=user)(!(msDS-KeyCredentialLink=*))(userAccountControl:1.2.840.113556.1.4.803:=2))"
            ),
            owned(&[
                ("objectClass", "user", true),
                ("msDS-KeyCredentialLink", "*", true),
                ("userAccountControl", "2", false)
            ])
        );
        assert_eq!(pairs("(|(cn>=a)(sn~=b))"), owned(&[("cn", "a", false), ("sn", "b", false)]));
        assert_eq!(
            pairs("(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=lab,DC=test)"),
            owned(&[("memberOf", "CN=Domain Admins,CN=Users,DC=lab,DC=test", false)])
        );
        assert!(LdapAssertion::from_text("").is_empty());
    }

    #[test]
    fn fires_on_a_sweep_for_laps_delegation_key_credentials_and_descriptors() {
        // bob asks the whole directory for LAPS passwords, delegation, key credentials and
        // every object's security descriptor (ldapsearch, clear-text simple binds).
        let alerts = extra_alerts("ldap_attribute_recon", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("bob@lab.test"));
        assert_eq!(alert.count, 5, "{alert:#?}");
        for what in [
            "LAPS passwords",
            "constrained delegation",
            "resource-based delegation",
            "key credentials",
            "security descriptors",
        ] {
            assert!(alert.description.contains(what), "{what}: {}", alert.description);
        }
    }

    #[test]
    fn silent_on_ordinary_searches_excluded_sources_and_benign_captures() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<LdapAttributes>().exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        assert!(extra_alerts("ldap_attribute_recon", META.id, &config).is_empty());
        let mut config = DetectionConfig::default();
        config.settings_mut::<LdapAttributes>().exclude_actors = vec!["bob@lab.test".into()];
        assert!(extra_alerts("ldap_attribute_recon", META.id, &config).is_empty());
        // An admin's lookups of a colleague and a group: base reads and narrow searches.
        assert!(extra_alerts("benign_directory_lookups", META.id, &DetectionConfig::default()).is_empty());
        // Users, groups, SPNs and admins enumerated (ORT-LDAP-003's ground), no sensitive
        // attribute asked for.
        assert!(alerts_for("ldap_recon", META.id, &DetectionConfig::default()).is_empty());
        assert_silent_on_logs_and_captures(META.id);
    }

    #[test]
    fn silent_on_windows_group_policy_and_powerview_acl_reads() {
        // A Windows member's Group Policy refresh reads every GPO's descriptor (subtree of
        // CN=Policies) and PowerView reads the domain head's: not directory sweeps.
        let path = orthrus_testkit::corpus().join(
            "security-datasets/atomic/windows/defense_evasion/network/empire_powerview_ldap_ntsecuritydescriptor/empire_powerview_ldap_ntsecuritydescriptor_2020-09-21130944.cap",
        );
        let mut engine = crate::Engine::new(&DetectionConfig::default(), "test");
        for activity in orthrus_testkit::activities(&path) {
            engine.observe(&activity);
        }
        assert!(engine.finish().iter().all(|a| a.detection != META.id));
    }
}
