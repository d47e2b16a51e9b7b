//! The sensor: its loop ([`run`]: live capture, a watched folder and live forwarded events
//! ([`intake`]: syslog and HTTPS), shipping, heartbeats),
//! and its shipping side. What it captures becomes activities (`orthrus-net`,
//! `orthrus-events`, read as one timeline by `orthrus-timeline`); here they wait, batched, on
//! disk ([`spool`]) until the center has stored them. Files dropped into a watched folder are
//! taken only when they are regular files of their own ([`watch`]).

pub mod client;
pub mod intake;
#[cfg(feature = "libpcap")]
pub mod live;
pub mod names;
pub mod report;
pub mod run;
pub mod spool;
pub mod watch;

pub use spool::{Spool, SpoolError, SpoolStats, SpooledBatch};
