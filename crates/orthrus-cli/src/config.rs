//! The detection configuration a run reads (`--config`).

use std::path::PathBuf;

use anyhow::Context;
use orthrus_detect::DetectionConfig;

/// The file's detection settings, or the defaults without one.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<DetectionConfig> {
    Ok(match path {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            DetectionConfig::from_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => DetectionConfig::default(),
    })
}
