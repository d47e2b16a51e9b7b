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
//!
//! The sections other than the four global keys belong to detections: each detection's
//! registry entry declares its section and settings type, and this file lists none of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use orthrus_directory::{Directory, EntityTags};
use serde::Deserialize;

use crate::Detection;
use crate::correlation::IncidentSettings;
use crate::detections::DETECTIONS;
use crate::exclusions::Exclusion;
use crate::settings::AnySettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid detection config: {0}")]
    Toml(#[from] toml::de::Error),
    #[error(
        "invalid detection config: [exclusions.{0}] names no detection (use `global` or an id from `orthrus detections list`)"
    )]
    UnknownDetection(String),
    #[error(
        "invalid detection config: [{0}] is no detection's section (the sections are listed by `orthrus detections list`)"
    )]
    UnknownSection(String),
    #[error("invalid detection config: in [{section}]: {error}")]
    Section { section: String, error: toml::de::Error },
}

/// The keys of the config file that belong to no detection.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Global {
    disabled: Vec<String>,
    domain_controllers: Vec<String>,
    entities: EntityTags,
    exclusions: BTreeMap<String, Exclusion>,
    incidents: IncidentSettings,
    /// Everything else: detections' sections.
    #[serde(flatten)]
    sections: toml::Table,
}

/// All detection settings.
#[derive(Debug)]
pub struct DetectionConfig {
    /// Detection ids to turn off.
    pub disabled: Vec<String>,
    /// Domain controllers by name (`DC1` or `dc1.corp.example`) or address, added to those
    /// the directory lists and those learned from what only DCs do.
    pub domain_controllers: Vec<String>,
    /// Manual sensitive tags (accounts, groups, computers; their members inherit them) and
    /// extra honeytokens, in any name form the directory understands.
    pub entities: EntityTags,
    /// Sources never alerted on: `global`, or per detection id (`ORT-DRS-001`).
    pub exclusions: BTreeMap<String, Exclusion>,
    /// How alerts are tied into incidents (`[incidents]`).
    pub incidents: IncidentSettings,
    /// Each detection's settings, by config section.
    pub(crate) sections: BTreeMap<&'static str, Box<dyn AnySettings>>,
    /// The directory snapshot (`--directory`), not part of the TOML.
    pub directory: Arc<Directory>,
}

impl Clone for DetectionConfig {
    fn clone(&self) -> Self {
        Self {
            disabled: self.disabled.clone(),
            domain_controllers: self.domain_controllers.clone(),
            entities: self.entities.clone(),
            exclusions: self.exclusions.clone(),
            incidents: self.incidents.clone(),
            sections: self.sections.iter().map(|(k, v)| (*k, v.clone_box())).collect(),
            directory: self.directory.clone(),
        }
    }
}

impl Default for DetectionConfig {
    fn default() -> Self {
        let mut sections = BTreeMap::new();
        for entry in DETECTIONS {
            sections.entry(entry.meta.config_section).or_insert_with(|| entry.default_settings());
        }
        Self {
            disabled: Vec::new(),
            domain_controllers: Vec::new(),
            entities: EntityTags::default(),
            exclusions: BTreeMap::new(),
            incidents: IncidentSettings::default(),
            sections,
            directory: Arc::default(),
        }
    }
}

