//! What detections learn (profiles, baselines), kept beyond one run: a replay can start
//! from what an earlier one learned, and a restarted center does not learn again.
//!
//! One JSON file: a format number, the event time learning reached, and each learning
//! detection's own state under its id. A detection owns the shape of its state and checks
//! it when it is restored; a file from another Orthrus with states for detections this one
//! does not have is read, and those states are reported back, not applied.
//!
//! ```
//! use orthrus_detect::{DetectionConfig, Engine};
//! let engine = Engine::new(&DetectionConfig::default(), "doc");
//! let saved = engine.baseline();
//! let mut again = Engine::new(&DetectionConfig::default(), "doc");
//! assert!(again.restore(&saved).unwrap().is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use orthrus_model::Timestamp;
use serde::{Deserialize, Serialize};

/// What a detection that learns "who does what" keeps: when learning began on each DC and
/// the (who, what) pairs seen while it lasted. Bounded: beyond [`PairProfile::MAX_PAIRS`]
/// pairs and [`PairProfile::MAX_DCS`] DCs nothing more is learned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairProfile {
    /// When learning started on each DC (its first activity the detection counts).
    pub started: BTreeMap<String, Timestamp>,
    /// (who, what) pairs seen while learning, as the detection spells them. ORT-EVT-001's
    /// first baselines called them `changes`.
    #[serde(alias = "changes")]
    pub pairs: BTreeSet<(String, String)>,
}

impl PairProfile {
    pub const MAX_PAIRS: usize = 100_000;
    pub const MAX_DCS: usize = 10_000;

    /// Whether `dc` is still learning at `time`, learning lasting `learning_secs` from the
    /// DC's first call here (0: never learning).
    pub fn learning(&mut self, learning_secs: i64, dc: &str, time: Timestamp) -> bool {
        if learning_secs == 0 {
            return false;
        }
        let started = match self.started.get(dc) {
            Some(started) => *started,
            None if self.started.len() < Self::MAX_DCS => *self.started.entry(dc.to_owned()).or_insert(time),
            None => return false,
        };
        time < started.saturating_add_secs(learning_secs)
    }

    pub fn learn(&mut self, pair: (String, String)) {
        if self.pairs.len() < Self::MAX_PAIRS {
            self.pairs.insert(pair);
        }
    }

    pub fn knows(&self, pair: &(String, String)) -> bool {
        self.pairs.contains(pair)
    }

    pub fn state(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    /// A saved state, refused when it does not fit the bounds.
    pub fn from_state(state: serde_json::Value) -> Result<Self, String> {
        let saved: Self = serde_json::from_value(state).map_err(|e| e.to_string())?;
        if saved.pairs.len() > Self::MAX_PAIRS || saved.started.len() > Self::MAX_DCS {
            return Err(format!("more than {} pairs or {} DCs", Self::MAX_PAIRS, Self::MAX_DCS));
        }
        Ok(saved)
    }
}

/// The file format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Largest baseline file read (a state is bounded by its detection; this bounds the file).
const MAX_FILE_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub format: u32,
    /// Event time of the last activity learning saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_until: Option<Timestamp>,
    /// Each learning detection's state, by detection id.
    pub detections: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("reading baseline {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("writing baseline {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
    #[error("baseline {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("baseline {path} is not a baseline file: {error}")]
    Parse { path: PathBuf, error: serde_json::Error },
    #[error("baseline format {found} is not the one this build reads ({FORMAT})")]
    Format { found: u32 },
    #[error("baseline state of {detection} does not fit it: {reason}")]
    State { detection: String, reason: String },
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let read = |error| BaselineError::Read { path: path.to_owned(), error };
        if std::fs::metadata(path).map_err(read)?.len() > MAX_FILE_BYTES {
            return Err(BaselineError::TooLarge { path: path.to_owned() });
        }
        let text = std::fs::read(path).map_err(read)?;
        let baseline: Self = serde_json::from_slice(&text)
            .map_err(|error| BaselineError::Parse { path: path.to_owned(), error })?;
        if baseline.format != FORMAT {
            return Err(BaselineError::Format { found: baseline.format });
        }
        Ok(baseline)
    }

    /// Writes to a temporary file beside `path` and renames it over, so a reader never sees
    /// half a baseline.
    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let write = |error| BaselineError::Write { path: path.to_owned(), error };
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| write(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        let mut temp = path.as_os_str().to_owned();
        temp.push(".tmp");
        std::fs::write(&temp, text).map_err(write)?;
        std::fs::rename(&temp, path).map_err(write)
    }
}

/// Fuzz entry point: any bytes as a baseline file, restored into an engine and saved again.
#[doc(hidden)]
pub fn fuzz_baseline(data: &[u8]) {
    let Ok(baseline) = serde_json::from_slice::<Baseline>(data) else { return };
    let mut engine = crate::Engine::new(&crate::DetectionConfig::default(), "fuzz");
    if engine.restore(&baseline).is_ok() {
        let _ = serde_json::to_vec(&engine.baseline());
    }
}
