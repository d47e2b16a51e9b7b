//! Detections: activities in, alerts out.
//!
//! - [`Detection`]: one detection — its [`DetectionMeta`], its [`Settings`] type (its config
//!   section) and how it starts from them. Each is one file under `detections/<data
//!   source>/`, listed once in [`detections::DETECTIONS`].
//! - [`Context`]: what every detection may know beside the activity (the directory, name
//!   resolution, known DCs, the ticket memory), updated once per activity by the engine.
//! - [`Alerts`] and [`Finding`]: the one way a detection raises an alert.
//! - [`Engine`]: feeds every activity to every enabled detector in event time, applies
//!   exclusions, and aggregates findings into [`orthrus_model::Alert`]s (one alert per
//!   detection and incident key; its count, last-seen and evidence grow).
//!
//! Detectors never read the wall clock, never see packets, and keep bounded state.
//!
//! ```
//! use orthrus_detect::{Engine, DetectionConfig};
//! let engine = Engine::new(&DetectionConfig::default(), "orthrus-analyze");
//! assert!(engine.finish().is_empty());
//! ```

pub mod alerts;
pub mod baseline;
mod config;
pub mod context;
pub mod correlation;
pub mod detections;
mod engine;
pub mod enrich;
pub mod exclusions;
pub mod names;
pub mod settings;
#[cfg(test)]
mod testing;
pub mod window;

pub use alerts::{AlertUpdate, Alerts, Finding};
pub use baseline::{Baseline, BaselineError};
pub use config::{ConfigError, DetectionConfig};
pub use context::Context;
pub use engine::Engine;
pub use settings::{EventRuleConfig, Settings};

use orthrus_model::{Activity, AlertMeta, Mitre, Severity};

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
    /// The config section holding its settings.
    pub config_section: &'static str,
    /// What an alert of it means, in an analyst's words: what was seen and which attack
    /// behaves so. The alert page's "What it means", kept here rather than in a template so
    /// the API, the docs and the UI say the same.
    pub meaning: &'static str,
    /// What the attacker gains if the alert is what it looks like.
    pub impact: &'static str,
    /// What to do, in order: first what tells a true alert from a benign one, then how to
    /// contain it, then how to fix what made it possible.
    pub actions: &'static [&'static str],
}

impl DetectionMeta {
    pub fn mitre(&self) -> Mitre {
        Mitre {
            tactic: self.tactic.into(),
            techniques: self.techniques.iter().map(|t| (*t).into()).collect(),
        }
    }

    /// What an alert of this detection carries for the sinks (CEF's `externalId`, `app`).
    pub fn alert_meta(&self) -> AlertMeta {
        AlertMeta { external_id: self.external_id, app: self.cef_app.into() }
    }
}

/// One detection's running state.
pub trait Detector: Send {
    /// Sees one activity (in event time order, already past exclusions) with what the engine
    /// knows beside it; may raise alerts.
    fn observe(&mut self, activity: &Activity, context: &Context, alerts: &mut Alerts<'_>);

    /// End of input: a detector holding back a decision may raise it now.
    fn finish(&mut self, _context: &Context, _alerts: &mut Alerts<'_>) {}

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

/// A detection as the registry knows it: what it is, the settings it reads (its config
/// section's type) and how it starts from them.
pub trait Detection: Detector + Sized + 'static {
    type Settings: Settings;
    const META: &'static DetectionMeta;

    fn new(settings: &Self::Settings) -> Self;
}