impl DetectionConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_table(toml::from_str(text)?)
    }

    /// The config from a TOML table already parsed (a section of a larger file).
    pub fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        let global: Global = toml::Value::Table(table).try_into()?;
        if let Some(unknown) = global
            .sections
            .keys()
            .find(|name| !DETECTIONS.iter().any(|e| e.meta.config_section == name.as_str()))
        {
            return Err(ConfigError::UnknownSection(unknown.clone()));
        }
        if let Some(unknown) =
            global.exclusions.keys().find(|k| *k != "global" && crate::detections::meta(k).is_none())
        {
            return Err(ConfigError::UnknownDetection(unknown.clone()));
        }
        let mut sections = BTreeMap::new();
        for entry in DETECTIONS {
            let section = entry.meta.config_section;
            if sections.contains_key(section) {
                continue;
            }
            let settings = entry
                .parse_settings(global.sections.get(section))
                .map_err(|error| ConfigError::Section { section: section.to_owned(), error })?;
            sections.insert(section, settings);
        }
        Ok(Self {
            disabled: global.disabled,
            domain_controllers: global.domain_controllers,
            entities: global.entities,
            exclusions: global.exclusions,
            incidents: global.incidents,
            sections,
            directory: Arc::default(),
        })
    }

    /// The settings of detection `D` (its section's, or the defaults).
    pub fn settings<D: Detection>(&self) -> D::Settings {
        self.sections
            .get(D::META.config_section)
            .and_then(|s| s.as_any().downcast_ref::<D::Settings>())
            .cloned()
            .unwrap_or_default()
    }

    /// The settings of detection `D`, to change them in place (tests, embedders).
    pub fn settings_mut<D: Detection>(&mut self) -> &mut D::Settings {
        let slot =
            self.sections.entry(D::META.config_section).or_insert_with(|| Box::new(D::Settings::default()));
        if slot.as_any().downcast_ref::<D::Settings>().is_none() {
            *slot = Box::new(D::Settings::default());
        }
        match slot.as_any_mut().downcast_mut::<D::Settings>() {
            Some(settings) => settings,
            None => unreachable!("the slot was just given settings of this type"),
        }
    }

    /// This config with detection `D`'s settings replaced.
    pub fn with<D: Detection>(mut self, settings: D::Settings) -> Self {
        *self.settings_mut::<D>() = settings;
        self
    }

    /// The settings of a config section, whatever their type.
    pub fn section(&self, name: &str) -> Option<&dyn AnySettings> {
        self.sections.get(name).map(|s| &**s)
    }

    /// The exclusions of one detection: its own, the global ones and its section's
    /// `exclude_sources`.
    pub fn exclusions_for(&self, id: &str, section: &str) -> crate::exclusions::Applicable {
        let own = ["global", id].into_iter().filter_map(|k| self.exclusions.get(k));
        let sources = self.section(section).map(|s| s.exclude_sources()).unwrap_or_default();
        crate::exclusions::Applicable::new(own, sources)
    }

    /// Sensitive and honeytoken tags: `[entities]` plus the honeytokens detections' sections
    /// name (`[honeytoken] accounts`).
    pub fn entity_tags(&self) -> EntityTags {
        let mut tags = self.entities.clone();
        for settings in self.sections.values() {
            tags.honeytokens.extend(settings.honeytokens().iter().cloned());
        }
        tags
    }

    /// The thresholds of a config section, as `name = value` pairs for listings and docs.
    pub fn thresholds(&self, section: &str) -> Vec<(&'static str, String)> {
        self.section(section).map(|s| s.thresholds()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::kerberos::kerberoasting::Kerberoasting;

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
            detection: "ORT-KRB-001".into(),
            title: "".into(),
            description: String::new(),
            severity: orthrus_model::Severity::Low,
            status: "open".into(),
            mitre: orthrus_model::Mitre { tactic: "".into(), techniques: Vec::new() },
            first_seen: orthrus_model::Timestamp::from_micros(0),
            last_seen: orthrus_model::Timestamp::from_micros(0),
            count: 1,
            source: orthrus_model::AlertSource::default(),
            targets: orthrus_model::AlertTargets::default(),
            evidence: Vec::new(),
            evidence_omitted: 0,
            sensor: String::new(),
            entities: Vec::new(),
            cef: orthrus_model::AlertMeta::default(),
            incident: None,
        }
    }

    #[test]
    fn a_section_is_read_with_its_detections_settings_type() {
        let config = DetectionConfig::from_toml("[kerberoasting]\nmin_services = 7\n").unwrap();
        assert_eq!(config.settings::<Kerberoasting>().min_services, 7);
        assert_eq!(config.settings::<Kerberoasting>().window_secs, 600, "the rest keeps its defaults");
        assert!(config.thresholds("kerberoasting").contains(&("min_services", "7".to_owned())));
        let defaults = DetectionConfig::default();
        assert_eq!(defaults.settings::<Kerberoasting>().min_services, 5);
    }

    #[test]
    fn a_misspelled_section_or_key_is_an_error_that_names_it() {
        let section = DetectionConfig::from_toml("[kerberoastng]\nmin_services = 7\n").unwrap_err();
        assert!(section.to_string().contains("[kerberoastng] is no detection's section"), "{section}");
        let key = DetectionConfig::from_toml("[kerberoasting]\nmin_service = 7\n").unwrap_err();
        assert!(
            key.to_string().contains("in [kerberoasting]") && key.to_string().contains("min_service"),
            "{key}"
        );
        let value = DetectionConfig::from_toml("[kerberoasting]\nmin_services = \"seven\"\n").unwrap_err();
        assert!(value.to_string().contains("in [kerberoasting]"), "{value}");
    }

    #[test]
    fn honeytokens_of_a_section_join_the_entity_tags() {
        let config = DetectionConfig::from_toml(
            "[honeytoken]\naccounts = [\"adm_legacy\"]\n[entities]\nhoneytokens = [\"CORP\\\\decoy\"]\n",
        )
        .unwrap();
        assert_eq!(config.entity_tags().honeytokens, ["CORP\\decoy", "adm_legacy"]);
    }
}
