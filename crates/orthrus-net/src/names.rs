//! Name-resolution inputs: NetBIOS name service datagrams (UDP 137) and the cookie of RDP
//! connection requests (TCP 3389), one activity per message.

use std::collections::BTreeMap;

use foldhash::HashSet;
use orthrus_model::{Activity, ActivityKind, NetbiosName, RdpConnection, TenantId};
use orthrus_proto::{netbios, rdp};

use crate::context::{Origin, Seen};
use crate::stats::DecodeStats;
use crate::tcp::{Direction, StreamEvent};
use crate::tracker::Tracker;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NameCounters {
    pub netbios_messages: u64,
    pub rdp_requests: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

pub struct NameTracker {
    origin: Origin,
    /// RDP flows whose first client bytes were read (the rest is TLS or RDP proper).
    rdp_seen: HashSet<u64>,
    pub counters: NameCounters,
}

impl NameTracker {
    pub fn new(tenant: TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            rdp_seen: HashSet::default(),
            counters: NameCounters::default(),
        }
    }
}

impl Tracker for NameTracker {
    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    /// One NetBIOS name service datagram.
    fn datagram(&mut self, payload: &[u8], seen: &Seen, _to_server: bool, out: &mut dyn FnMut(Activity)) {
        match netbios::parse_message(payload) {
            Ok(m) => {
                self.counters.netbios_messages += 1;
                let name = NetbiosName {
                    name: m.name,
                    suffix: m.suffix,
                    operation: m.operation.to_owned(),
                    response: m.response,
                    addresses: m.addresses,
                };
                out(self.origin.activity(
                    seen,
                    vec![self.origin.at(seen.frame)],
                    ActivityKind::NetbiosNameSeen(name),
                ));
            }
            Err(e) => *self.counters.errors.entry(e.reason()).or_default() += 1,
        }
    }

    /// An RDP flow: its first client bytes are the connection request.
    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir: Direction::ToServer, bytes, frame } => {
                if !self.rdp_seen.insert(flow) {
                    return;
                }
                let Some(request) = rdp::parse_connection_request(bytes) else {
                    *self.counters.errors.entry("not_a_connection_request").or_default() += 1;
                    return;
                };
                self.counters.rdp_requests += 1;
                let seen = Seen::tcp(pair, ts_micros, frame);
                let connection = RdpConnection {
                    cookie: request.cookie,
                    requested_protocols: request.requested_protocols,
                };
                out(self.origin.activity(
                    &seen,
                    vec![self.origin.at(frame)],
                    ActivityKind::RdpConnectionRequested(connection),
                ));
            }
            StreamEvent::Closed { flow, .. } => {
                self.rdp_seen.remove(&flow);
            }
            _ => {}
        }
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let s = stats.section("netbios_rdp");
        s.counters.insert("netbios_messages", self.counters.netbios_messages);
        s.counters.insert("rdp_requests", self.counters.rdp_requests);
        s.errors = self.counters.errors.clone();
    }
}
