//! What a sensor tells the center about itself: the heartbeat, part of the contract between
//! the two beside the activities it ships.

use serde::{Deserialize, Serialize};

/// What a sensor reports in each heartbeat (the center keeps it as the sensor's status).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Heartbeat {
    pub version: String,
    /// Packets captured and dropped (kernel, ring or decoder backlog) since the sensor started.
    pub packets: u64,
    pub dropped_packets: u64,
    /// Windows events read and dropped since the sensor started; `events_expected` when the
    /// sensor is configured to read event logs.
    pub events: u64,
    pub dropped_events: u64,
    pub events_expected: bool,
    /// The disk buffer: bytes held, its bound, batches dropped since the spool was created.
    pub spool_bytes: u64,
    pub spool_max_bytes: u64,
    pub spool_dropped_batches: u64,
    /// Files of the watched folder refused unread (links, devices, pipes, hard links to files
    /// elsewhere) and waiting in its `refused/` for someone to look at them.
    pub refused_files: u64,
    /// A live capture's own counters (interface, kernel drops, decoder counters), shown as
    /// the sensor sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<serde_json::Value>,
    /// The live event intake's listeners (syslog UDP/TCP/TLS, HTTPS): messages, events,
    /// drops, connections, as the sensor sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intake: Option<serde_json::Value>,
    /// The sensor's reverse DNS: addresses asked, named, failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse_dns: Option<serde_json::Value>,
    /// The last directory sync's outcome, when the sensor syncs the directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_sync_error: Option<String>,
}
