//! ORT-EVT-007 — dNSHostName spoofing (Certifried, CVE-2022-26923).
//!
//! - Attack: a computer account's `dNSHostName` decides the name AD CS puts in a machine
//!   certificate. An attacker who creates a computer (machine account quota) or can write
//!   one clears its SPNs and sets its `dNSHostName` to a DC's, requests a machine
//!   certificate — issued in the DC's name — and authenticates with it as the DC (PKINIT),
//!   then DCSyncs.
//! - ATT&CK: T1068, T1134.001. MDI: Suspicious modification of a dNSHostName attribute
//!   (CVE-2022-26923) (2421).
//! - Data: EVT: 5136 on `dNSHostName` (and Samba's audit of the same write), 4742 with a new
//!   DNS host name; the directory snapshot (computers' DNS names) and the known DCs.
//! - Logic: a computer object given a `dNSHostName` that another computer has — a known DC
//!   (configured, in the directory, learned from KDC events), or any computer of the
//!   directory with a different DN. High. One alert per computer object and quiet gap
//!   `window_secs` (config `[dnshostname_spoofing]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: a computer rebuilt under a new object while the old one still exists (delete
//!   the stale object; exclude the admin with `exclude_actors`).
//! - Gaps: without a directory snapshot only DC names are compared; the value's collision is
//!   judged against the snapshot's time.
//! - Evidence: writer, computer, new value, colliding computer.

use orthrus_model::{Activity, ActivityKind, AlertTargets, DirectoryOperation, Severity};

use crate::EventRuleConfig;
use crate::names::{actor_name, host_key, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-EVT-007",
    title: "Suspicious modification of a dNSHostName attribute (CVE-2022-26923)",
    mdi: "Suspicious modification of a dNSHostName attribute (CVE-2022-26923) (2421)",
    external_id: 2421,
    cef_app: "DirectoryChangeEvent",
    tactic: "TA0004",
    techniques: &["T1068", "T1134.001"],
    data_sources: &["event 5136 on dNSHostName, 4742 DNS host name", "directory snapshot, known DCs"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "dnshostname_spoofing",
    meaning: "A computer's dNSHostName was set to a domain controller's name (CVE-2022-26923, Certifried): a certificate requested for the computer then authenticates as the DC.",
    impact: "Domain takeover through AD CS.",
    actions: &[
        "Check the DCs and CAs have the May 2022 updates with strong certificate mapping enforced.",
        "Restore the computer's dNSHostName and revoke certificates issued to it.",
        "Set ms-DS-MachineAccountQuota to 0 and investigate the actor.",
    ],
};

impl Detection for DnsHostNameSpoofing {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        DnsHostNameSpoofing { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct DnsHostNameSpoofing {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

impl DnsHostNameSpoofing {
    /// The computer that already has `value` as its name, other than `object` (a DN or an
    /// account name): "the domain controller DC1", "WS07".
    fn collision(&self, context: &Context, object: &str, value: &str) -> Option<String> {
        let own = host_key(orthrus_directory::ad::rdn_value(object));
        let host = host_key(value);
        if host.is_empty() || host == own {
            return None;
        }
        if let Some(found) = context.directory().find_computer(value)
            && !found.object.dn.eq_ignore_ascii_case(object)
            && host_key(found.object.name()) != own
        {
            let dc =
                context.directory().domain_controllers().iter().any(|dc| dc.object.dn == found.object.dn);
            return Some(format!(
                "{}{}",
                if dc { "the domain controller " } else { "" },
                found.object.name()
            ));
        }
        context.dcs().contains(&host).then(|| format!("the domain controller {}", host.to_uppercase()))
    }
}

impl Detector for DnsHostNameSpoofing {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let (subject, object, value) = match &activity.kind {
            ActivityKind::DirectoryObjectChanged(change)
                if change.operation == DirectoryOperation::Modified
                    && change.value_added != Some(false)
                    && change.attribute.as_deref().is_some_and(|a| a.eq_ignore_ascii_case("dNSHostName")) =>
            {
                let Some(value) = change.value.as_deref() else { return };
                (&change.subject, change.dn.as_str(), value)
            }
            ActivityKind::AccountChanged(change) if change.computer => {
                let Some(value) = change.changes.get("DnsHostName") else { return };
                (&change.subject, change.target.name.as_str(), value.as_str())
            }
            _ => return,
        };
        let Some(colliding) = self.collision(context, object, value) else { return };
        let actor = actor_name(subject);
        if self.config.excludes_actor(subject) {
            return;
        }
        let computer = orthrus_directory::ad::rdn_value(object).to_owned();
        let key = computer.to_lowercase();
        let summary = format!("{actor} set dNSHostName of {object} to {value}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{actor} set the DNS host name of the computer {computer} to {value}, the name of {colliding}, on {}: \
                 a certificate issued to {computer} would name {colliding} (Certifried, CVE-2022-26923).",
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor)),
            targets: AlertTargets { computers: [computer, colliding].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_audit_alerts, with_lab_directory};
    use crate::testing::logs::assert_silent;

    #[test]
    fn fires_when_a_new_computer_takes_the_dcs_dns_name() {
        // da_admin adds EVILPC$ over SAM-R and sets its dNSHostName to dc1.lab.test; the DC's
        // audit log records the write.
        let config = with_lab_directory(DetectionConfig::default());
        let alerts = extra_audit_alerts("dnshostname_spoofing", META.id, &config);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High);
        assert!(alert.targets.computers.contains("EVILPC"), "{:?}", alert.targets);
        assert!(
            alert.description.contains("set the DNS host name of the computer EVILPC to dc1.lab.test, the name of the domain controller DC1"),
            "{}",
            alert.description
        );
        // Without a directory, the configured DC name is enough.
        let by_name =
            DetectionConfig { domain_controllers: vec!["dc1".into()], ..DetectionConfig::default() };
        assert_eq!(extra_audit_alerts("dnshostname_spoofing", META.id, &by_name).len(), 1);
    }

    #[test]
    fn silent_for_a_computers_own_name_an_unknown_dc_or_an_excluded_admin() {
        // An admin setting WS02's dNSHostName to ws02.lab.test: its own name.
        let config = with_lab_directory(DetectionConfig::default());
        assert!(extra_audit_alerts("benign_computer_rename", META.id, &config).is_empty());
        // Nothing says dc1 is anyone's name.
        assert!(extra_audit_alerts("dnshostname_spoofing", META.id, &DetectionConfig::default()).is_empty());
        let mut config = with_lab_directory(DetectionConfig::default());
        config.settings_mut::<DnsHostNameSpoofing>().exclude_actors =
            vec!["S-1-5-21-1588090211-3971310799-1232096303-1109".into()];
        assert!(extra_audit_alerts("dnshostname_spoofing", META.id, &config).is_empty());
        assert_silent(META.id);
    }
}
