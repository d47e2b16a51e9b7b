//! Passive TCP stream reassembly. Written here: no maintained, permissively licensed crate
//! reassembles passively with bounded memory (see design/crates.md §9).
//!
//! Per flow, each direction delivers its bytes in sequence order exactly once:
//! retransmissions and overlaps are trimmed (first copy wins), out-of-order segments wait in
//! a bounded queue, a hole that does not fill (a packet the capture lost) becomes a [`Gap`]
//! after which delivery resumes, and flows picked up mid-stream start at the first segment
//! seen. Memory is capped per flow and in total, flows idle out in packet time, and every
//! limit hit is counted, never fatal.
//!
//! [`Gap`]: StreamEvent::Gap

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

use foldhash::HashMap;

/// Reassembly limits. Defaults suit a DC sensor: protocol messages are small.
#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    /// Bytes one direction may hold out of order before the hole is declared a gap.
    pub max_pending_bytes_per_flow: usize,
    /// Out-of-order segments one direction may hold before the hole is declared a gap.
    pub max_pending_segments_per_flow: usize,
    /// Out-of-order bytes all flows together may hold.
    pub max_pending_bytes_total: usize,
    /// Flows tracked at once; beyond it the least recently seen are evicted.
    pub max_flows: usize,
    /// A flow silent this long (packet time) is closed.
    pub idle_timeout_secs: i64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_pending_bytes_per_flow: 1 << 20,
            max_pending_segments_per_flow: 64,
            max_pending_bytes_total: 256 << 20,
            max_flows: 200_000,
            idle_timeout_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketPair {
    pub client: (IpAddr, u16),
    pub server: (IpAddr, u16),
}

/// Direction of bytes within a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToServer,
    ToClient,
}

/// One value per direction of a flow.
#[derive(Debug, Default)]
pub struct PerDirection<T> {
    pub to_server: T,
    pub to_client: T,
}

impl<T> PerDirection<T> {
    pub fn get_mut(&mut self, dir: Direction) -> &mut T {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }
}

/// What reassembly tells the protocol layer, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// In-order bytes. `frame` is the frame whose segment carried (the end of) them.
    Data { flow: u64, pair: SocketPair, dir: Direction, bytes: &'a [u8], frame: u64 },
    /// Bytes were lost before the next `Data` in this direction: resynchronise.
    Gap { flow: u64, dir: Direction, bytes_missing: u64 },
    /// The flow ended (FIN both ways, RST, idle timeout, eviction or end of input).
    Closed { flow: u64, pair: SocketPair },
}

/// Counters, each bounded in meaning; exported as statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpCounters {
    pub segments: u64,
    pub flows_opened: u64,
    pub flows_midstream: u64,
    pub retransmitted_segments: u64,
    pub overlapping_segments: u64,
    pub out_of_order_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub pending_overflow_bytes: u64,
    pub flows_evicted: u64,
    pub flows_refused: u64,
    pub flows_timed_out: u64,
}

/// Segment flags the reassembler cares about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// One TCP segment as seen from the wire.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
    pub seq: u32,
    pub flags: Flags,
    pub payload: &'a [u8],
    pub ts_micros: i64,
    pub frame: u64,
}

#[derive(Default)]
struct HalfStream {
    /// Sequence number of the next byte to deliver; unknown until the first segment.
    next_seq: Option<u32>,
    /// Bytes delivered so far: the absolute offset `next_seq` stands for.
    delivered: u64,
    /// Out-of-order segments by absolute offset.
    pending: BTreeMap<u64, (Vec<u8>, u64)>,
    pending_bytes: usize,
    /// Bytes skipped over by a declared gap, not yet reported.
    pending_gap: u64,
    fin: bool,
}

struct Flow {
    id: u64,
    pair: SocketPair,
    half: PerDirection<HalfStream>,
    last_seen: i64,
}

