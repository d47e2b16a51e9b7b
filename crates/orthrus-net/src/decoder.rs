//! Frames in, activities out: link layer → IP (with defragmentation) → UDP / TCP reassembly →
//! protocol transactions.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use etherparse::defrag::IpDefragPool;
use etherparse::{
    EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, LenSource, NetSlice, SlicedPacket, TcpSlice,
    TransportSlice, UdpSlice,
};
use orthrus_model::{Activity, Endpoint, TenantId, Transport};

use crate::capture::Frame;
use crate::context::Seen;
use crate::protocols::PROTOCOLS;
use crate::stats::{DecodeStats, LinkCounters};
use crate::tcp::{Flags, Segment, StreamEvent, TcpLimits, TcpReassembler};
use crate::tracker::Tracker;

/// Link-layer types (tcpdump.org LINKTYPE_*).
mod linktype {
    pub const NULL: i32 = 0;
    pub const ETHERNET: i32 = 1;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
    /// Some BSDs write DLT_RAW as 12 or 14 in files.
    pub const RAW_BSD: [i32; 2] = [12, 14];
}

/// Fragment bytes buffered since the defragmentation pool was last emptied. Beyond it the
/// pool is flushed (incomplete datagrams dropped and counted): etherparse's pool has no
/// limit of its own.
const MAX_FRAGMENT_BYTES: usize = 64 << 20;
/// An incomplete fragmented datagram is dropped after this long (packet time).
const FRAGMENT_TIMEOUT_MICROS: i64 = 30 * 1_000_000;

#[derive(Debug, Clone)]
pub struct DecoderConfig {
    pub tenant: TenantId,
    /// Recorded as the observing sensor on every activity.
    pub sensor: Arc<str>,
    pub tcp: TcpLimits,
    /// Ports a protocol is followed on instead of its defaults (`PROTOCOLS`), by protocol
    /// name.
    pub ports: BTreeMap<&'static str, ProtocolPorts>,
}

/// The ports one protocol is followed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolPorts {
    /// TCP server ports.
    pub tcp: Vec<u16>,
    /// UDP ports (either side).
    pub udp: Vec<u16>,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            tenant: TenantId::default(),
            sensor: Arc::from("orthrus-analyze"),
            tcp: TcpLimits::default(),
            ports: BTreeMap::new(),
        }
    }
}

/// Turns frames into activities. One decoder per capture source: flow state does not cross
/// sources.
pub struct Decoder {
    ports: Ports,
    tcp: TcpReassembler,
    /// One tracker per protocol of `PROTOCOLS`, in its order.
    trackers: Vec<Box<dyn Tracker>>,
    /// DCE-RPC endpoints a tracker just learned (reused buffer).
    endpoints: Vec<(IpAddr, u16)>,
    defrag: IpDefragPool<i64, ()>,
    fragment_bytes: usize,
    last_fragment_sweep: i64,
    link: LinkCounters,
    /// Capture time of the latest frame, for events that end of input releases.
    last_ts: i64,
}

impl Decoder {
    pub fn new(config: DecoderConfig) -> Self {
        Self {
            ports: Ports::new(&config),
            tcp: TcpReassembler::new(config.tcp),
            trackers: PROTOCOLS
                .iter()
                .map(|p| (p.tracker)(config.tenant.clone(), config.sensor.clone()))
                .collect(),
            endpoints: Vec::new(),
            defrag: IpDefragPool::new(),
            fragment_bytes: 0,
            last_fragment_sweep: i64::MIN,
            link: LinkCounters::default(),
            last_ts: 0,
        }
    }

    /// Names the capture file that provenance of following frames refers to.
    pub fn set_file(&mut self, file: &str) {
        let file: Arc<str> = Arc::from(file);
        for tracker in &mut self.trackers {
            tracker.set_file(file.clone());
        }
    }

