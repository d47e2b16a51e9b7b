//! The README's example center configuration is a valid one and says what it seems to.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use orthrus_server::run::ServerConfig;

#[test]
fn the_readme_center_example_parses() {
    let readme = std::fs::read_to_string(orthrus_testkit::testdata().join("../README.md")).unwrap();
    let section = readme.split("### The center").nth(1).unwrap();
    let block = section.split("```toml\n").nth(1).unwrap().split("```").next().unwrap();
    let config: ServerConfig = toml::from_str(block).unwrap();
    assert_eq!(config.listen, "0.0.0.0:8443");
    assert_eq!(config.retention_days, 30);
    assert_eq!(config.minimum_sensor_version, "0.1.0");
    assert_eq!(config.webhook.len(), 1);
    assert_eq!(config.webhook[0].filter.min_severity, orthrus_model::Severity::Medium);
    assert_eq!(config.syslog[0].filter, orthrus_sinks::SinkFilter::default());
    assert_eq!(config.syslog.len(), 1);
    assert_eq!(config.syslog[0].url, "tcp://siem.corp.example:514");
    assert!(config.detection.contains_key("disabled"));
    // An unknown key is an error, not silently ignored.
    assert!(toml::from_str::<ServerConfig>("lisen = \"0.0.0.0:1\"").is_err());
}
