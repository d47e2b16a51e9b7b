//! DNS over UDP and TCP 53: queries, dynamic updates and zone transfers paired with their
//! answers by (client, server, id). A zone transfer's answer spans many messages: it is
//! reported when its connection ends, with every record counted.

use std::collections::BTreeMap;

use foldhash::HashMap;
use orthrus_model::{Activity, ActivityKind, DnsQuery, Endpoint, Provenance, TenantId, Transport};
use orthrus_proto::dns;

use crate::context::{Origin, Seen, endpoint};
use crate::framing::Reframer;
use crate::stats::DecodeStats;
use crate::tcp::StreamEvent;
use crate::tracker::Tracker;

const MAX_PENDING: usize = 65_536;
/// A query unanswered this long (packet time) is reported unanswered.
const ANSWER_TIMEOUT_MICROS: i64 = 10 * 1_000_000;
const MAX_MESSAGE_BUFFER: usize = u16::MAX as usize + 2;
/// Answer records kept as text per query (all are counted).
const MAX_ANSWERS_KEPT: usize = 32;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DnsCounters {
    pub queries: u64,
    pub responses: u64,
    pub unanswered: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

impl DnsCounters {
    fn count_error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    client: Endpoint,
    server: Endpoint,
    transport: Transport,
    id: u16,
}

struct Pending {
    query: DnsQuery,
    seen: Seen,
    provenance: Vec<Provenance>,
    answered: bool,
}

pub struct DnsTracker {
    origin: Origin,
    pending: HashMap<Key, Pending>,
    streams: HashMap<u64, Reframer>,
    last_sweep: i64,
    pub counters: DnsCounters,
}

impl DnsTracker {
    pub fn new(tenant: TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            pending: HashMap::default(),
            streams: HashMap::default(),
            last_sweep: i64::MIN,
            counters: DnsCounters::default(),
        }
    }

    fn message(&mut self, bytes: &[u8], seen: &Seen, out: &mut dyn FnMut(Activity)) {
        let m = match dns::parse_message(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.counters.count_error(e.reason());
                return;
            }
        };
        let key = Key { client: seen.client, server: seen.server, transport: seen.transport, id: m.id };
        let at = self.origin.at(seen.frame);
        if !m.response {
            self.counters.queries += 1;
            let Some((name, qtype)) = m.questions.first().cloned() else {
                self.counters.count_error("query_without_question");
                return;
            };
            if self.pending.len() >= MAX_PENDING {
                self.counters.count_error("pending_queries_overflow");
                return;
            }
            let query = DnsQuery {
                name,
                qtype: qtype.to_owned(),
                opcode: m.opcode.to_owned(),
                zone_transfer: matches!(qtype, "AXFR" | "IXFR"),
                rcode: None,
                answers: Vec::new(),
                answer_count: 0,
            };
            if let Some(previous) = self
                .pending
                .insert(key, Pending { query, seen: seen.clone(), provenance: vec![at], answered: false })
            {
                // The same id again: a retransmission when unanswered, else a new query.
                if previous.answered {
                    self.report(previous, out);
                }
            }
            return;
        }
        self.counters.responses += 1;
        let Some(p) = self.pending.get_mut(&key) else {
            self.counters.count_error("response_without_query");
            return;
        };
        if !p.answered {
            p.query.rcode = Some(m.rcode.to_owned());
            p.provenance.push(at);
        }
        p.answered = true;
        let room = MAX_ANSWERS_KEPT.saturating_sub(p.query.answers.len());
        p.query.answers.extend(m.answers.into_iter().take(room));
        p.query.answer_count = p.query.answer_count.saturating_add(m.answer_count);
        // A zone transfer over TCP goes on until the connection closes.
        if !(p.query.zone_transfer && seen.transport == Transport::Tcp)
            && let Some(p) = self.pending.remove(&key)
        {
            self.report(p, out);
        }
    }

    fn report(&mut self, p: Pending, out: &mut dyn FnMut(Activity)) {
        if !p.answered {
            self.counters.unanswered += 1;
        }
        out(self.origin.activity(&p.seen, p.provenance, ActivityKind::DnsQueried(p.query)));
    }

    fn sweep(&mut self, now: i64, out: &mut dyn FnMut(Activity)) {
        if now.saturating_sub(self.last_sweep) < 1_000_000 {
            return;
        }
        self.last_sweep = now;
        let cutoff = now.saturating_sub(ANSWER_TIMEOUT_MICROS);
        let mut expired: Vec<Key> = self
            .pending
            .iter()
            .filter(|(k, p)| k.transport == Transport::Udp && p.seen.ts_micros < cutoff)
            .map(|(k, _)| *k)
            .collect();
        expired.sort_by_key(|k| self.pending.get(k).map(|p| p.seen.frame));
        for key in expired {
            if let Some(p) = self.pending.remove(&key) {
                self.report(p, out);
            }
        }
    }
}

impl Tracker for DnsTracker {
    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let seen = Seen::tcp(pair, ts_micros, frame);
                let mut frames = self.streams.remove(&flow).unwrap_or_default();
                let result = frames.feed(dir, bytes, MAX_MESSAGE_BUFFER, dns::split_tcp, &mut |m| {
                    self.message(m, &seen, out)
                });
                if let Err(e) = result {
                    self.counters.count_error(e.reason());
                }
                self.streams.insert(flow, frames);
            }
            StreamEvent::Gap { flow, dir, .. } => {
                if let Some(f) = self.streams.get_mut(&flow) {
                    f.gap(dir);
                }
            }
            StreamEvent::Closed { flow, pair } => {
                self.streams.remove(&flow);
                let (client, server) = (endpoint(pair.client), endpoint(pair.server));
                let keys: Vec<Key> = self
                    .pending
                    .keys()
                    .filter(|k| k.client == client && k.server == server && k.transport == Transport::Tcp)
                    .copied()
                    .collect();
                for key in keys {
                    if let Some(p) = self.pending.remove(&key) {
                        self.report(p, out);
                    }
                }
            }
        }
    }

    fn datagram(&mut self, payload: &[u8], seen: &Seen, _to_server: bool, out: &mut dyn FnMut(Activity)) {
        self.sweep(seen.ts_micros, out);
        self.message(payload, seen, out);
    }

    /// End of input: everything still waiting is reported.
    fn finish(&mut self, out: &mut dyn FnMut(Activity)) {
        let mut rest: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        rest.sort_by_key(|p| (p.seen.ts_micros, p.seen.frame));
        for p in rest {
            self.report(p, out);
        }
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let s = stats.section("dns");
        s.counters.insert("queries", self.counters.queries);
        s.counters.insert("responses", self.counters.responses);
        s.errors = self.counters.errors.clone();
        if self.counters.unanswered > 0 {
            s.errors.insert("unanswered", self.counters.unanswered);
        }
    }
}
