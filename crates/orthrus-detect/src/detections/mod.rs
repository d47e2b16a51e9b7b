//! The registry: every detection Orthrus implements, one line each.
//! `orthrus detections list` and docs/DETECTIONS.md are generated from it.

pub mod credential;
pub mod kerberos;
pub mod ldap;
pub mod ntlm;
pub mod recon;
pub mod windows;

use crate::{DetectionConfig, DetectionMeta, Detector};

pub struct DetectionEntry {
    pub meta: &'static DetectionMeta,
    pub build: fn(&DetectionConfig) -> Box<dyn Detector>,
}

pub const DETECTIONS: &[DetectionEntry] = &[
    DetectionEntry { meta: &kerberos::kerberoasting::META, build: kerberos::kerberoasting::build },
    DetectionEntry { meta: &kerberos::asrep_roasting::META, build: kerberos::asrep_roasting::build },
    DetectionEntry {
        meta: &kerberos::account_enumeration::META,
        build: kerberos::account_enumeration::build,
    },
    DetectionEntry { meta: &kerberos::brute_force::META, build: kerberos::brute_force::build },
    DetectionEntry { meta: &kerberos::honeytoken::META, build: kerberos::honeytoken::build },
    DetectionEntry {
        meta: &kerberos::golden_ticket_nonexistent::META,
        build: kerberos::golden_ticket_nonexistent::build,
    },
    DetectionEntry { meta: &kerberos::forged_pac::META, build: kerberos::forged_pac::build },
    DetectionEntry {
        meta: &kerberos::golden_ticket_lifetime::META,
        build: kerberos::golden_ticket_lifetime::build,
    },
    DetectionEntry { meta: &kerberos::golden_ticket_kvno::META, build: kerberos::golden_ticket_kvno::build },
    DetectionEntry {
        meta: &kerberos::golden_ticket_downgrade::META,
        build: kerberos::golden_ticket_downgrade::build,
    },
    DetectionEntry { meta: &kerberos::pass_the_ticket::META, build: kerberos::pass_the_ticket::build },
    DetectionEntry {
        meta: &kerberos::unusual_implementation::META,
        build: kerberos::unusual_implementation::build,
    },
    DetectionEntry { meta: &ntlm::account_enumeration::META, build: ntlm::account_enumeration::build },
    DetectionEntry { meta: &ntlm::brute_force::META, build: ntlm::brute_force::build },
    DetectionEntry { meta: &ntlm::tampering::META, build: ntlm::tampering::build },
    DetectionEntry { meta: &ntlm::relay::META, build: ntlm::relay::build },
    DetectionEntry { meta: &ntlm::unusual_implementation::META, build: ntlm::unusual_implementation::build },
    DetectionEntry { meta: &ldap::brute_force::META, build: ldap::brute_force::build },
    DetectionEntry { meta: &windows::dcsync::META, build: windows::dcsync::build },
    DetectionEntry { meta: &windows::sensitive_groups::META, build: windows::sensitive_groups::build },
    DetectionEntry { meta: &windows::service_creation::META, build: windows::service_creation::build },
    DetectionEntry { meta: &windows::remote_execution::META, build: windows::remote_execution::build },
    DetectionEntry { meta: &windows::log_cleared::META, build: windows::log_cleared::build },
    DetectionEntry { meta: &windows::sid_history::META, build: windows::sid_history::build },
    DetectionEntry { meta: &windows::adminsdholder::META, build: windows::adminsdholder::build },
    DetectionEntry { meta: &windows::rbcd::META, build: windows::rbcd::build },
    DetectionEntry { meta: &windows::shadow_credentials::META, build: windows::shadow_credentials::build },
    DetectionEntry { meta: &windows::gpo_tampering::META, build: windows::gpo_tampering::build },
    DetectionEntry {
        meta: &windows::dnshostname_spoofing::META,
        build: windows::dnshostname_spoofing::build,
    },
    DetectionEntry { meta: &windows::dsrm::META, build: windows::dsrm::build },
    DetectionEntry {
        meta: &windows::honeytoken_attributes::META,
        build: windows::honeytoken_attributes::build,
    },
    DetectionEntry { meta: &windows::honeytoken_group::META, build: windows::honeytoken_group::build },
    DetectionEntry {
        meta: &windows::samaccountname_spoofing::META,
        build: windows::samaccountname_spoofing::build,
    },
    DetectionEntry { meta: &windows::dcshadow::META, build: windows::dcshadow::build },
    DetectionEntry {
        meta: &windows::dcshadow_replication::META,
        build: windows::dcshadow_replication::build,
    },
    DetectionEntry { meta: &windows::zerologon::META, build: windows::zerologon::build },
    DetectionEntry { meta: &windows::netsync::META, build: windows::netsync::build },
    DetectionEntry { meta: &windows::print_spooler::META, build: windows::print_spooler::build },
    DetectionEntry { meta: &windows::petitpotam::META, build: windows::petitpotam::build },
    DetectionEntry { meta: &windows::dfs_coerce::META, build: windows::dfs_coerce::build },
    DetectionEntry { meta: &recon::zone_transfer::META, build: recon::zone_transfer::build },
    DetectionEntry { meta: &recon::session_enumeration::META, build: recon::session_enumeration::build },
    DetectionEntry { meta: &credential::dpapi_backup_key::META, build: credential::dpapi_backup_key::build },
    DetectionEntry { meta: &credential::smb_exfiltration::META, build: credential::smb_exfiltration::build },
    DetectionEntry { meta: &credential::adfs_dkm_read::META, build: credential::adfs_dkm_read::build },
    DetectionEntry { meta: &recon::honeytoken_ldap_query::META, build: recon::honeytoken_ldap_query::build },
    DetectionEntry { meta: &recon::honeytoken_samr_query::META, build: recon::honeytoken_samr_query::build },
    DetectionEntry { meta: &recon::samr_membership::META, build: recon::samr_membership::build },
    DetectionEntry { meta: &recon::ldap_recon::META, build: recon::ldap_recon::build },
    DetectionEntry { meta: &recon::ldap_attributes::META, build: recon::ldap_attributes::build },
    DetectionEntry { meta: &recon::cldap_enumeration::META, build: recon::cldap_enumeration::build },
];

