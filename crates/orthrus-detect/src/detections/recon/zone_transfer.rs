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

use crate::detections::windows::{Finding, KnownDcs, NamedEpisodes};
use crate::{AlertUpdate, DetectionConfig, DetectionMeta, Detector};

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
};

pub fn build(config: &DetectionConfig) -> Box<dyn Detector> {
    Box::new(ZoneTransfer {
        dcs: KnownDcs::from_config(config),
        episodes: NamedEpisodes::new(config.zone_transfer.window_secs),
    })
}

pub struct ZoneTransfer {
    dcs: KnownDcs,
    episodes: NamedEpisodes,
}

impl Detector for ZoneTransfer {
    fn meta(&self) -> &'static DetectionMeta {
        &META
    }

    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>) {
        self.dcs.learn(activity);
        let ActivityKind::DnsQueried(query) = &activity.kind else { return };
        let (Some(source), true) = (activity.source_ip(), query.zone_transfer) else { return };
        if self.dcs.contains_address(source) {
            return;
        }
        let handed_over = query.rcode.as_deref() == Some("NOERROR") && query.answer_count > 0;
        let result = if handed_over {
            format!("transferred ({} records)", query.answer_count)
        } else {
            format!("refused ({})", query.rcode.as_deref().unwrap_or("no answer"))
        };
        let key = source.to_string();
        let zones = self.episodes.add(&key, activity.time, [query.name.clone()]);
        let server = activity.destination.map(|d| d.ip.to_string()).unwrap_or_default();
        let finding = Finding {
            key,
            summary: format!("{} of {}: {result}", query.qtype, query.name),
            description: format!(
                "{source}, which is not a DNS server of the domain, asked {server} for zone transfers of {}; \
                 the last was {result}.",
                zones.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            severity: META.base_severity,
            actor: None,
            targets: AlertTargets { computers: [server].into(), ..AlertTargets::default() },
        };
        self.episodes.raise(&META, activity, finding, updates);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::kerberos::testing::{BENIGN, alerts_for, assert_silent};

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
        config.zone_transfer.exclude_sources = vec!["10.99.0.21".parse().unwrap()];
        let mut engine = crate::Engine::new(&config, "test");
        for activity in orthrus_testkit::lab_activities("dns_zone_transfer") {
            engine.observe(&activity);
        }
        assert!(engine.finish().iter().all(|a| a.detection != META.id));
        assert_silent(BENIGN, META.id);
    }
}
