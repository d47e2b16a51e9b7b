//! Test helpers: where fixtures live, the public corpus, and running a capture through the
//! decoder.
//!
//! ```
//! let path = orthrus_testkit::fixture("pcap/kerberoast.pcap");
//! assert!(path.exists());
//! ```

// Test support: a broken fixture should stop the test loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use orthrus_model::Activity;
use orthrus_net::{Decoder, DecoderConfig, decode_file};

/// The repository's `testdata/` folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A file under `testdata/`.
pub fn fixture(relative: &str) -> PathBuf {
    testdata().join(relative)
}

/// The public labelled corpus (`ORTHRUS_CORPUS`, else `../shared/corpus` beside the
/// repository). Read in place, never copied. Its absence is an error, not a skip: CI always
/// has it.
pub fn corpus() -> PathBuf {
    let path = std::env::var_os("ORTHRUS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    assert!(
        path.join("MANIFEST.tsv").is_file(),
        "public corpus not found at {} (set ORTHRUS_CORPUS)",
        path.display()
    );
    path
}

/// Every activity of a capture file, in the order the decoder produced them.
pub fn activities(path: &Path) -> Vec<Activity> {
    let mut decoder = Decoder::new(DecoderConfig::default());
    let mut out = Vec::new();
    if let Err(e) = decode_file(path, &mut decoder, &mut |a| out.push(a)) {
        panic!("{}: {e}", path.display());
    }
    decoder.finish(&mut |a| out.push(a));
    out
}

/// Activities of the lab capture `testdata/pcap/NAME.pcap`.
pub fn lab_activities(name: &str) -> Vec<Activity> {
    activities(&fixture(&format!("pcap/{name}.pcap")))
}

/// One row of `testdata/pcap/manifest.tsv` (copied from the lab's manifest).
#[derive(Debug, Clone)]
pub struct LabCapture {
    pub name: String,
    pub label: String,
    pub mitre: String,
    pub attacker_ip: String,
    pub targets: String,
}

/// The lab captures' manifest.
pub fn lab_manifest() -> Vec<LabCapture> {
    let text = std::fs::read_to_string(fixture("pcap/manifest.tsv")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Some(LabCapture {
                name: cols.first()?.to_string(),
                label: cols.get(1)?.to_string(),
                mitre: cols.get(2)?.to_string(),
                attacker_ip: cols.get(3)?.to_string(),
                targets: cols.get(4)?.to_string(),
            })
        })
        .collect()
}
