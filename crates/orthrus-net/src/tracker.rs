//! The one shape every application protocol takes in the decoder: a [`Tracker`] follows the
//! protocol's flows and datagrams and emits activities. `crate::protocols::PROTOCOLS` lists
//! the trackers with their ports.

use std::net::IpAddr;
use std::sync::Arc;

use orthrus_model::Activity;

use crate::context::{Origin, Seen};
use crate::stats::DecodeStats;
use crate::tcp::StreamEvent;

/// One application protocol's state across the flows and datagrams of a capture source.
pub trait Tracker: Send {
    /// The provenance (tenant, sensor, capture file) stamped on the tracker's activities.
    fn origin_mut(&mut self) -> &mut Origin;

    /// Names the capture file the provenance of following frames refers to.
    fn set_file(&mut self, file: Arc<str>) {
        self.origin_mut().file = file;
    }

    /// A reassembly event of a TCP flow whose server port is one of the protocol's (gaps are
    /// given to every tracker: each ignores flows it does not follow).
    fn stream(&mut self, _event: StreamEvent<'_>, _ts_micros: i64, _out: &mut dyn FnMut(Activity)) {}

    /// A UDP datagram to (`to_server`) or from one of the protocol's ports.
    fn datagram(&mut self, _payload: &[u8], _seen: &Seen, _to_server: bool, _out: &mut dyn FnMut(Activity)) {}

    /// End of input: requests still waiting are reported unanswered.
    fn finish(&mut self, _out: &mut dyn FnMut(Activity)) {}

    /// DCE-RPC endpoints learned since the last call (an endpoint mapper's answers), which the
    /// decoder follows from then on.
    fn take_endpoints(&mut self, _into: &mut Vec<(IpAddr, u16)>) {}

    /// Adds the protocol's counters and skip reasons to `stats`.
    fn stats(&self, stats: &mut DecodeStats);
}
