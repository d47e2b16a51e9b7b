//! Detection configuration (TOML). Every threshold has a documented default; a config file
//! overrides only what it names. Unknown keys are errors, so a typo never silently keeps a
//! default.
//!
//! ```toml
//! disabled = ["ORT-KRB-003"]
//!
//! [kerberoasting]
//! window_secs = 600
//! min_services = 5
//! exclude_sources = ["10.0.0.50"]   # an SPN inventory tool
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use orthrus_directory::{Directory, EntityTags};

use crate::exclusions::Exclusion;

use serde::Deserialize;

use crate::detections::kerberos::forged_pac::ForgedPacConfig;
use crate::detections::kerberos::pass_the_ticket::PassTheTicketConfig;
use crate::detections::kerberos::{
    account_enumeration::AccountEnumerationConfig, asrep_roasting::AsRepRoastingConfig,
    brute_force::BruteForceConfig, honeytoken::HoneytokenConfig, kerberoasting::KerberoastingConfig,
};
use crate::detections::ldap::brute_force::LdapBruteForceConfig;
use crate::detections::ntlm::brute_force::NtlmBruteForceConfig;
use crate::detections::recon::samr_membership::SamrReconConfig;
use crate::detections::windows::{
    EventRuleConfig, dcsync::DcsyncConfig, remote_execution::RemoteExecutionConfig,
    sensitive_groups::SensitiveGroupsConfig, service_creation::ServiceCreationConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid detection config: {0}")]
    Toml(#[from] toml::de::Error),
    #[error(
        "invalid detection config: [exclusions.{0}] names no detection (use `global` or an id from `orthrus detections list`)"
    )]
    UnknownDetection(String),
}

/// All detection settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Detection ids to turn off.
    pub disabled: Vec<String>,
    pub kerberoasting: KerberoastingConfig,
    pub asrep_roasting: AsRepRoastingConfig,
    pub account_enumeration: AccountEnumerationConfig,
    pub brute_force: BruteForceConfig,
    /// Domain controllers by name (`DC1` or `dc1.corp.example`), added to those learned from
    /// the KDC events they log.
    pub domain_controllers: Vec<String>,
    pub honeytoken: HoneytokenConfig,
    pub ntlm_brute_force: NtlmBruteForceConfig,
    pub dcsync: DcsyncConfig,
    pub sensitive_groups: SensitiveGroupsConfig,
    pub service_creation: ServiceCreationConfig,
    pub remote_execution: RemoteExecutionConfig,
    pub log_cleared: EventRuleConfig,
    pub sid_history: EventRuleConfig,
    pub adminsdholder: EventRuleConfig,
    pub rbcd: EventRuleConfig,
    pub dnshostname_spoofing: EventRuleConfig,
    pub adfs_dkm_read: EventRuleConfig,
    pub shadow_credentials: EventRuleConfig,
    pub gpo_tampering: EventRuleConfig,
    pub dsrm: EventRuleConfig,
    pub honeytoken_attributes: EventRuleConfig,
    pub honeytoken_group: EventRuleConfig,
    pub samaccountname_spoofing: EventRuleConfig,
    pub dcshadow: EventRuleConfig,
    pub dcshadow_replication: EventRuleConfig,
    pub zerologon: EventRuleConfig,
    pub netsync: EventRuleConfig,
    pub ntlm_tampering: EventRuleConfig,
    pub ntlm_relay: EventRuleConfig,
    pub smb_brute_force: crate::detections::ntlm::unusual_implementation::SmbBruteForceConfig,
    pub smb_exfiltration: crate::detections::credential::smb_exfiltration::SmbExfiltrationConfig,
    pub ldap_attributes: crate::detections::recon::ldap_attributes::LdapAttributesConfig,
    pub ldap_recon: crate::detections::recon::ldap_recon::LdapReconConfig,
    pub cldap_enumeration: crate::detections::recon::cldap_enumeration::CldapEnumerationConfig,
    pub golden_ticket_downgrade: crate::detections::kerberos::issued_tgts::PresentedTgtConfig,
    pub golden_ticket_kvno: crate::detections::kerberos::issued_tgts::PresentedTgtConfig,
    pub golden_ticket_lifetime:
        crate::detections::kerberos::golden_ticket_lifetime::GoldenTicketLifetimeConfig,
    pub print_spooler: EventRuleConfig,
    pub dfs_coerce: EventRuleConfig,
    pub petitpotam: EventRuleConfig,
    pub zone_transfer: EventRuleConfig,
    pub session_enumeration: EventRuleConfig,
    pub dpapi_backup_key: EventRuleConfig,
    pub honeytoken_ldap_query: EventRuleConfig,
    pub golden_ticket_nonexistent: EventRuleConfig,
    pub ldap_brute_force: LdapBruteForceConfig,
    pub honeytoken_samr_query: EventRuleConfig,
    pub forged_pac: ForgedPacConfig,
    pub pass_the_ticket: PassTheTicketConfig,
    pub unusual_kerberos: crate::detections::kerberos::unusual_implementation::UnusualKerberosConfig,
    pub samr_recon: SamrReconConfig,
    /// Manual sensitive tags (accounts, groups, computers; their members inherit them) and
    /// extra honeytokens, in any name form the directory understands.
    pub entities: EntityTags,
    /// Sources never alerted on: `global`, or per detection id (`ORT-DRS-001`).
    pub exclusions: std::collections::BTreeMap<String, Exclusion>,
    /// The directory snapshot (`--directory`), not part of the TOML.
    #[serde(skip)]
    pub directory: Arc<Directory>,
}