    pub fn frame(&mut self, frame: &Frame<'_>, out: &mut dyn FnMut(Activity)) {
        self.link.frames += 1;
        self.last_ts = self.last_ts.max(frame.ts_micros);
        self.link.bytes += frame.data.len() as u64;
        if frame.linktype == linktype::ETHERNET && self.ethernet_ipv4_fast(frame, out) {
            return;
        }
        let sliced = match slice_link(frame.linktype, frame.data) {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.link.count_error("unsupported_linktype");
                return;
            }
            Err(reason) => {
                if reason != "truncated" || !self.unset_ip_length(frame, out) {
                    self.link.count_error(reason);
                }
                return;
            }
        };
        let (src, dst) = match &sliced.net {
            Some(NetSlice::Ipv4(v4)) => {
                self.link.ipv4 += 1;
                let h = v4.header();
                (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()))
            }
            Some(NetSlice::Ipv6(v6)) => {
                self.link.ipv6 += 1;
                let h = v6.header();
                (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()))
            }
            _ => {
                self.link.not_ip += 1;
                return;
            }
        };
        if sliced.is_ip_payload_fragmented() {
            self.fragment(&sliced, src, dst, frame, out);
            return;
        }
        match &sliced.transport {
            Some(TransportSlice::Udp(udp)) => self.udp(src, dst, udp, frame, out),
            Some(TransportSlice::Tcp(tcp)) => self.tcp(src, dst, tcp, frame, out),
            _ => self.link.other_transport += 1,
        }
    }

    /// The common case, read without the general slicer: untagged Ethernet, an IPv4 header
    /// whose lengths agree with the frame, not a fragment, TCP or UDP. Anything else (VLAN
    /// tags, IPv6, fragments, options the checks below do not cover, bad lengths) returns
    /// false and goes the general way, which also counts what is wrong.
    fn ethernet_ipv4_fast(&mut self, frame: &Frame<'_>, out: &mut dyn FnMut(Activity)) -> bool {
        let Some(ip) = frame.data.get(14..) else { return false };
        if frame.data.get(12..14) != Some(&[0x08, 0x00]) {
            return false;
        }
        let Some(&[vihl, _, len_hi, len_lo, _, _, flags_hi, frag_lo, _, protocol]) = ip.first_chunk::<10>()
        else {
            return false;
        };
        let header_len = usize::from(vihl & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        let fragmented = u16::from_be_bytes([flags_hi, frag_lo]) & 0x3fff != 0;
        if vihl >> 4 != 4 || header_len < 20 || total_len < header_len || fragmented {
            return false;
        }
        let (Some(payload), Some(src), Some(dst)) =
            (ip.get(header_len..total_len), ip.get(12..16), ip.get(16..20))
        else {
            return false;
        };
        let (Some(src), Some(dst)) = (src.first_chunk::<4>(), dst.first_chunk::<4>()) else { return false };
        let (src, dst) = (IpAddr::from(*src), IpAddr::from(*dst));
        match protocol {
            6 => match TcpSlice::from_slice(payload) {
                Ok(tcp) => {
                    self.link.ipv4 += 1;
                    self.tcp(src, dst, &tcp, frame, out);
                    true
                }
                Err(_) => false,
            },
            17 => match UdpSlice::from_slice(payload) {
                Ok(udp) => {
                    self.link.ipv4 += 1;
                    self.udp(src, dst, &udp, frame, out);
                    true
                }
                Err(_) => false,
            },
            _ => false,
        }
    }

    /// A frame whose IP length field was never filled in: captured on the sending host before
    /// the network card's segmentation offload (TSO) set it, common in captures taken on
    /// Windows endpoints. Wireshark then trusts the frame's length, and so do we, as long as
    /// nothing else is wrong (not cut short by the snap length, not a fragment).
    fn unset_ip_length(&mut self, frame: &Frame<'_>, out: &mut dyn FnMut(Activity)) -> bool {
        let lax = match frame.linktype {
            linktype::ETHERNET => LaxSlicedPacket::from_ethernet(frame.data).ok(),
            linktype::RAW | linktype::IPV4 | linktype::IPV6 => LaxSlicedPacket::from_ip(frame.data).ok(),
            _ => None,
        };
        let Some(lax) = lax else { return false };
        let (src, dst, payload) = match &lax.net {
            Some(LaxNetSlice::Ipv4(v4)) => {
                let h = v4.header();
                (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), v4.payload())
            }
            Some(LaxNetSlice::Ipv6(v6)) => {
                let h = v6.header();
                (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), v6.payload())
            }
            _ => return false,
        };
        if payload.incomplete || payload.fragmented || payload.len_source != LenSource::Slice {
            return false;
        }
        match &lax.transport {
            Some(TransportSlice::Udp(udp)) => self.udp(src, dst, udp, frame, out),
            Some(TransportSlice::Tcp(tcp)) => self.tcp(src, dst, tcp, frame, out),
            _ => return false,
        }
        self.link.ip_length_unset += 1;
        true
    }

    fn fragment(
        &mut self,
        sliced: &SlicedPacket<'_>,
        src: IpAddr,
        dst: IpAddr,
        frame: &Frame<'_>,
        out: &mut dyn FnMut(Activity),
    ) {
        self.link.fragments += 1;
        if frame.ts_micros.saturating_sub(self.last_fragment_sweep) >= 1_000_000 {
            self.last_fragment_sweep = frame.ts_micros;
            let cutoff = frame.ts_micros.saturating_sub(FRAGMENT_TIMEOUT_MICROS);
            self.defrag.retain(|ts| *ts >= cutoff);
        }
        self.fragment_bytes += frame.data.len();
        if self.fragment_bytes > MAX_FRAGMENT_BYTES {
            self.defrag.retain(|_| false);
            self.fragment_bytes = frame.data.len();
            self.link.count_error("fragment_memory_limit");
        }
        match self.defrag.process_sliced_packet(sliced, frame.ts_micros, ()) {
            Ok(Some(whole)) => {
                self.link.reassembled += 1;
                match whole.ip_number {
                    IpNumber::UDP => match UdpSlice::from_slice(&whole.payload) {
                        Ok(udp) => self.udp(src, dst, &udp, frame, out),
                        Err(_) => self.link.count_error("reassembled_udp_invalid"),
                    },
                    IpNumber::TCP => match TcpSlice::from_slice(&whole.payload) {
                        Ok(tcp) => self.tcp(src, dst, &tcp, frame, out),
                        Err(_) => self.link.count_error("reassembled_tcp_invalid"),
                    },
                    _ => self.link.other_transport += 1,
                }
                self.defrag.return_buf(whole);
            }
            Ok(None) => {}
            Err(_) => self.link.count_error("fragment_invalid"),
        }
    }

    fn udp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        udp: &UdpSlice<'_>,
        frame: &Frame<'_>,
        out: &mut dyn FnMut(Activity),
    ) {
        self.link.udp += 1;
        let (sport, dport) = (udp.source_port(), udp.destination_port());
        let (to_server, index) = match (self.ports.udp(dport), self.ports.udp(sport)) {
            (Some(index), _) => (true, index),
            (None, Some(index)) => (false, index),
            (None, None) => return,
        };
        let (client, server) =
            if to_server { ((src, sport), (dst, dport)) } else { ((dst, dport), (src, sport)) };
        let seen = Seen {
            client: Endpoint { ip: client.0, port: client.1 },
            server: Endpoint { ip: server.0, port: server.1 },
            transport: Transport::Udp,
            ts_micros: frame.ts_micros,
            frame: frame.number,
        };
        if let Some(tracker) = self.trackers.get_mut(index) {
            tracker.datagram(udp.payload(), &seen, to_server, out);
        }
    }

    fn tcp(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        tcp: &TcpSlice<'_>,
        frame: &Frame<'_>,
        out: &mut dyn FnMut(Activity),
    ) {
        self.link.tcp += 1;
        let (sport, dport) = (tcp.source_port(), tcp.destination_port());
        if self.ports.tcp((src, sport)).is_none() && self.ports.tcp((dst, dport)).is_none() {
            // DCE-RPC to a port we were not told about (the endpoint-mapper answer was not
            // captured): follow it from here.
            match rpc_client_pdu(tcp.payload()) {
                true => self.ports.learn_rpc((dst, dport)),
                false => return,
            }
        }
        let segment = Segment {
            src: (src, sport),
            dst: (dst, dport),
            seq: tcp.sequence_number(),
            flags: Flags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
            payload: tcp.payload(),
            ts_micros: frame.ts_micros,
            frame: frame.number,
        };
        let ts = frame.ts_micros;
        let (ports, trackers) = (&self.ports, &mut self.trackers);
        let mut routed = None;
        self.tcp.segment(&segment, |p| ports.is_server_port(p), &mut |event| {
            routed = route(trackers, ports, event, ts, out).or(routed);
        });
        // Only the tracker that had the segment's bytes can have learned an endpoint.
        if let Some(tracker) = routed.and_then(|index| self.trackers.get_mut(index)) {
            tracker.take_endpoints(&mut self.endpoints);
            for endpoint in self.endpoints.drain(..) {
                self.ports.learn_rpc(endpoint);
            }
        }
    }

    /// End of input: closes every flow and reports requests that never got an answer.
    pub fn finish(&mut self, out: &mut dyn FnMut(Activity)) {
        let last_ts = self.last_ts;
        let (ports, trackers) = (&self.ports, &mut self.trackers);
        self.tcp.finish(&mut |event| {
            route(trackers, ports, event, last_ts, out);
        });
        for tracker in &mut self.trackers {
            tracker.finish(out);
        }
    }

    pub fn stats(&self) -> DecodeStats {
        let mut stats = DecodeStats::collect(&self.link, &self.tcp.counters, self.tcp.active_flows());
        for tracker in &self.trackers {
            tracker.stats(&mut stats);
        }
        stats.add_learned_endpoints(self.ports.learned_rpc.len());
        stats
    }
}

