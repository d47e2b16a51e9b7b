//! Decode statistics: what was read, what was decoded, what was skipped and why.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::tcp::TcpCounters;

#[derive(Debug, Default, Clone)]
pub(crate) struct LinkCounters {
    pub frames: u64,
    pub bytes: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub not_ip: u64,
    pub fragments: u64,
    pub reassembled: u64,
    /// Frames whose IP length field was unset (segmentation offload), read by frame length.
    pub ip_length_unset: u64,
    pub udp: u64,
    pub tcp: u64,
    pub other_transport: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

impl LinkCounters {
    pub fn count_error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
    }
}

/// Per-protocol counters, and per-protocol skip reasons. Names and reasons come from
/// bounded sets: never an address or an account.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DecodeStats {
    pub protocols: BTreeMap<&'static str, ProtocolStats>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    pub counters: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<&'static str, u64>,
}

impl DecodeStats {
    pub(crate) fn collect(link: &LinkCounters, tcp: &TcpCounters, open_flows: usize) -> Self {
        let mut stats = DecodeStats::default();
        let frames = stats.section("capture");
        frames.counters.insert("frames", link.frames);
        frames.counters.insert("bytes", link.bytes);
        let ip = stats.section("ip");
        ip.counters.insert("ipv4", link.ipv4);
        ip.counters.insert("ipv6", link.ipv6);
        ip.counters.insert("not_ip", link.not_ip);
        ip.counters.insert("fragments", link.fragments);
        ip.counters.insert("reassembled", link.reassembled);
        ip.counters.insert("length_unset_offload", link.ip_length_unset);
        ip.counters.insert("other_transport", link.other_transport);
        ip.errors = link.errors.clone();
        stats.section("udp").counters.insert("datagrams", link.udp);
        let t = stats.section("tcp");
        for (name, value) in [
            ("segments", link.tcp),
            ("reassembled_segments", tcp.segments),
            ("flows_opened", tcp.flows_opened),
            ("flows_midstream", tcp.flows_midstream),
            ("flows_open_at_end", open_flows as u64),
        ] {
            t.counters.insert(name, value);
        }
        for (name, value) in [
            ("retransmitted_segments", tcp.retransmitted_segments),
            ("overlapping_segments", tcp.overlapping_segments),
            ("out_of_order_segments", tcp.out_of_order_segments),
            ("gaps", tcp.gaps),
            ("gap_bytes", tcp.gap_bytes),
            ("pending_overflow_bytes", tcp.pending_overflow_bytes),
            ("flows_evicted", tcp.flows_evicted),
            ("flows_refused", tcp.flows_refused),
            ("flows_timed_out", tcp.flows_timed_out),
        ] {
            if value > 0 {
                t.errors.insert(name, value);
            }
        }
        stats
    }

    /// The dynamic DCE-RPC endpoints the decoder learned and follows.
    pub(crate) fn add_learned_endpoints(&mut self, learned: usize) {
        self.section("dcerpc").counters.insert("learned_endpoints", learned as u64);
    }

    pub(crate) fn section(&mut self, name: &'static str) -> &mut ProtocolStats {
        self.protocols.entry(name).or_default()
    }

    /// Adds another decoder's statistics (several files in one run).
    pub fn merge(&mut self, other: &DecodeStats) {
        for (name, theirs) in &other.protocols {
            let ours = self.section(name);
            for (k, v) in &theirs.counters {
                *ours.counters.entry(k).or_default() += v;
            }
            for (k, v) in &theirs.errors {
                *ours.errors.entry(k).or_default() += v;
            }
        }
    }

    pub fn get(&self, protocol: &str, counter: &str) -> u64 {
        self.protocols
            .get(protocol)
            .and_then(|p| p.counters.get(counter).or_else(|| p.errors.get(counter)))
            .copied()
            .unwrap_or(0)
    }
}
