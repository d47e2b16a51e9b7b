//! ORT-KRB-005 — Golden ticket for a nonexistent account.
//!
//! - Attack: with the krbtgt key (from DCSync or a DC backup) an attacker forges TGTs offline
//!   for any name; tools default to names that need not exist (mimikatz, impacket ticketer,
//!   Rubeus `golden`). The forged TGT is then presented in TGS-REQs — there is no AS exchange.
//! - ATT&CK: T1558.001 (Golden Ticket). MDI: Suspected Golden Ticket usage (nonexistent
//!   account) (2027).
//! - Data: TGS-REQs and the KDC's answer (wire, or 4769): the client name is in the TGS-REP
//!   (`cname`) or in the KRB-ERROR; the directory snapshot for the account list.
//! - Logic: a TGT presented for a client the KDC itself does not know —
//!   KDC_ERR_C_PRINCIPAL_UNKNOWN or KDC_ERR_TGT_REVOKED answering a TGS-REQ (the KDC never
//!   issued a TGT to that name; Samba, and Windows since the 2021 PAC hardening, check) —
//!   or a service ticket issued to a client of a realm the directory snapshot covers that
//!   resolves to no account in it (older Windows KDCs honour such tickets for 20 minutes).
//!   S4U requests (PA-FOR-USER, PA-S4U-X509-USER) name another user and do not count. One
//!   alert per source and name, quiet gap `window_secs` (config `[golden_ticket_nonexistent]`).
//! - Thresholds: `window_secs = 3600`.
//! - Benign: an account deleted while its TGT (10 hours) was still in use; with a snapshot,
//!   accounts created after the snapshot was synced (sync again, or exclude the account).
//! - Evidence: each TGS-REQ (request and answer frames), the name presented, the service asked
//!   for, the KDC's answer.

use orthrus_model::{Activity, AlertTargets, KdcOutcome, KerberosErrorCode, PaDataType, Severity};

use orthrus_directory::Directory;

use super::tgs_exchange;
use crate::EventRuleConfig;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-KRB-005",
    title: "Suspected Golden Ticket usage (nonexistent account)",
    mdi: "Suspected Golden Ticket usage (nonexistent account) (2027)",
    external_id: 2027,
    cef_app: "Kerberos",
    tactic: "TA0006",
    techniques: &["T1558.001"],
    data_sources: &["Kerberos TGS-REQ + TGS-REP/KRB-ERROR", "event 4769", "directory snapshot"],
    base_severity: Severity::High,
    escalates_for_sensitive: false,
    config_section: "golden_ticket_nonexistent",
    meaning: "A Kerberos ticket was used that names an account the directory does not have. A forged ticket (a golden ticket made with the krbtgt key) can name anyone, including accounts that never existed.",
    impact: "Whoever forged it holds the krbtgt key and can act as any account in the domain until the key is changed twice.",
    actions: &[
        "Confirm the account is truly absent (not deleted moments ago, not from a trusted domain).",
        "Isolate the source computer.",
        "Reset the krbtgt account's password twice, with replication time between the resets, so every forged ticket stops working.",
        "Find how the krbtgt key was stolen: look for DCSync, NTDS.dit copies or DC compromise earlier in this incident.",
    ],
};

impl Detection for GoldenTicketNonexistent {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        GoldenTicketNonexistent { episodes: Incidents::new(settings.window_secs), config: settings.clone() }
    }
}

pub struct GoldenTicketNonexistent {
    episodes: Incidents<String>,
    config: EventRuleConfig,
}

/// Whether the snapshot covers `realm` and has no account `name` in it.
fn unknown_to_directory(directory: &Directory, name: &str, realm: &str) -> bool {
    let covers = directory.snapshot().domains.iter().any(|d| d.dns_name.eq_ignore_ascii_case(realm));
    covers && directory.find(&format!("{name}@{realm}")).is_none()
}

impl Detector for GoldenTicketNonexistent {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let Some(exchange) = tgs_exchange(activity) else { return };
        let s4u = exchange.request.as_ref().is_some_and(|r| {
            r.padata.iter().any(|p| matches!(*p, PaDataType::FOR_USER | PaDataType::S4U_X509_USER))
        });
        if s4u {
            return;
        }
        let (Some(name), Some(realm)) = (exchange.client(), exchange.client_realm()) else { return };
        let service = exchange.service().unwrap_or("a service");
        let why = match &exchange.outcome {
            KdcOutcome::Failed(failure)
                if failure.code == KerberosErrorCode::C_PRINCIPAL_UNKNOWN
                    || failure.code == KerberosErrorCode::TGT_REVOKED =>
            {
                format!("the KDC answered {}", failure.code)
            }
            KdcOutcome::Issued(_) if unknown_to_directory(context.directory(), name, realm) => {
                "the directory snapshot has no such account".to_owned()
            }
            _ => return,
        };
        if self.config.excludes(name) {
            return;
        }
        let source = activity.source_id();
        let key = format!("{source} {}", name.to_lowercase());
        let services = self.episodes.named(&key, activity.time, [service.to_owned()]);
        let summary = format!("TGS-REQ with a TGT for {name}@{realm} for {service}: {why}");
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source} presented a Kerberos TGT for {name}@{realm}, an account that does not exist ({why}), asking for {}: a forged (golden) ticket.",
                services.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            source: Finding::source_of(activity, Some(name.to_owned())),
            targets: AlertTargets { services, ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::extra::{extra_alerts, lab_alerts_with, with_lab_directory};
    use crate::testing::lab::BENIGN;

    #[test]
    fn fires_when_the_kdc_does_not_know_the_forged_name() {
        let alerts = extra_alerts("golden_ticket_ghost", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let alert = &alerts[0];
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.source.account.as_deref(), Some("ghost_admin"));
        assert!(alert.description.contains("KDC_ERR_C_PRINCIPAL_UNKNOWN"), "{}", alert.description);
        assert_eq!(
            alert.targets.services.iter().collect::<Vec<_>>(),
            ["cifs/dc1.lab.test", "ldap/dc1.lab.test"]
        );
    }

    #[test]
    fn fires_when_an_issued_ticket_names_no_account_of_the_directory() {
        // The lab's golden ticket for Administrator, with a snapshot that lacks Administrator
        // (as if the forger had picked a name that does not exist, and the KDC honoured it).
        let config = with_lab_directory(DetectionConfig::default());
        assert!(lab_alerts_with(&["golden_ticket"], META.id, &config).is_empty(), "Administrator exists");
        let mut snapshot = config.directory.snapshot().clone();
        snapshot.domains[0].objects.retain(|o| o.sam_account_name.as_deref() != Some("Administrator"));
        let without = DetectionConfig {
            directory: std::sync::Arc::new(orthrus_directory::Directory::new(snapshot, &Default::default())),
            ..DetectionConfig::default()
        };
        let alerts = lab_alerts_with(&["golden_ticket"], META.id, &without);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert!(alerts[0].description.contains("the directory snapshot has no such account"));
    }

    #[test]
    fn silent_on_real_accounts_stolen_tickets_and_benign_traffic() {
        let config = with_lab_directory(DetectionConfig::default());
        let captures =
            ["pass_the_ticket", "overpass_the_hash", "kerberoast", "krb_user_enum", "golden_ticket"];
        assert!(lab_alerts_with(&captures, META.id, &config).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &config).is_empty());
        assert!(lab_alerts_with(BENIGN, META.id, &DetectionConfig::default()).is_empty());
    }
}
