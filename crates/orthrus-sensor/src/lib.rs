//! The sensor's shipping side. What it captures becomes activities (`orthrus-net`,
//! `orthrus-events`); here they wait, batched, on disk ([`spool`]) until the center has
//! stored them.

pub mod client;
#[cfg(feature = "libpcap")]
pub mod live;
pub mod names;
pub mod spool;

pub use spool::{Spool, SpoolError, SpoolStats, SpooledBatch};
