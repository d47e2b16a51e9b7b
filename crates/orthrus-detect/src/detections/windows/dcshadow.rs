//! ORT-DRS-002 — DCShadow (rogue domain controller registration).
//!
//! - Attack: mimikatz `lsadump::dcshadow` registers a workstation as a DC for a moment — a
//!   `server` (and `nTDSDSA`) object under `CN=Sites,CN=Configuration`, and the replication
//!   SPNs `GC/…` and `E3514235-4B06-11D1-AB04-00C04FC2DCD2/…` on its computer account — then
//!   pushes changes through replication, which leaves no change events.
//! - ATT&CK: T1207 (Rogue Domain Controller). MDI: Suspected DCShadow attack (domain
//!   controller promotion) (2028).
//! - Data: 5137 (object created) for a `server`/`nTDSDSA` object in the Sites container;
//!   4742 or 5136 adding the replication SPNs to a computer account (and Samba's audit of
//!   both); on the wire, an LDAP add in the clear of such an object (told from its DN).
//! - Logic: either, for a computer that is not a known domain controller (configured, or
//!   learned from its KDC events); a server object created by a user account (a DC promotes
//!   itself with its own machine account's rights after the admin's first steps, so new
//!   server objects from real promotions also alert: a rare, reviewable event). One alert per
//!   computer and quiet gap `window_secs` (config `[dcshadow]`).
//! - Benign: a real DC promotion (exclude the promoting account, or list the DC).
//! - Evidence: actor, computer, objects or SPNs added.

use orthrus_model::{AccountRef, Activity, ActivityKind, AlertTargets, DirectoryOperation, Severity};

use orthrus_directory::ad::rdn_value;

use crate::EventRuleConfig;
use crate::names::{actor_name, host_key, logged_on};
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-DRS-002",
    title: "Suspected DCShadow attack (domain controller promotion)",
    mdi: "Suspected DCShadow attack (domain controller promotion) (2028)",
    external_id: 2028,
    cef_app: "Replication Activity",
    tactic: "TA0005",
    techniques: &["T1207"],
    data_sources: &[
        "event 5137 (server object in Sites)",
        "events 4742/5136 (replication SPNs)",
        "LDAP add of a server object in Sites (clear)",
    ],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "dcshadow",
    meaning: "A computer that is not a DC was registered as one (a server object and NTDS settings created), as DCShadow does.",
    impact: "The rogue DC pushes changes into the directory without the change auditing DCs apply.",
    actions: &[
        "Delete the rogue server objects from the Configuration partition.",
        "Isolate the source computer and investigate the actor.",
        "Review recent changes to SID history, ACLs and group memberships.",
    ],
};

const DRS_SPN: &str = "e3514235-4b06-11d1-ab04-00c04fc2dcd2/";

impl Detection for DcShadow {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        DcShadow { incidents: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct DcShadow {
    config: EventRuleConfig,
    incidents: Incidents<String>,
}

/// The server a DN under `CN=Servers,…,CN=Sites,CN=Configuration` stands for, and the kind
/// of object: `CN=WS01,CN=Servers,…` is WS01's `server` object, `CN=NTDS Settings,CN=WS01,…`
/// its `nTDSDSA`.
fn sites_server(dn: &str) -> Option<(String, &'static str)> {
    let lower = dn.to_ascii_lowercase();
    if !lower.contains(",cn=sites,cn=configuration,") {
        return None;
    }
    let rdns: Vec<&str> = dn.split(',').map(str::trim).collect();
    let is = |at: usize, value: &str| rdns.get(at).is_some_and(|r| rdn_value(r).eq_ignore_ascii_case(value));
    if is(1, "Servers") {
        return rdns.first().map(|r| (rdn_value(r).to_owned(), "server"));
    }
    if is(0, "NTDS Settings") && is(2, "Servers") {
        return rdns.get(1).map(|r| (rdn_value(r).to_owned(), "nTDSDSA"));
    }
    None
}

/// Replication SPNs in a list of SPNs (one per line, as 4742 writes them).
fn replication_spns(spns: &str) -> Vec<&str> {
    spns.split_whitespace()
        .filter(|spn| {
            let lower = spn.to_ascii_lowercase();
            lower.starts_with("gc/") || lower.starts_with(DRS_SPN)
        })
        .collect()
}

impl Detector for DcShadow {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let (actor, computer, what) = match &activity.kind {
            ActivityKind::DirectoryObjectChanged(change)
                if change.operation == DirectoryOperation::Created
                    && matches!(change.class.as_deref(), Some("server" | "nTDSDSA"))
                    && change.dn.to_ascii_lowercase().contains(",cn=sites,cn=configuration,") =>
            {
                let server = if change.class.as_deref() == Some("nTDSDSA") {
                    change.dn.split(',').nth(1).map(|rdn| rdn_value(rdn).to_owned()).unwrap_or_default()
                } else {
                    rdn_value(&change.dn).to_owned()
                };
                (
                    change.subject.clone(),
                    server,
                    format!("created {} object {}", change.class.as_deref().unwrap_or(""), change.dn),
                )
            }
            ActivityKind::DirectoryObjectChanged(change)
                if change
                    .attribute
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case("servicePrincipalName"))
                    && change.value_added == Some(true)
                    && change.value.as_deref().is_some_and(|v| !replication_spns(v).is_empty()) =>
            {
                let spn = change.value.clone().unwrap_or_default();
                (change.subject.clone(), rdn_value(&change.dn).to_owned(), format!("added SPN {spn}"))
            }
            ActivityKind::AccountChanged(change) if change.computer => {
                let Some(spns) = change.changes.get("ServicePrincipalNames") else { return };
                let found = replication_spns(spns);
                if found.is_empty() {
                    return;
                }
                (change.subject.clone(), change.target.name.clone(), format!("set SPNs {}", found.join(" ")))
            }
            // The wire: an LDAP add of a server (or its NTDS Settings) under the Sites
            // container, told from its DN (the add's values are not kept).
            ActivityKind::LdapChanged(change) if change.operation == "add" => {
                let Some((computer, kind)) = sites_server(&change.dn) else { return };
                let actor = AccountRef {
                    name: change.user.clone().unwrap_or_else(|| "an unknown account".into()),
                    domain: None,
                    sid: None,
                };
                let outcome = match &change.result {
                    Some(r) if !r.is_success() => format!(" (refused: {})", r.name),
                    _ => String::new(),
                };
                (actor, computer, format!("added {kind} object {} over LDAP{outcome}", change.dn))
            }
            _ => return,
        };
        if context.dcs().contains(&computer) {
            return;
        }
        let actor_name = actor_name(&actor);
        if self.config.excludes_actor(&actor) {
            return;
        }
        let computer = computer.trim_end_matches('$').to_owned();
        let key = host_key(&computer);
        let summary = format!("{actor_name} {what}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{computer}, which is not a known domain controller, was registered as one by {actor_name} \
                 (logged on {}): the signature of DCShadow.",
                logged_on(activity)
            ),
            source: Finding::source_of(activity, Some(actor_name)),
            targets: AlertTargets { computers: [computer].into(), ..AlertTargets::default() },
        };
        let incident = self.incidents.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::logs::{assert_silent, corpus_alerts};