/// Which ports carry what: configured, and learned from the endpoint mapper. One table
/// entry per port, so the per-packet lookup is an index, not a search.
struct Ports {
    tcp: Box<[PortUse; 65536]>,
    udp: Box<[Option<u8>; 65536]>,
    /// The DCE-RPC tracker, which follows the endpoints learned.
    rpc: Option<u8>,
    learned_rpc: foldhash::HashSet<(IpAddr, u16)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum PortUse {
    #[default]
    None,
    /// The tracker (index in `PROTOCOLS`) a server port is configured for.
    Configured(u8),
    /// Some server was announced on this port (its address decides).
    LearnedRpc,
}

/// Dynamic RPC endpoints remembered; beyond, new ones are not followed.
const MAX_LEARNED_RPC_ENDPOINTS: usize = 4096;

impl Ports {
    fn new(config: &DecoderConfig) -> Self {
        let mut tcp = Box::new([PortUse::None; 65536]);
        let mut udp = Box::new([None; 65536]);
        // Earlier protocols win when a port is configured twice.
        for (index, protocol) in PROTOCOLS.iter().enumerate() {
            let Ok(index) = u8::try_from(index) else { break };
            let configured = config.ports.get(protocol.name);
            let tcp_ports = configured.map_or(protocol.tcp_ports, |p| p.tcp.as_slice());
            let udp_ports = configured.map_or(protocol.udp_ports, |p| p.udp.as_slice());
            for port in tcp_ports {
                if let Some(slot) = tcp.get_mut(usize::from(*port))
                    && *slot == PortUse::None
                {
                    *slot = PortUse::Configured(index);
                }
            }
            for port in udp_ports {
                if let Some(slot) = udp.get_mut(usize::from(*port)) {
                    slot.get_or_insert(index);
                }
            }
        }
        let rpc = PROTOCOLS.iter().position(|p| p.name == "dcerpc").and_then(|i| u8::try_from(i).ok());
        Self { tcp, udp, rpc, learned_rpc: foldhash::HashSet::default() }
    }

