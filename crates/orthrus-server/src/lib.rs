//! `orthrus server`: the center over HTTPS. Sensors post batches and heartbeats; people and
//! scripts read and act through the tenant-scoped REST API ([`api`]) and the web UI ([`ui`]),
//! both behind one tenant-scope extractor ([`scope`]); the center's core (`orthrus-center`)
//! does the work behind it.

pub mod api;
pub mod body;
pub mod error;
pub mod incident;
pub mod metrics;
pub mod profile;
pub mod router;
pub mod run;
pub mod scope;
pub mod state;
pub mod tls;
pub mod ui;

/// The hardened listener, shared with the sensor's event intake.
pub use orthrus_listen as serve;
pub use router::router;
pub use serve::serve_tls;
pub use state::AppState;
