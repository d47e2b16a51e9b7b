//! ORT-LDAP-002 — Honeytoken queried via LDAP.
//!
//! - Attack: an attacker who found an attractive account (`adm_legacy`, `old_sqladmin`) looks
//!   it up before using it — its groups, its description, when its password was last set.
//!   Nobody else ever asks about a decoy.
//! - ATT&CK: T1087.002 (Domain Account discovery). MDI: Honeytoken was queried via LDAP (2429).
//! - Data: LDAP SearchRequests in the clear (simple binds or unsealed SASL): the base DN, and
//!   the filter's equality assertions on the attributes that name one account
//!   (`sAMAccountName`, `userPrincipalName`, `cn`, `name`, `displayName`,
//!   `distinguishedName`, `objectSid`, `anr`). Sealed LDAP (Kerberos/NTLM with signing and
//!   sealing, as current Windows tools use) cannot be read.
//! - Logic: a search whose base is a honeytoken's DN, or whose filter names a honeytoken, from
//!   any source. Only *specific* queries count: a full-directory dump that happens to include
//!   the decoy (every backup and inventory tool does it) has no equality naming it and is
//!   left to the reconnaissance detections. One alert per source and quiet gap `window_secs`
//!   (config `[honeytoken_ldap_query]`).
//! - Thresholds: `window_secs = 3600`; no honeytokens named, no alert.
//! - Benign: the owner of the decoy checking it; exclude that source or account.
//! - Gaps: the returned entries' names are not kept per search, so a small result set that
//!   contains the decoy without naming it in the filter is not matched.
//! - Evidence: each search (request and result frames), bound account, filter, honeytoken.

use orthrus_model::{Activity, ActivityKind, LdapAssertion, Severity};

use crate::EventRuleConfig;
use crate::detections::recon::{DecoyQuery, NAMING_ATTRIBUTES, raise_decoy_query};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-LDAP-002",
    title: "Honeytoken was queried via LDAP",
    mdi: "Honeytoken was queried via LDAP (2429)",
    external_id: 2429,
    cef_app: "LdapSearch",
    tactic: "TA0007",
    techniques: &["T1087.002"],
    data_sources: &["LDAP SearchRequest (clear)", "directory snapshot or honeytoken tags"],
    base_severity: Severity::Low,
    escalates_for_sensitive: false,
    config_section: "honeytoken_ldap_query",
    meaning: "A directory query asked about a honeytoken account. Nothing legitimate should look for it.",
    impact: "Someone is mapping the domain, often with BloodHound or similar collectors, from the source computer.",
    actions: &[
        "Treat the source as compromised and identify the user and process behind the query.",
        "Review the incident's other alerts for what the attacker did with the map.",
    ],
};

impl Detection for HoneytokenLdapQuery {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        HoneytokenLdapQuery { episodes: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct HoneytokenLdapQuery {
    episodes: Incidents<String>,
    config: EventRuleConfig,
}

/// The values of the filter's equality assertions on naming attributes, unescaped
/// (`(&(objectClass=user)(sAMAccountName=adm\5flegacy))` → `adm_legacy`). Substring,
/// presence, ordering, approximate and extensible matches are not equalities.
pub(crate) fn named_values(assertions: &[LdapAssertion]) -> Vec<String> {
    assertions
        .iter()
        .filter(|a| {
            a.is_equality_form()
                && !a.value.is_empty()
                && !a.value.contains('*')
                && NAMING_ATTRIBUTES.contains(&a.attribute.to_ascii_lowercase().as_str())
        })
        .map(LdapAssertion::unescaped)
        .collect()
}

impl Detector for HoneytokenLdapQuery {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        if context.honeytokens().is_empty() {
            return;
        }
        let ActivityKind::LdapSearched(search) = &activity.kind else { return };
        let mut named: Vec<String> = named_values(&search.assertions);
        named.push(search.base.clone());
        let mut decoys: Vec<String> = named.iter().filter_map(|n| context.honeytokens().named(n)).collect();
        decoys.sort_unstable();
        decoys.dedup();
        if decoys.is_empty() {
            return;
        }
        let summary = |who: &str| {
            format!(
                "{who} searched {} for {} ({}): {} entries",
                search.base,
                decoys.join(", "),
                search.filter,
                search.entries
            )
        };
        let query = DecoyQuery { actor: search.user.as_deref(), decoys: decoys.clone(), over: "LDAP" };
        raise_decoy_query(&mut self.episodes, &self.config, activity, query, summary, alerts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_alerts, lab_alerts_with};
    use crate::testing::lab::BENIGN;

    /// The naming values of a filter given as text (as a search recorded before assertions
    /// were kept reads).
    fn named_values(filter: &str) -> Vec<String> {
        super::named_values(&LdapAssertion::from_text(filter))
    }

    fn config() -> DetectionConfig {
        let mut config = DetectionConfig::default();
        config.entities.honeytokens = vec!["LAB\\adm_legacy".into(), "old_sqladmin".into()];
        config
    }

    #[test]
    fn filters_name_accounts_only_by_equality() {
        assert_eq!(named_values("(&(objectClass=user)(sAMAccountName=adm\\5flegacy))"), ["adm_legacy"]);
        assert_eq!(
            named_values("(|(cn=Bob User)(userPrincipalName=bob@lab.test))"),
            ["Bob User", "bob@lab.test"]
        );
        assert!(named_values("(sAMAccountName=adm*)").is_empty());
        assert!(named_values("(objectClass=*)").is_empty());
        assert!(
            named_values("(memberOf:1.2.840.113556.1.4.1941:=CN=Domain Admins,CN=Users,DC=lab,DC=test)")
                .is_empty()
        );
        assert!(named_values("(sAMAccountName>=a)").is_empty());
    }

    #[test]
    fn fires_on_specific_queries_for_the_decoy() {
        let alerts = extra_alerts("honeytoken_ldap_query", META.id, &config());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.count, 3, "by sAMAccountName, by UPN and a base read of its DN");
        assert_eq!(alert.source.account.as_deref(), Some("bob@lab.test"));
        assert_eq!(alert.targets.accounts.iter().collect::<Vec<_>>(), ["adm_legacy"]);
        assert_eq!(alert.severity, Severity::Low);
        // without a tag the decoy is an ordinary account
        assert!(extra_alerts("honeytoken_ldap_query", META.id, &DetectionConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_dumps_that_include_the_decoy_and_on_benign_lookups() {
        // ldapdomaindump and bulk queries return adm_legacy among every account
        assert!(lab_alerts_with(&["ldap_recon"], META.id, &config()).is_empty());
        assert!(extra_alerts("benign_directory_lookups", META.id, &config()).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &config()).is_empty());
    }
}
