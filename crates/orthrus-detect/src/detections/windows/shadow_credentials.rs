//! ORT-EVT-006 — Shadow credentials: a key credential written on another account.
//!
//! - Attack: whoever can write an account's `msDS-KeyCredentialLink` (GenericWrite on it, an
//!   NTLM relay to LDAP) adds a key pair of their own (pyWhisker, Whisker, certipy `shadow`),
//!   then authenticates as that account with PKINIT and recovers its NT hash — without
//!   resetting its password.
//! - ATT&CK: T1556 (Modify Authentication Process); MDI lists T1003. MDI: Suspected account
//!   takeover using shadow credentials (2431).
//! - Data: EVT: 5136 on `msDS-KeyCredentialLink` (value added), with the writer. NET: LDAP
//!   modify requests in the clear touching `msDS-KeyCredentialLink`, with the bound account
//!   and the DC's answer.
//! - Logic: a key credential written on an object by an account that is not that object (a
//!   computer writing its own key for Windows Hello or device registration is not alerted),
//!   nor Entra Connect's sync account (`MSOL_…`). High; Medium when the DC refused the write.
//!   One alert per target object and quiet gap `window_secs` (config `[shadow_credentials]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: Windows Hello for Business provisioning by an admin tool, Entra device
//!   write-back under another account name — exclude it (`exclude_actors`).
//! - Gaps: the follow-up PKINIT for the target is not correlated yet; sealed LDAP writes
//!   (Windows tools seal) show only in the DC's log.
//! - Evidence: writer, target object, the DC's answer.

use orthrus_model::{Activity, ActivityKind, AlertTargets, DirectoryOperation, Severity};

use crate::EventRuleConfig;
use crate::names::{actor_name, bare_account, host_key, is_entra_sync_account, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-006",
    title: "Suspected account takeover using shadow credentials",
    mdi: "Suspected account takeover using shadow credentials (2431)",
    external_id: 2431,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0006",
    techniques: &["T1556", "T1003"],
    data_sources: &["event 5136 on msDS-KeyCredentialLink", "LDAP modify of msDS-KeyCredentialLink (clear)"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "shadow_credentials",
    meaning: "An account's msDS-KeyCredentialLink was written (shadow credentials): a key the attacker holds can now get tickets as that account through PKINIT.",
    impact: "The attacker logs on as the account without its password, even after a password reset.",
    actions: &[
        "Check whether Windows Hello for Business or a device enrollment explains the change.",
        "If not, remove the added key credential and investigate the actor.",
        "Review logons of the account after the change.",
    ],
};

const ATTRIBUTE: &str = "msDS-KeyCredentialLink";

/// Whether `writer` (a name, `DOMAIN\name`, UPN or SID) is the object `dn` itself, or the
/// directory synchronisation account.
fn self_or_sync(writer: &str, dn: &str) -> bool {
    let bare = bare_account(writer);
    is_entra_sync_account(writer)
        || (bare.ends_with('$') && host_key(bare) == host_key(orthrus_directory::ad::rdn_value(dn)))
}

impl Detection for ShadowCredentials {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        ShadowCredentials { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct ShadowCredentials {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl Detector for ShadowCredentials {
    fn observe(&mut self, activity: &Activity, _context: &Context, alerts: &mut Alerts<'_>) {
        let (writer, dn, refused) = match &activity.kind {
            ActivityKind::DirectoryObjectChanged(change)
                if change.operation == DirectoryOperation::Modified
                    && change.value_added != Some(false)
                    && change.attribute.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(ATTRIBUTE)) =>
            {
                (actor_name(&change.subject), change.dn.as_str(), None)
            }
            ActivityKind::LdapChanged(change)
                if change.operation == "modify"
                    && change.attributes.iter().any(|a| a.eq_ignore_ascii_case(ATTRIBUTE)) =>
            {
                let refused = change.result.as_ref().filter(|r| !r.is_success()).map(|r| r.name.clone());
                (
                    change.user.clone().unwrap_or_else(|| "an unknown account".into()),
                    change.dn.as_str(),
                    refused,
                )
            }
            _ => return,
        };
        if self_or_sync(&writer, dn) || self.config.excludes(&writer) {
            return;
        }
        let target = orthrus_directory::ad::rdn_value(dn).to_owned();
        let key = dn.to_lowercase();
        let summary = format!(
            "{writer} added a key credential (msDS-KeyCredentialLink) to {dn}{}",
            refused.as_ref().map(|r| format!(": refused ({r})")).unwrap_or_default()
        );
        let finding = Finding {
            severity: if refused.is_some() { Severity::Medium } else { META.base_severity },
            description: format!(
                "{writer} {} a key credential to {target}'s msDS-KeyCredentialLink on {}: with the matching key \
                 anyone can authenticate as {target} (shadow credentials){}.",
                if refused.is_some() { "tried to add" } else { "added" },
                logged_on(activity),
                refused.as_ref().map(|r| format!("; the DC refused it ({r})")).unwrap_or_default(),
            ),
            source: Finding::source_of(activity, Some(writer)),
            targets: AlertTargets { accounts: [target].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::extra_alerts;
    use crate::testing::logs::assert_silent_on_logs_and_captures;

    #[test]
    fn fires_on_a_key_credential_written_on_another_user() {
        // da_admin adds a key credential to alice over LDAP; Samba (2012 R2 schema) refuses.
        let alerts = extra_alerts("shadow_credentials", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.source.ip, Some("10.99.0.21".parse().unwrap()));
        assert_eq!(alert.source.account.as_deref(), Some("da_admin@lab.test"));
        assert!(alert.targets.accounts.contains("Alice User"), "{:?}", alert.targets);
        assert_eq!(alert.severity, Severity::Medium, "refused by the DC");
        assert!(alert.description.contains("the DC refused it (noSuchAttribute)"), "{}", alert.description);
    }

    #[test]
    fn a_computers_own_key_and_the_sync_account_are_not_alerted() {
        assert!(self_or_sync("LAB\\WS01$", "CN=WS01,CN=Computers,DC=corp,DC=example"));
        assert!(self_or_sync("MSOL_0123456789ab", "CN=Alice User,CN=Users,DC=corp,DC=example"));
        assert!(!self_or_sync("LAB\\WS02$", "CN=WS01,CN=Computers,DC=corp,DC=example"));
        assert!(!self_or_sync("da_admin@lab.test", "CN=Alice User,CN=Users,DC=lab,DC=test"));
        let mut config = DetectionConfig::default();
        config.settings_mut::<ShadowCredentials>().exclude_actors = vec!["da_admin@lab.test".into()];
        assert!(extra_alerts("shadow_credentials", META.id, &config).is_empty());
        // Other LDAP modifies: a group member added, a DNS host name corrected.
        for capture in ["benign_computer_rename", "dnshostname_spoofing"] {
            assert!(extra_alerts(capture, META.id, &DetectionConfig::default()).is_empty(), "{capture}");
        }
        assert_silent_on_logs_and_captures(META.id);
    }
}