impl DetectionConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text)?;
        if let Some(unknown) =
            config.exclusions.keys().find(|k| *k != "global" && crate::detections::meta(k).is_none())
        {
            return Err(ConfigError::UnknownDetection(unknown.clone()));
        }
        Ok(config)
    }

    /// The exclusions of one detection: its own, the global ones and its section's
    /// `exclude_sources`.
    pub fn exclusions_for(&self, id: &str, section: &str) -> crate::exclusions::Applicable {
        let own = ["global", id].into_iter().filter_map(|k| self.exclusions.get(k));
        crate::exclusions::Applicable::new(own, &self.exclusions(section))
    }

    /// Sensitive and honeytoken tags: `[entities]` plus `[honeytoken] accounts`.
    pub fn entity_tags(&self) -> EntityTags {
        let mut tags = self.entities.clone();
        tags.honeytokens.extend(self.honeytoken.accounts.iter().cloned());
        tags
    }

    /// Source addresses a detection ignores.
    pub fn exclusions(&self, section: &str) -> Vec<IpAddr> {
        match section {
            "kerberoasting" => self.kerberoasting.exclude_sources.clone(),
            "asrep_roasting" => self.asrep_roasting.exclude_sources.clone(),
            "account_enumeration" => self.account_enumeration.exclude_sources.clone(),
            "brute_force" => self.brute_force.exclude_sources.clone(),
            "dpapi_backup_key" => self.dpapi_backup_key.exclude_sources.clone(),
            "session_enumeration" => self.session_enumeration.exclude_sources.clone(),
            "zone_transfer" => self.zone_transfer.exclude_sources.clone(),
            "zerologon" => self.zerologon.exclude_sources.clone(),
            "netsync" => self.netsync.exclude_sources.clone(),
            "dnshostname_spoofing" => self.dnshostname_spoofing.exclude_sources.clone(),
            "adfs_dkm_read" => self.adfs_dkm_read.exclude_sources.clone(),
            "shadow_credentials" => self.shadow_credentials.exclude_sources.clone(),
            "gpo_tampering" => self.gpo_tampering.exclude_sources.clone(),
            "ntlm_tampering" => self.ntlm_tampering.exclude_sources.clone(),
            "ntlm_relay" => self.ntlm_relay.exclude_sources.clone(),
            "smb_brute_force" => self.smb_brute_force.exclude_sources.clone(),
            "dfs_coerce" => self.dfs_coerce.exclude_sources.clone(),
            "petitpotam" => self.petitpotam.exclude_sources.clone(),
            "smb_exfiltration" => self.smb_exfiltration.exclude_sources.clone(),
            "ldap_attributes" => self.ldap_attributes.exclude_sources.clone(),
            "ldap_recon" => self.ldap_recon.exclude_sources.clone(),
            "cldap_enumeration" => self.cldap_enumeration.exclude_sources.clone(),
            "golden_ticket_downgrade" => self.golden_ticket_downgrade.exclude_sources.clone(),
            "golden_ticket_kvno" => self.golden_ticket_kvno.exclude_sources.clone(),
            "golden_ticket_lifetime" => self.golden_ticket_lifetime.exclude_sources.clone(),
            "print_spooler" => self.print_spooler.exclude_sources.clone(),
            "dcshadow" => self.dcshadow.exclude_sources.clone(),
            "dcshadow_replication" => self.dcshadow_replication.exclude_sources.clone(),
            "samaccountname_spoofing" => self.samaccountname_spoofing.exclude_sources.clone(),
            "dsrm" => self.dsrm.exclude_sources.clone(),
            "honeytoken_group" => self.honeytoken_group.exclude_sources.clone(),
            "honeytoken_attributes" => self.honeytoken_attributes.exclude_sources.clone(),
            "rbcd" => self.rbcd.exclude_sources.clone(),
            "adminsdholder" => self.adminsdholder.exclude_sources.clone(),
            "sid_history" => self.sid_history.exclude_sources.clone(),
            "log_cleared" => self.log_cleared.exclude_sources.clone(),
            "remote_execution" => self.remote_execution.exclude_sources.clone(),
            "service_creation" => self.service_creation.exclude_sources.clone(),
            "sensitive_groups" => self.sensitive_groups.exclude_sources.clone(),
            "dcsync" => self.dcsync.exclude_sources.clone(),
            "ntlm_brute_force" => self.ntlm_brute_force.exclude_sources.clone(),
            "honeytoken" => self.honeytoken.exclude_sources.clone(),
            "honeytoken_ldap_query" => self.honeytoken_ldap_query.exclude_sources.clone(),
            "golden_ticket_nonexistent" => self.golden_ticket_nonexistent.exclude_sources.clone(),
            "ldap_brute_force" => self.ldap_brute_force.exclude_sources.clone(),
            "honeytoken_samr_query" => self.honeytoken_samr_query.exclude_sources.clone(),
            "forged_pac" => self.forged_pac.exclude_sources.clone(),
            "pass_the_ticket" => self.pass_the_ticket.exclude_sources.clone(),
            "unusual_kerberos" => self.unusual_kerberos.exclude_sources.clone(),
            "samr_recon" => self.samr_recon.exclude_sources.clone(),
            _ => Vec::new(),
        }
    }

    /// The thresholds of a detection, as `name = value` lines for listings and docs.
    pub fn thresholds(&self, section: &str) -> Vec<(&'static str, String)> {
        match section {
            "kerberoasting" => self.kerberoasting.thresholds(),
            "asrep_roasting" => self.asrep_roasting.thresholds(),
            "account_enumeration" => self.account_enumeration.thresholds(),
            "brute_force" => self.brute_force.thresholds(),
            "dpapi_backup_key" => self.dpapi_backup_key.thresholds(),
            "session_enumeration" => self.session_enumeration.thresholds(),
            "zone_transfer" => self.zone_transfer.thresholds(),
            "zerologon" => self.zerologon.thresholds(),
            "netsync" => self.netsync.thresholds(),
            "dnshostname_spoofing" => self.dnshostname_spoofing.thresholds(),
            "adfs_dkm_read" => self.adfs_dkm_read.thresholds(),
            "shadow_credentials" => self.shadow_credentials.thresholds(),
            "gpo_tampering" => self.gpo_tampering.thresholds(),
            "ntlm_tampering" => self.ntlm_tampering.thresholds(),
            "ntlm_relay" => self.ntlm_relay.thresholds(),
            "smb_brute_force" => self.smb_brute_force.thresholds(),
            "dfs_coerce" => self.dfs_coerce.thresholds(),
            "petitpotam" => self.petitpotam.thresholds(),
            "smb_exfiltration" => self.smb_exfiltration.thresholds(),
            "ldap_attributes" => self.ldap_attributes.thresholds(),
            "ldap_recon" => self.ldap_recon.thresholds(),
            "cldap_enumeration" => self.cldap_enumeration.thresholds(),
            "golden_ticket_downgrade" => self.golden_ticket_downgrade.thresholds(),
            "golden_ticket_kvno" => self.golden_ticket_kvno.thresholds(),
            "golden_ticket_lifetime" => self.golden_ticket_lifetime.thresholds(),
            "print_spooler" => self.print_spooler.thresholds(),
            "dcshadow" => self.dcshadow.thresholds(),
            "dcshadow_replication" => self.dcshadow_replication.thresholds(),
            "samaccountname_spoofing" => self.samaccountname_spoofing.thresholds(),
            "dsrm" => self.dsrm.thresholds(),
            "honeytoken_group" => self.honeytoken_group.thresholds(),
            "honeytoken_attributes" => self.honeytoken_attributes.thresholds(),
            "rbcd" => self.rbcd.thresholds(),
            "adminsdholder" => self.adminsdholder.thresholds(),
            "sid_history" => self.sid_history.thresholds(),
            "log_cleared" => self.log_cleared.thresholds(),
            "remote_execution" => self.remote_execution.thresholds(),
            "service_creation" => self.service_creation.thresholds(),
            "sensitive_groups" => self.sensitive_groups.thresholds(),
            "dcsync" => self.dcsync.thresholds(),
            "ntlm_brute_force" => self.ntlm_brute_force.thresholds(),
            "honeytoken" => self.honeytoken.thresholds(),
            "honeytoken_ldap_query" => self.honeytoken_ldap_query.thresholds(),
            "golden_ticket_nonexistent" => self.golden_ticket_nonexistent.thresholds(),
            "ldap_brute_force" => self.ldap_brute_force.thresholds(),
            "honeytoken_samr_query" => self.honeytoken_samr_query.thresholds(),
            "forged_pac" => self.forged_pac.thresholds(),
            "pass_the_ticket" => self.pass_the_ticket.thresholds(),
            "unusual_kerberos" => self.unusual_kerberos.thresholds(),
            "samr_recon" => self.samr_recon.thresholds(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's example configuration is a valid one, and says what it seems to.
    #[test]
    fn the_readme_example_parses() {
        let readme = std::fs::read_to_string(orthrus_testkit::testdata().join("../README.md")).unwrap();
        let section = readme.split("### Configuration").nth(1).unwrap();
        let block = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
        let config = DetectionConfig::from_toml(block).unwrap();
        assert_eq!(config.disabled, ["ORT-KRB-003"]);
        assert_eq!(config.entities.honeytokens, ["CORP\\adm_legacy"]);
        let dcsync = config.exclusions_for("ORT-DRS-001", "dcsync");
        let kerberoast = config.exclusions_for("ORT-KRB-001", "kerberoasting");
        let alert = |account: &str, ip: &str| orthrus_model::Alert {
            source: orthrus_model::AlertSource {
                ip: Some(ip.parse().unwrap()),
                account: Some(account.into()),
                ..Default::default()
            },
            ..test_alert()
        };
        assert!(dcsync.suppresses(&alert("corp.example\\SVC-AADSYNC", "10.1.1.1")));
        assert!(!kerberoast.suppresses(&alert("corp.example\\SVC-AADSYNC", "10.1.1.1")));
        assert!(kerberoast.suppresses(&alert("bob", "10.0.5.77")), "the global subnet");
        assert!(kerberoast.suppresses(&alert("bob", "10.0.0.50")), "the section's exclude_sources");
    }

    fn test_alert() -> orthrus_model::Alert {
        orthrus_model::Alert {
            id: String::new(),
            tenant: orthrus_model::TenantId("t".into()),
            detection: "ORT-KRB-001",
            title: "",
            description: String::new(),
            severity: orthrus_model::Severity::Low,
            status: "open",
            mitre: orthrus_model::Mitre { tactic: "", techniques: Vec::new() },
            first_seen: orthrus_model::Timestamp::from_micros(0),
            last_seen: orthrus_model::Timestamp::from_micros(0),
            count: 1,
            source: orthrus_model::AlertSource::default(),
            targets: orthrus_model::AlertTargets::default(),
            evidence: Vec::new(),
            evidence_omitted: 0,
            sensor: String::new(),
            entities: Vec::new(),
        }
    }
}