/// The catalogue as Markdown: `docs/DETECTIONS.md` is this text, and a test fails when the
/// committed file differs.
/// The registry entry of the detection with this id (`ORT-KRB-003`).
pub fn meta(id: &str) -> Option<&'static DetectionMeta> {
    DETECTIONS.iter().map(|e| e.meta).find(|m| m.id == id)
}

pub fn catalogue_markdown() -> String {
    let config = DetectionConfig::default();
    let mut text = String::from(
        "# Detections\n\nGenerated by `orthrus detections list --format markdown` from the registry; \
         do not edit by hand. Thresholds are the defaults, overridable in the `--config` TOML \
         file under the section named.\n\n\
         | id | name | MDI alert | MITRE ATT&CK | data | severity | thresholds |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for entry in DETECTIONS {
        let m = entry.meta;
        let thresholds: Vec<String> = config
            .thresholds(m.config_section)
            .into_iter()
            .map(|(k, v)| format!("`{}.{k} = {v}`", m.config_section))
            .collect();
        text.push_str(&format!(
            "| {} | {} | {} | {} ({}) | {} | {} | {} |\n",
            m.id,
            m.title,
            m.mdi,
            m.techniques.join(", "),
            m.tactic,
            m.data_sources.join("; "),
            if m.escalates_for_sensitive {
                format!("{} (+1 for a sensitive or honeytoken target)", m.base_severity)
            } else {
                m.base_severity.to_string()
            },
            thresholds.join("<br>")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_catalogue_is_current() {
        let path = orthrus_testkit::testdata().join("../docs/DETECTIONS.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = super::catalogue_markdown();
        if std::env::var_os("ORTHRUS_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        assert_eq!(committed, generated, "docs/DETECTIONS.md is stale: run with ORTHRUS_BLESS=1");
    }

    #[test]
    fn ids_are_unique_and_stable_in_form() {
        let mut ids: Vec<&str> = super::DETECTIONS.iter().map(|d| d.meta.id).collect();
        // ORT-, an area of three or four capitals, a dash, three digits.
        let well_formed = |id: &str| {
            let mut parts = id.split('-');
            parts.next() == Some("ORT")
                && parts
                    .next()
                    .is_some_and(|a| (3..=4).contains(&a.len()) && a.bytes().all(|b| b.is_ascii_uppercase()))
                && parts.next().is_some_and(|n| n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()))
                && parts.next().is_none()
        };
        assert!(ids.iter().all(|id| well_formed(id)), "{ids:?}");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), super::DETECTIONS.len());
    }
}
