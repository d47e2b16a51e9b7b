//! A detection's settings: the config section it declares in the registry. Each section is a
//! serde type with documented defaults; the thresholds `orthrus detections list` shows and
//! the `exclude_sources` the engine applies come from it.

use std::any::Any;
use std::fmt::Debug;
use std::net::IpAddr;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::names::lists_account;

/// The settings type of a detection (`[kerberoasting]`, `[dcsync]`, …). Unknown keys must be
/// errors (`#[serde(default, deny_unknown_fields)]`), so a typo never keeps a default.
pub trait Settings: DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static {
    /// The thresholds, as `name = value` pairs for listings and docs.
    fn thresholds(&self) -> Vec<(&'static str, String)>;

    /// Source addresses the detection never sees (applied before it, so an excluded scanner
    /// never fills a counter).
    fn exclude_sources(&self) -> &[IpAddr];

    /// Accounts the section tags as honeytokens, beside `[entities] honeytokens`.
    fn honeytokens(&self) -> &[String] {
        &[]
    }
}

/// [`Settings`] behind a pointer: how the config keeps every detection's section.
pub trait AnySettings: Debug + Send + Sync {
    fn thresholds(&self) -> Vec<(&'static str, String)>;
    fn exclude_sources(&self) -> &[IpAddr];
    fn honeytokens(&self) -> &[String];
    fn clone_box(&self) -> Box<dyn AnySettings>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Settings> AnySettings for T {
    fn thresholds(&self) -> Vec<(&'static str, String)> {
        Settings::thresholds(self)
    }

    fn exclude_sources(&self) -> &[IpAddr] {
        Settings::exclude_sources(self)
    }

    fn honeytokens(&self) -> &[String] {
        Settings::honeytokens(self)
    }

    fn clone_box(&self) -> Box<dyn AnySettings> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Settings of the detections that alert on single events or calls: how long a quiet gap
/// ends an episode (one alert), and who is never alerted on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventRuleConfig {
    /// A quiet gap of this long (event time) ends an episode: the next finding is a new alert.
    pub window_secs: u64,
    /// Acting accounts never alerted on (compared case-insensitively, bare name).
    pub exclude_actors: Vec<String>,
    pub exclude_sources: Vec<IpAddr>,
}

impl Default for EventRuleConfig {
    fn default() -> Self {
        Self { window_secs: 3600, exclude_actors: Vec::new(), exclude_sources: Vec::new() }
    }
}

impl EventRuleConfig {
    pub fn excludes(&self, actor: &str) -> bool {
        lists_account(&self.exclude_actors, actor)
    }

    /// Whether `exclude_actors` names an event's actor, by name or SID.
    pub fn excludes_actor(&self, subject: &orthrus_model::AccountRef) -> bool {
        crate::names::lists_actor(&self.exclude_actors, subject)
    }
}

impl Settings for EventRuleConfig {
    fn thresholds(&self) -> Vec<(&'static str, String)> {
        vec![("window_secs", self.window_secs.to_string())]
    }

    fn exclude_sources(&self) -> &[IpAddr] {
        &self.exclude_sources
    }
}
