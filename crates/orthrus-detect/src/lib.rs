//! Detections: activities in, alerts out.
//!
//! Each detection is one file under `detections/<data source>/` implementing [`Detector`],
//! listed once in [`detections::DETECTIONS`]. The [`Engine`] feeds every activity to every
//! enabled detector in event time, applies exclusions, and aggregates the updates detectors
//! emit into [`orthrus_model::Alert`]s (one alert per detection and incident key; its count,
//! last-seen and evidence grow).
//!
//! Detectors never read the wall clock, never see packets, and keep bounded state.
//!
//! ```
//! use orthrus_detect::{Engine, DetectionConfig};
//! let engine = Engine::new(&DetectionConfig::default(), "orthrus-analyze");
//! assert!(engine.finish().is_empty());
//! ```

pub mod baseline;
mod config;
pub mod detections;
mod engine;
pub mod enrich;
pub mod exclusions;
pub mod window;

pub use baseline::{Baseline, BaselineError};
pub use config::{ConfigError, DetectionConfig};
pub use engine::{AlertUpdate, Engine, Verdict};

use orthrus_model::{Activity, Mitre, Severity};

/// What a detection is, for the registry, `orthrus detections list` and the docs.
#[derive(Debug, Clone, Copy)]
pub struct DetectionMeta {
    /// Stable Orthrus id (`ORT-KRB-001`); never renumbered.
    pub id: &'static str,
    pub title: &'static str,
    /// The Microsoft Defender for Identity alert it matches, with its external id.
    pub mdi: &'static str,
    /// CEF `externalId`: MDI's external id when the detection matches one (SIEM content keyed
    /// on MDI ids keeps working), else Orthrus' own in 9000–9999, never reused.
    pub external_id: u16,
    /// CEF `app`: the protocol or event source, in MDI's words (`Kerberos`, `Samr`, `Drsr`…).
    pub cef_app: &'static str,
    pub tactic: &'static str,
    pub techniques: &'static [&'static str],
    pub data_sources: &'static [&'static str],
    /// Severity before escalation (sensitive accounts, guessed passwords, ...).
    pub base_severity: Severity,
    /// Raised one level when a target account or computer is sensitive or a honeytoken
    /// (detections.md, `severity_escalation`).
    pub escalates_for_sensitive: bool,
    /// The config section holding its thresholds.
    pub config_section: &'static str,
}

impl DetectionMeta {
    pub fn mitre(&self) -> Mitre {
        Mitre { tactic: self.tactic, techniques: self.techniques.to_vec() }
    }
}

/// One detection's running state.
pub trait Detector: Send {
    fn meta(&self) -> &'static DetectionMeta;

    /// Sees one activity (in event time order, already past exclusions); may emit updates.
    fn observe(&mut self, activity: &Activity, updates: &mut Vec<AlertUpdate>);

    /// End of input: a detector holding back a decision may emit it now.
    fn finish(&mut self, _updates: &mut Vec<AlertUpdate>) {}

    /// What the detector has learned, to be saved in a [`Baseline`]; `None` for detectors
    /// that learn nothing.
    fn learned(&self) -> Option<serde_json::Value> {
        None
    }

    /// Starts from a saved state (what [`learned`](Self::learned) gave); a state that does not
    /// fit is refused with the reason.
    fn restore(&mut self, _state: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}
