//! ORT-DNS-001 — Network-mapping reconnaissance (DNS zone transfer).
//!
//! - Attack: a zone transfer (AXFR, or IXFR) hands over every name of an AD-integrated zone
//!   — every computer, DC and service record — in one answer (`dig axfr`, `nslookup ls -d`,
//!   `dnsrecon -t axfr`, adidnsdump's fallback).
//! - ATT&CK: T1590.002 (DNS), T1018. MDI: Network-mapping reconnaissance (DNS) (2007).
//! - Data: DNS queries to the DC (UDP/TCP 53) whose type is AXFR or IXFR, with the answer's
//!   result code.
//! - Logic: any zone transfer asked by an address that is not a known DC's (AD's DNS servers
//!   are its DCs; the catalogue's learned-rate part for SRV/ANY sweeps needs a baseline and
//!   is not built). One alert per source and quiet gap `window_secs`, listing the zones and
//!   whether the server handed them over.
//! - Thresholds: `window_secs = 3600` (config `[zone_transfer]`).
//! - Benign: secondary DNS servers and IPAM tools that transfer zones: list them in
//!   `exclude_sources` (or DCs in `domain_controllers`).
//! - Evidence: each transfer request and answer frame, zone, result.

use orthrus_model::{Activity, ActivityKind, AlertTargets, Severity};

use crate::EventRuleConfig;
use crate::window::Incidents;
use crate::{Alerts, Context, Detection, DetectionMeta, Detector, Finding};

pub static META: DetectionMeta = DetectionMeta {
    id: "ORT-DNS-001",
    title: "Network-mapping reconnaissance (DNS)",
    mdi: "Network-mapping reconnaissance (DNS) (2007)",
    external_id: 2007,
    cef_app: "Dns",
    tactic: "TA0007",
    techniques: &["T1590.002", "T1018"],
    data_sources: &["DNS AXFR/IXFR queries"],
    base_severity: Severity::Medium,
    escalates_for_sensitive: false,
    config_section: "zone_transfer",
    meaning: "A computer asked a DNS server for a zone transfer (AXFR or IXFR): the whole list of the domain's names and addresses.",
    impact: "The attacker gets a map of every server and its address.",
    actions: &[
        "Check whether the source is a secondary DNS server; if not, identify it.",
        "Allow zone transfers only to the listed secondary servers.",
    ],
};

impl Detection for ZoneTransfer {
    type Settings = EventRuleConfig;
    const META: &'static DetectionMeta = &META;

    fn new(settings: &Self::Settings) -> Self {
        ZoneTransfer { episodes: Incidents::new(settings.window_secs) }
    }
}

pub struct ZoneTransfer {
    episodes: Incidents<String>,
}

impl Detector for ZoneTransfer {
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>) {
        let ActivityKind::DnsQueried(query) = &activity.kind else { return };
        let (Some(source), true) = (activity.source_ip(), query.zone_transfer) else { return };
        if context.dcs().contains_address(source) {
            return;
        }
        let handed_over = query.rcode.as_deref() == Some("NOERROR") && query.answer_count > 0;
        let result = if handed_over {
            format!("transferred ({} records)", query.answer_count)
        } else {
            format!("refused ({})", query.rcode.as_deref().unwrap_or("no answer"))
        };
        let key = source.to_string();
        let zones = self.episodes.named(&key, activity.time, [query.name.clone()]);
        let server = activity.destination.map(|d| d.ip.to_string()).unwrap_or_default();
        let summary = format!("{} of {}: {result}", query.qtype, query.name);
        let finding = Finding {
            severity: META.base_severity,
            description: format!(
                "{source}, which is not a DNS server of the domain, asked {server} for zone transfers of {}; \
                 the last was {result}.",
                zones.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            source: Finding::source_of(activity, None),
            targets: AlertTargets { computers: [server].into(), ..AlertTargets::default() },
        };
        let incident = self.episodes.record(&key, activity, summary);
        alerts.raise(activity, &key, incident, finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DetectionConfig;
    use crate::testing::lab::{BENIGN, alerts_for, assert_silent};

    #[test]
    fn fires_on_lab_zone_transfer() {
        let alerts = alerts_for("dns_zone_transfer", META.id, &DetectionConfig::default());
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].source.ip, Some("10.99.0.21".parse().unwrap()));
        assert!(alerts[0].description.contains("lab.test"), "{}", alerts[0].description);
    }

    #[test]
    fn a_secondary_dns_server_is_excluded_and_benign_traffic_is_silent() {
        let mut config = DetectionConfig::default();
        config.settings_mut::<ZoneTransfer>().exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        let mut engine = crate::Engine::new(&config, "test");
        for activity in orthrus_testkit::lab_activities("dns_zone_transfer") {
            engine.observe(&activity);
        }
        assert!(engine.finish().iter().all(|a| a.detection != META.id));
        assert_silent(BENIGN, META.id);
    }
}