    #[test]
    fn fires_on_corpus_dcshadow() {
        for file in [
            "evtx-to-mitre-attack/TA0005-Defense Evasion/T1207-Rogue domain controller/ID5137-Fake domain controller registration (DCshadow).evtx",
            "evtx-to-mitre-attack/TA0003-Persistence/T1098.xxx-Account manipulation/ID4742-SPN set on computer account (DCshadow).evtx",
            "evtx-attack-samples/Persistence/persistence_security_dcshadow_4742.evtx",
        ] {
            let alerts = corpus_alerts(&[file], META.id, &DetectionConfig::default());
            assert_eq!(alerts.len(), 1, "{file}: {alerts:#?}");
        }
    }

    #[test]
    fn a_listed_domain_controller_is_silent() {
        let config =
            DetectionConfig { domain_controllers: vec!["JUMP01".into()], ..DetectionConfig::default() };
        let file = "evtx-to-mitre-attack/TA0005-Defense Evasion/T1207-Rogue domain controller/ID5137-Fake domain controller registration (DCshadow).evtx";
        assert!(corpus_alerts(&[file], META.id, &config).is_empty());
    }

    #[test]
    fn fires_on_the_labs_registration_from_the_wire_and_from_the_dcs_log() {
        // da_admin adds a server object for WS01 under the site and the replication SPNs to
        // WS01's computer account over clear LDAP, then removes both.
        let wire = crate::testing::extra::extra_alerts(
            "dcshadow_registration",
            META.id,
            &DetectionConfig::default(),
        );
        assert_eq!(wire.len(), 1, "{wire:#?}");
        assert_eq!(wire[0].source.account.as_deref(), Some("da_admin@lab.test"));
        assert!(wire[0].targets.computers.contains("WS01"));
        assert!(
            wire[0].evidence[0].summary.contains("added server object CN=WS01,CN=Servers"),
            "{:#?}",
            wire[0].evidence
        );
        let log = crate::testing::extra::extra_audit_alerts(
            "dcshadow_registration",
            META.id,
            &DetectionConfig::default(),
        );
        assert_eq!(log.len(), 1, "{log:#?}");
        assert_eq!(log[0].count, 3, "the server object and two SPNs: {log:#?}");
        // Samba's change record gives only the writer's SID; the session's authorization in
        // the same log names the account, and the log's own records name the DC.
        assert!(log[0].description.contains("by LAB\\da_admin (logged on DC1)"), "{}", log[0].description);
        assert!(!log[0].description.contains("S-1-5-21-"), "{}", log[0].description);
    }

    #[test]
    fn server_objects_are_told_from_their_dn() {
        let site = "CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=example";
        assert_eq!(sites_server(&format!("CN=WS01,CN=Servers,{site}")), Some(("WS01".into(), "server")));
        assert_eq!(
            sites_server(&format!("CN=NTDS Settings,CN=WS01,CN=Servers,{site}")),
            Some(("WS01".into(), "nTDSDSA"))
        );
        assert_eq!(sites_server(&format!("CN=Servers,{site}")), None);
        assert_eq!(sites_server("CN=WS01,CN=Servers,CN=Computers,DC=corp,DC=example"), None);
    }

    #[test]
    fn silent_on_benign_logs() {
        assert_silent(META.id);
        crate::testing::lab::assert_silent(crate::testing::lab::BENIGN, META.id);
    }
}