pub struct TcpReassembler {
    limits: TcpLimits,
    flows: HashMap<SocketPair, Flow>,
    next_id: u64,
    pending_total: usize,
    last_sweep: i64,
    pub counters: TcpCounters,
}

impl TcpReassembler {
    pub fn new(limits: TcpLimits) -> Self {
        Self {
            limits,
            flows: HashMap::default(),
            next_id: 1,
            pending_total: 0,
            last_sweep: i64::MIN,
            counters: TcpCounters::default(),
        }
    }

    pub fn active_flows(&self) -> usize {
        self.flows.len()
    }

    /// Feeds one segment. `is_server_port` decides which side serves when the handshake was
    /// not seen.
    pub fn segment(
        &mut self,
        seg: &Segment<'_>,
        is_server_port: impl Fn(u16) -> bool,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) {
        self.counters.segments += 1;
        self.maybe_sweep(seg.ts_micros, emit);

        let (pair, dir) = orient(seg, &is_server_port);
        // One hash lookup for the common segments: a pure ACK only refreshes its flow, and a
        // flow table with room needs no check before the entry.
        if !seg.flags.syn && seg.payload.is_empty() {
            // A bare ACK, FIN or RST opens nothing: it is usually the tail of a flow just
            // closed, and there is nothing to reassemble.
            if !seg.flags.fin && !seg.flags.rst {
                if let Some(flow) = self.flows.get_mut(&pair) {
                    flow.last_seen = flow.last_seen.max(seg.ts_micros);
                }
                return;
            }
            if !self.flows.contains_key(&pair) {
                return;
            }
        } else if self.flows.len() >= self.limits.max_flows
            && !self.flows.contains_key(&pair)
            && !self.make_room(emit)
        {
            self.counters.flows_refused += 1;
            return;
        }
        let flow = match self.flows.entry(pair) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                self.counters.flows_opened += 1;
                if !seg.flags.syn {
                    self.counters.flows_midstream += 1;
                }
                let id = self.next_id;
                self.next_id += 1;
                e.insert(Flow { id, pair, half: PerDirection::default(), last_seen: seg.ts_micros })
            }
        };
        flow.last_seen = flow.last_seen.max(seg.ts_micros);
        let flow_id = flow.id;
        let half = flow.half.get_mut(dir);

        if seg.flags.syn {
            // A SYN (re)starts this direction; its sequence number consumes one.
            if half.next_seq.is_none() || half.delivered == 0 {
                half.next_seq = Some(seg.seq.wrapping_add(1));
            }
        } else if !seg.payload.is_empty() {
            let released = accept_data(half, seg, &self.limits, &mut self.pending_total, &mut self.counters);
            deliver(
                (flow_id, pair),
                dir,
                half,
                seg,
                released,
                &mut self.pending_total,
                &mut self.counters,
                emit,
            );
        }
        if seg.flags.fin {
            half.fin = true;
        }
        // Both sides said FIN and nothing is still waiting for a hole to fill.
        let done = seg.flags.rst
            || [&flow.half.to_server, &flow.half.to_client].iter().all(|h| h.fin && h.pending.is_empty());
        if done {
            self.close(&pair, emit);
        }
    }

    /// Closes every flow: end of input. Pending out-of-order data is delivered after a gap.
    pub fn finish(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let mut pairs: Vec<(u64, SocketPair)> = self.flows.values().map(|f| (f.id, f.pair)).collect();
        pairs.sort_unstable();
        for (_, pair) in pairs {
            self.close(&pair, emit);
        }
    }

    fn close(&mut self, pair: &SocketPair, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        let Some(mut flow) = self.flows.remove(pair) else {
            return;
        };
        for dir in [Direction::ToServer, Direction::ToClient] {
            let half = flow.half.get_mut(dir);
            while let Some((offset, (bytes, frame))) = half.pending.pop_first() {
                self.pending_total = self.pending_total.saturating_sub(bytes.len());
                half.pending_bytes = half.pending_bytes.saturating_sub(bytes.len());
                if offset > half.delivered {
                    let missing = offset - half.delivered;
                    self.counters.gaps += 1;
                    self.counters.gap_bytes += missing;
                    emit(StreamEvent::Gap { flow: flow.id, dir, bytes_missing: missing });
                    half.delivered = offset;
                }
                let skip = usize::try_from(half.delivered - offset).unwrap_or(usize::MAX);
                if let Some(rest) = bytes.get(skip..).filter(|r| !r.is_empty()) {
                    half.delivered += rest.len() as u64;
                    emit(StreamEvent::Data { flow: flow.id, pair: flow.pair, dir, bytes: rest, frame });
                }
            }
        }
        emit(StreamEvent::Closed { flow: flow.id, pair: flow.pair });
    }

    fn maybe_sweep(&mut self, now: i64, emit: &mut dyn FnMut(StreamEvent<'_>)) {
        // Sweep at most once per second of packet time.
        if now.saturating_sub(self.last_sweep) < 1_000_000 {
            return;
        }
        self.last_sweep = now;
        let timeout = self.limits.idle_timeout_secs.saturating_mul(1_000_000);
        let expired = self.idle_since(now.saturating_sub(timeout));
        self.counters.flows_timed_out += expired.len() as u64;
        for pair in expired {
            self.close(&pair, emit);
        }
    }

    fn idle_since(&self, cutoff: i64) -> Vec<SocketPair> {
        let mut idle: Vec<(u64, SocketPair)> =
            self.flows.values().filter(|f| f.last_seen < cutoff).map(|f| (f.id, f.pair)).collect();
        idle.sort_unstable();
        idle.into_iter().map(|(_, p)| p).collect()
    }

    /// Makes room for one more flow: evicts the least recently seen tenth of the table.
    /// New connections carry new requests, so under pressure the oldest flows go first.
    fn make_room(&mut self, emit: &mut dyn FnMut(StreamEvent<'_>)) -> bool {
        if self.flows.len() < self.limits.max_flows {
            return true;
        }
        let mut by_age: Vec<(i64, u64, SocketPair)> =
            self.flows.values().map(|f| (f.last_seen, f.id, f.pair)).collect();
        by_age.sort_unstable();
        let evict = (self.limits.max_flows / 10).max(1);
        for (_, _, pair) in by_age.into_iter().take(evict) {
            self.counters.flows_evicted += 1;
            self.close(&pair, emit);
        }
        self.flows.len() < self.limits.max_flows
    }
}

/// Which side is the client, and which way this segment goes.
fn orient(seg: &Segment<'_>, is_server_port: &impl Fn(u16) -> bool) -> (SocketPair, Direction) {
    let from_client = if seg.flags.syn {
        // SYN alone comes from the client; SYN+ACK from the server.
        !seg.flags.ack
    } else {
        match (is_server_port(seg.src.1), is_server_port(seg.dst.1)) {
            (false, true) => true,
            (true, false) => false,
            // Both or neither look like servers: the lower port serves.
            _ => seg.dst.1 <= seg.src.1,
        }
    };
    if from_client {
        (SocketPair { client: seg.src, server: seg.dst }, Direction::ToServer)
    } else {
        (SocketPair { client: seg.dst, server: seg.src }, Direction::ToClient)
    }
}

/// What an accepted segment lets us deliver now.
enum Released {
    Nothing,
    /// This many leading bytes of the segment were already delivered; the rest is new.
    FromSegment {
        skip: usize,
    },
}

fn accept_data(
    half: &mut HalfStream,
    seg: &Segment<'_>,
    limits: &TcpLimits,
    pending_total: &mut usize,
    counters: &mut TcpCounters,
) -> Released {
    let next = *half.next_seq.get_or_insert(seg.seq);
    // Signed distance handles sequence-number wrap-around.
    let ahead = i64::from(seg.seq.wrapping_sub(next) as i32);
    let len = seg.payload.len();
    if ahead <= 0 {
        let behind = usize::try_from(-ahead).unwrap_or(usize::MAX);
        if behind >= len {
            counters.retransmitted_segments += 1;
            return Released::Nothing;
        }
        if behind > 0 {
            counters.overlapping_segments += 1;
        }
        return Released::FromSegment { skip: behind };
    }
    counters.out_of_order_segments += 1;
    let offset = half.delivered + ahead as u64;
    let fits = half.pending_bytes + len <= limits.max_pending_bytes_per_flow
        && half.pending.len() < limits.max_pending_segments_per_flow
        && *pending_total + len <= limits.max_pending_bytes_total;
    if fits {
        if let std::collections::btree_map::Entry::Vacant(slot) = half.pending.entry(offset) {
            slot.insert((seg.payload.to_vec(), seg.frame));
            half.pending_bytes += len;
            *pending_total += len;
        } else {
            counters.retransmitted_segments += 1;
        }
        return Released::Nothing;
    }
    // The hole will not fill within our limits: give up on it. Everything queued before this
    // segment is delivered after a gap, then the segment itself.
    counters.pending_overflow_bytes += len as u64;
    if let std::collections::btree_map::Entry::Vacant(slot) = half.pending.entry(offset) {
        slot.insert((seg.payload.to_vec(), seg.frame));
        half.pending_bytes += len;
        *pending_total += len;
    }
    force_gap(half);
    Released::Nothing
}

/// Moves `delivered` to the first queued segment, leaving the hole behind.
fn force_gap(half: &mut HalfStream) {
    if let Some((&offset, _)) = half.pending.first_key_value() {
        half.gap_to(offset);
    }
}

impl HalfStream {
    fn gap_to(&mut self, offset: u64) {
        if offset > self.delivered {
            let missing = offset - self.delivered;
            if let Some(next) = self.next_seq.as_mut() {
                *next = next.wrapping_add(missing as u32);
            }
            self.delivered = offset;
            self.pending_gap = self.pending_gap.saturating_add(missing);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    (flow, pair): (u64, SocketPair),
    dir: Direction,
    half: &mut HalfStream,
    seg: &Segment<'_>,
    released: Released,
    pending_total: &mut usize,
    counters: &mut TcpCounters,
    emit: &mut dyn FnMut(StreamEvent<'_>),
) {
    if half.pending_gap > 0 {
        counters.gaps += 1;
        counters.gap_bytes += half.pending_gap;
        emit(StreamEvent::Gap { flow, dir, bytes_missing: half.pending_gap });
        half.pending_gap = 0;
    }
    if let Released::FromSegment { skip } = released
        && let Some(fresh) = seg.payload.get(skip..)
    {
        {
            half.advance(fresh.len());
            emit(StreamEvent::Data { flow, pair, dir, bytes: fresh, frame: seg.frame });
        }
    }
    // Drain queued segments that are now in order.
    while let Some(entry) = half.pending.first_entry() {
        let offset = *entry.key();
        if offset > half.delivered {
            break;
        }
        let (bytes, frame) = entry.remove();
        half.pending_bytes = half.pending_bytes.saturating_sub(bytes.len());
        *pending_total = pending_total.saturating_sub(bytes.len());
        let skip = usize::try_from(half.delivered - offset).unwrap_or(usize::MAX);
        if let Some(rest) = bytes.get(skip..).filter(|r| !r.is_empty()) {
            half.advance(rest.len());
            emit(StreamEvent::Data { flow, pair, dir, bytes: rest, frame });
        }
    }
}

impl HalfStream {
    fn advance(&mut self, n: usize) {
        self.delivered += n as u64;
        if let Some(next) = self.next_seq.as_mut() {
            *next = next.wrapping_add(n as u32);
        }
    }
}
