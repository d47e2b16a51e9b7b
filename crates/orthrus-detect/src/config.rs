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

use serde::Deserialize;

use crate::detections::kerberos::{
    account_enumeration::AccountEnumerationConfig, asrep_roasting::AsRepRoastingConfig,
    brute_force::BruteForceConfig, honeytoken::HoneytokenConfig, kerberoasting::KerberoastingConfig,
};
use crate::detections::ldap::brute_force::LdapBruteForceConfig;
use crate::detections::ntlm::brute_force::NtlmBruteForceConfig;
use crate::detections::windows::{
    EventRuleConfig, dcsync::DcsyncConfig, remote_execution::RemoteExecutionConfig,
    sensitive_groups::SensitiveGroupsConfig, service_creation::ServiceCreationConfig,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid detection config: {0}")]
    Toml(#[from] toml::de::Error),
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
    pub dsrm: EventRuleConfig,
    pub samaccountname_spoofing: EventRuleConfig,
    pub dcshadow: EventRuleConfig,
    pub zerologon: EventRuleConfig,
    pub zone_transfer: EventRuleConfig,
    pub session_enumeration: EventRuleConfig,
    pub dpapi_backup_key: EventRuleConfig,
    pub honeytoken_ldap_query: EventRuleConfig,
    pub ldap_brute_force: LdapBruteForceConfig,
    pub honeytoken_samr_query: EventRuleConfig,
    /// Manual sensitive tags (accounts, groups, computers; their members inherit them) and
    /// extra honeytokens, in any name form the directory understands.
    pub entities: EntityTags,
    /// The directory snapshot (`--directory`), not part of the TOML.
    #[serde(skip)]
    pub directory: Arc<Directory>,
}

impl DetectionConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
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
            "dcshadow" => self.dcshadow.exclude_sources.clone(),
            "samaccountname_spoofing" => self.samaccountname_spoofing.exclude_sources.clone(),
            "dsrm" => self.dsrm.exclude_sources.clone(),
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
            "ldap_brute_force" => self.ldap_brute_force.exclude_sources.clone(),
            "honeytoken_samr_query" => self.honeytoken_samr_query.exclude_sources.clone(),
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
            "dcshadow" => self.dcshadow.thresholds(),
            "samaccountname_spoofing" => self.samaccountname_spoofing.thresholds(),
            "dsrm" => self.dsrm.thresholds(),
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
            "ldap_brute_force" => self.ldap_brute_force.thresholds(),
            "honeytoken_samr_query" => self.honeytoken_samr_query.thresholds(),
            _ => Vec::new(),
        }
    }
}
