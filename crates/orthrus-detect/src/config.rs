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

use serde::Deserialize;

use crate::detections::kerberos::{
    account_enumeration::AccountEnumerationConfig, asrep_roasting::AsRepRoastingConfig,
    brute_force::BruteForceConfig, kerberoasting::KerberoastingConfig,
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
}

impl DetectionConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Source addresses a detection ignores.
    pub fn exclusions(&self, section: &str) -> Vec<IpAddr> {
        match section {
            "kerberoasting" => self.kerberoasting.exclude_sources.clone(),
            "asrep_roasting" => self.asrep_roasting.exclude_sources.clone(),
            "account_enumeration" => self.account_enumeration.exclude_sources.clone(),
            "brute_force" => self.brute_force.exclude_sources.clone(),
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
            _ => Vec::new(),
        }
    }
}