    fn port_use(&self, port: u16) -> PortUse {
        self.tcp.get(usize::from(port)).copied().unwrap_or_default()
    }

    /// The tracker following TCP server endpoint `(ip, port)`.
    fn tcp(&self, (ip, port): (IpAddr, u16)) -> Option<usize> {
        match self.port_use(port) {
            PortUse::Configured(index) => Some(usize::from(index)),
            PortUse::LearnedRpc if self.learned_rpc.contains(&(ip, port)) => self.rpc.map(usize::from),
            _ => None,
        }
    }

    /// The tracker following UDP port `port`.
    fn udp(&self, port: u16) -> Option<usize> {
        self.udp.get(usize::from(port)).copied().flatten().map(usize::from)
    }

    fn is_server_port(&self, port: u16) -> bool {
        self.port_use(port) != PortUse::None
    }

    fn learn_rpc(&mut self, endpoint: (IpAddr, u16)) {
        if self.learned_rpc.len() < MAX_LEARNED_RPC_ENDPOINTS {
            self.learned_rpc.insert(endpoint);
            if let Some(slot) = self.tcp.get_mut(usize::from(endpoint.1))
                && *slot == PortUse::None
            {
                *slot = PortUse::LearnedRpc;
            }
        }
    }
}

/// Whether a segment starts with a client's DCE-RPC PDU (BIND, ALTER_CONTEXT, AUTH3 or
/// REQUEST, version 5.0, little-endian): strict enough that other protocols do not match.
fn rpc_client_pdu(payload: &[u8]) -> bool {
    use orthrus_proto::dcerpc::ptype;
    matches!(payload, [5, 0, t, _, 0x10, 0, 0, 0, ..]
        if matches!(*t, ptype::BIND | ptype::ALTER_CONTEXT | ptype::AUTH3 | ptype::REQUEST))
}

/// Hands a reassembly event to the tracker of the flow's protocol (by its server side);
/// returns that tracker's index. A gap names only the flow: every tracker hears it and those
/// not following the flow ignore it.
fn route(
    trackers: &mut [Box<dyn Tracker>],
    ports: &Ports,
    event: StreamEvent<'_>,
    ts: i64,
    out: &mut dyn FnMut(Activity),
) -> Option<usize> {
    let index = match &event {
        StreamEvent::Data { pair, .. } | StreamEvent::Closed { pair, .. } => ports.tcp(pair.server)?,
        StreamEvent::Gap { flow, dir, bytes_missing } => {
            for tracker in trackers.iter_mut() {
                let gap = StreamEvent::Gap { flow: *flow, dir: *dir, bytes_missing: *bytes_missing };
                tracker.stream(gap, ts, out);
            }
            return None;
        }
    };
    trackers.get_mut(index)?.stream(event, ts, out);
    Some(index)
}

/// Slices a frame down to IP and transport. `Ok(None)`: a link type we do not decode.
fn slice_link(linktype: i32, data: &[u8]) -> Result<Option<SlicedPacket<'_>>, &'static str> {
    let sliced = match linktype {
        linktype::ETHERNET => SlicedPacket::from_ethernet(data),
        linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        linktype::LINUX_SLL2 => {
            // SLL2: protocol type (2) | reserved (2) | ifindex (4) | hatype (2) | pkttype (1)
            // | addr len (1) | addr (8), then the payload.
            let (Some(proto), Some(payload)) = (data.first_chunk::<2>(), data.get(20..)) else {
                return Err("truncated_link_header");
            };
            SlicedPacket::from_ether_type(EtherType(u16::from_be_bytes(*proto)), payload)
        }
        linktype::RAW | linktype::IPV4 | linktype::IPV6 => SlicedPacket::from_ip(data),
        lt if linktype::RAW_BSD.contains(&lt) => SlicedPacket::from_ip(data),
        linktype::NULL | linktype::LOOP => {
            // A 4-byte address family (host order for NULL, network order for LOOP); the IP
            // version nibble that follows says the same, and is byte-order proof.
            let Some(payload) = data.get(4..) else {
                return Err("truncated_link_header");
            };
            SlicedPacket::from_ip(payload)
        }
        _ => return Ok(None),
    };
    sliced.map(Some).map_err(|e| slice_error_reason(&e))
}

fn slice_error_reason(e: &etherparse::err::packet::SliceError) -> &'static str {
    use etherparse::err::packet::SliceError;
    match e {
        SliceError::Len(_) => "truncated",
        SliceError::LinuxSll(_) => "linux_sll_invalid",
        SliceError::Ip(_) => "ip_header_invalid",
        SliceError::Ipv4(_) => "ipv4_header_invalid",
        SliceError::Ipv6(_) => "ipv6_header_invalid",
        SliceError::Ipv4Exts(_) | SliceError::Ipv6Exts(_) => "ip_extension_invalid",
        SliceError::Tcp(_) => "tcp_header_invalid",
        _ => "link_invalid",
    }
}
