//! Kerberos transactions: requests paired with their replies or errors, per client/KDC
//! socket pair, over UDP datagrams and reassembled TCP streams (record marking, several
//! messages per segment, messages split across segments).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use foldhash::HashMap;
use orthrus_model::{
    Activity, ActivityKind, EncryptionType, Endpoint, KdcFailure, KdcIssued, KdcOptions, KdcOutcome,
    KdcRequest, KerberosErrorCode, KerberosExchange, PaDataType, Position, Provenance, TenantId, TicketInfo,
    Timestamp, Transport,
};
use orthrus_proto::kerberos::{self as krb, KdcRep, KdcReq, KrbError, KrbMessage, Record, Ticket};

pub use crate::context::Seen;
use crate::context::{Origin, endpoint};
use crate::framing::{FramingError, Reframer};
use crate::stats::DecodeStats;
use crate::tcp::{Direction, StreamEvent};
use crate::tracker::Tracker;

/// Requests one socket pair may have outstanding; older ones are reported unanswered.
const MAX_PENDING_PER_PAIR: usize = 32;
/// A request unanswered this long (packet time) is reported unanswered.
const REPLY_TIMEOUT_MICROS: i64 = 60 * 1_000_000;
/// Bytes a TCP direction may hold while a record completes (one record plus its marker).
const MAX_STREAM_BUFFER: usize = krb::MAX_RECORD_LEN + 4;

/// Kerberos decode counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KerberosCounters {
    pub messages: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<&'static str, u64>,
    pub exchanges: u64,
    pub replies_without_request: u64,
    pub requests_without_reply: u64,
    pub udp_retransmissions: u64,
    pub stream_resyncs: u64,
}

struct PendingRequest {
    request: KdcRequest,
    is_as: bool,
    ts_micros: i64,
    /// Where the request was seen (its reply may come in the next file of a rotation).
    at: Provenance,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct PairKey {
    client: Endpoint,
    server: Endpoint,
    transport: Transport,
}

pub struct KerberosTracker {
    origin: Origin,
    pending: HashMap<PairKey, VecDeque<PendingRequest>>,
    streams: HashMap<u64, Reframer>,
    last_sweep: i64,
    pub counters: KerberosCounters,
}

impl KerberosTracker {
    pub fn new(tenant: TenantId, sensor: Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            pending: HashMap::default(),
            streams: HashMap::default(),
            last_sweep: i64::MIN,
            counters: KerberosCounters::default(),
        }
    }

    fn stream_data(
        &mut self,
        flow: u64,
        dir: Direction,
        bytes: &[u8],
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        let mut frames = self.streams.remove(&flow).unwrap_or_default();
        let result =
            frames.feed(dir, bytes, MAX_STREAM_BUFFER, split_record, &mut |m| self.message(m, seen, out));
        match result {
            Ok(()) => {}
            Err(FramingError::OutOfStep) => self.counters.stream_resyncs += 1,
            Err(FramingError::TooLarge) => self.count_error("record_too_large"),
        }
        self.streams.insert(flow, frames);
    }

    fn message(&mut self, bytes: &[u8], seen: &Seen, out: &mut dyn FnMut(Activity)) {
        let patched;
        // `nonce` overrides the decoded one when the message needed the signed-nonce repair.
        let (message, nonce) = match krb::parse_message(bytes) {
            Ok(m) => (m, None),
            Err(e @ krb::DecodeError::Invalid { what: "as_req" | "tgs_req" }) => {
                let Some((copy, repaired_nonce)) = krb::patch_signed_nonce(bytes) else {
                    self.count_error(e.reason());
                    return;
                };
                patched = copy;
                match krb::parse_message(&patched) {
                    Ok(m) => (m, Some(repaired_nonce)),
                    Err(_) => {
                        self.count_error(e.reason());
                        return;
                    }
                }
            }
            Err(e) => {
                self.count_error(e.reason());
                return;
            }
        };
        let key = PairKey { client: seen.client, server: seen.server, transport: seen.transport };
        let request = |req: &KdcReq<'_>| {
            let mut request = request_from(req);
            request.nonce = nonce.unwrap_or(request.nonce);
            request
        };
        match message {
            KrbMessage::AsReq(req) => {
                self.count_message("as_req");
                self.request(key, request(&req), true, seen, out);
            }
            KrbMessage::TgsReq(req) => {
                self.count_message("tgs_req");
                self.request(key, request(&req), false, seen, out);
            }
            KrbMessage::AsRep(rep) => {
                self.count_message("as_rep");
                self.reply(key, KdcOutcome::Issued(issued_from(&rep)), Some(true), seen, out);
            }
            KrbMessage::TgsRep(rep) => {
                self.count_message("tgs_rep");
                self.reply(key, KdcOutcome::Issued(issued_from(&rep)), Some(false), seen, out);
            }
            KrbMessage::Error(err) => {
                self.count_message("krb_error");
                let failure = failure_from(&err);
                self.reply(key, KdcOutcome::Failed(failure), None, seen, out);
            }
            KrbMessage::ApReq(_) => self.count_message("ap_req"),
            KrbMessage::Other(_) => self.count_message("other"),
        }
    }

    fn request(
        &mut self,
        key: PairKey,
        request: KdcRequest,
        is_as: bool,
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        let queue = self.pending.entry(key).or_default();
        // A UDP client resends the same request (same nonce) when the KDC is slow.
        if let Some(same) = queue
            .iter_mut()
            .find(|p| p.is_as == is_as && p.request.nonce == request.nonce && p.request == request)
        {
            self.counters.udp_retransmissions += 1;
            same.at.at = Position::Frame(seen.frame);
            same.at.file = self.origin.file.clone();
            return;
        }
        queue.push_back(PendingRequest {
            request,
            is_as,
            ts_micros: seen.ts_micros,
            at: self.origin.at(seen.frame),
        });
        if queue.len() > MAX_PENDING_PER_PAIR
            && let Some(oldest) = queue.pop_front()
        {
            self.unanswered(key, oldest, out);
        }
    }

    fn reply(
        &mut self,
        key: PairKey,
        outcome: KdcOutcome,
        reply_is_as: Option<bool>,
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        let pending = self.pending.get_mut(&key).and_then(|q| {
            // The oldest request of the matching kind; an error answers either kind.
            let index = q.iter().position(|p| reply_is_as.is_none_or(|as_| p.is_as == as_))?;
            q.remove(index)
        });
        if self.pending.get(&key).is_some_and(VecDeque::is_empty) {
            self.pending.remove(&key);
        }
        self.counters.exchanges += 1;
        let (request, is_as, time, mut provenance) = match pending {
            Some(p) => (Some(p.request), p.is_as, p.ts_micros, vec![p.at]),
            None => {
                self.counters.replies_without_request += 1;
                let is_as = reply_is_as.unwrap_or_else(|| match &outcome {
                    KdcOutcome::Failed(f) => f.sname.starts_with("krbtgt/"),
                    _ => false,
                });
                (None, is_as, seen.ts_micros, Vec::new())
            }
        };
        provenance.push(self.origin.at(seen.frame));
        out(self.activity(key, time, provenance, is_as, KerberosExchange { request, outcome }));
    }

    fn unanswered(&mut self, key: PairKey, p: PendingRequest, out: &mut dyn FnMut(Activity)) {
        self.counters.requests_without_reply += 1;
        let provenance = vec![p.at];
        let exchange = KerberosExchange { request: Some(p.request), outcome: KdcOutcome::NoReply };
        out(self.activity(key, p.ts_micros, provenance, p.is_as, exchange));
    }

    fn activity(
        &self,
        key: PairKey,
        time: i64,
        provenance: Vec<Provenance>,
        is_as: bool,
        exchange: KerberosExchange,
    ) -> Activity {
        let kind = if is_as {
            ActivityKind::TgtRequested(exchange)
        } else {
            ActivityKind::ServiceTicketRequested(exchange)
        };
        self.origin.activity_between(time, (key.client, key.server, key.transport), provenance, kind)
    }

    /// Reports requests whose answer never came.
    fn sweep(&mut self, now: i64, out: &mut dyn FnMut(Activity)) {
        if now.saturating_sub(self.last_sweep) < 1_000_000 {
            return;
        }
        self.last_sweep = now;
        let cutoff = now.saturating_sub(REPLY_TIMEOUT_MICROS);
        let mut expired: Vec<(PairKey, PendingRequest)> = Vec::new();
        for (key, queue) in self.pending.iter_mut() {
            while queue.front().is_some_and(|p| p.ts_micros < cutoff) {
                if let Some(p) = queue.pop_front() {
                    expired.push((*key, p));
                }
            }
        }
        self.pending.retain(|_, q| !q.is_empty());
        expired.sort_by_key(|(_, p)| (p.ts_micros, p.at.at));
        for (key, p) in expired {
            self.unanswered(key, p, out);
        }
    }

    fn count_message(&mut self, what: &'static str) {
        *self.counters.messages.entry(what).or_default() += 1;
    }

    fn count_error(&mut self, what: &'static str) {
        *self.counters.errors.entry(what).or_default() += 1;
    }
}

/// Kerberos record marking, plus one check: a record must start with a Kerberos APPLICATION
/// tag. Anything else means the stream was picked up mid-record: resynchronise rather than
/// wait for a length read from garbage.
fn split_record(stream: &[u8]) -> Record<'_> {
    match krb::split_record(stream) {
        Record::Incomplete { .. } if stream.get(4).is_some_and(|b| b & 0xe0 != 0x60) => {
            Record::Invalid { length: 0 }
        }
        other => other,
    }
}

fn request_from(req: &KdcReq<'_>) -> KdcRequest {
    let body = &req.req_body;
    let mut request = KdcRequest {
        realm: body.realm.0.clone(),
        cname: body.cname.as_ref().map(krb::principal),
        sname: body.sname.as_ref().map(krb::principal),
        kdc_options: KdcOptions(krb::kdc_options(req)),
        etypes: body.etype.iter().map(|e| EncryptionType(e.0)).collect(),
        padata: req.padata.iter().map(|p| PaDataType(p.padata_type.0)).collect(),
        enc_timestamp_etype: None,
        pac_request: None,
        fast_armor: false,
        pkinit: false,
        addresses: body.addresses.iter().map(krb::host_address).collect(),
        till: krb::generalized_time_micros(&body.till).map(Timestamp::from_micros),
        nonce: body.nonce,
        presented_ticket: None,
        authenticator_etype: None,
        enc_authorization_data: body.enc_authorization_data.is_some(),
        additional_tickets: body.additional_tickets.len(),
    };
    for pa in &req.padata {
        match PaDataType(pa.padata_type.0) {
            PaDataType::ENC_TIMESTAMP => {
                request.enc_timestamp_etype = krb::enc_timestamp_etype(pa.padata_value).map(EncryptionType);
            }
            PaDataType::PAC_REQUEST => request.pac_request = krb::pac_request(pa.padata_value),
            PaDataType::FX_FAST => request.fast_armor = true,
            PaDataType::PK_AS_REQ | PaDataType::PK_AS_REQ_OLD => request.pkinit = true,
            PaDataType::TGS_REQ => {
                if let Some(ap) = krb::tgs_req_ap_req(pa.padata_value) {
                    request.presented_ticket = Some(ticket_info(&ap.ticket));
                    request.authenticator_etype = Some(EncryptionType(ap.authenticator.etype.0));
                }
            }
            _ => {}
        }
    }
    request
}

fn ticket_info(ticket: &Ticket<'_>) -> TicketInfo {
    TicketInfo {
        realm: ticket.realm.0.clone(),
        sname: krb::principal(&ticket.sname),
        etype: EncryptionType(ticket.enc_part.etype.0),
        kvno: ticket.enc_part.kvno,
        id: ticket_id(ticket.enc_part.cipher),
    }
}

fn issued_from(rep: &KdcRep<'_>) -> KdcIssued {
    KdcIssued {
        crealm: rep.crealm.0.clone(),
        cname: krb::principal(&rep.cname),
        ticket: ticket_info(&rep.ticket),
        reply_etype: EncryptionType(rep.enc_part.etype.0),
        padata: rep.padata.iter().map(|p| PaDataType(p.padata_type.0)).collect(),
    }
}

fn failure_from(err: &KrbError<'_>) -> KdcFailure {
    let code = KerberosErrorCode(err.error_code.0);
    KdcFailure {
        code,
        name: code.name(),
        etext: err.etext.clone(),
        realm: err.realm.0.clone(),
        sname: krb::principal(&err.sname),
        cname: err.cname.as_ref().map(krb::principal),
    }
}

/// A stable id for a ticket: FNV-1a 64 over its ciphertext's length, first 64 and last 16
/// bytes. Ciphertext is pseudorandom, so these identify the ticket as well as all of it would,
/// at a fixed cost per ticket (tickets with large PACs run to tens of KiB). Not a security
/// hash: it only recognises the same ticket seen twice.
pub(crate) fn ticket_id(cipher: &[u8]) -> String {
    let head = cipher.get(..64).unwrap_or(cipher);
    let tail = cipher.get(cipher.len().saturating_sub(16)..).unwrap_or_default();
    let len = (cipher.len() as u64).to_le_bytes();
    format!("{:016x}", orthrus_model::fnv1a64(&[&len, head, tail]))
}

impl Tracker for KerberosTracker {
    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    /// One event from TCP reassembly of a flow to or from a KDC.
    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let seen = Seen::tcp(pair, ts_micros, frame);
                self.stream_data(flow, dir, bytes, &seen, out);
            }
            StreamEvent::Gap { flow, dir, .. } => {
                if let Some(frames) = self.streams.get_mut(&flow)
                    && frames.gap(dir)
                {
                    self.counters.stream_resyncs += 1;
                }
            }
            StreamEvent::Closed { flow, pair } => {
                self.streams.remove(&flow);
                let key = PairKey {
                    client: endpoint(pair.client),
                    server: endpoint(pair.server),
                    transport: Transport::Tcp,
                };
                if let Some(queue) = self.pending.remove(&key) {
                    for p in queue {
                        self.unanswered(key, p, out);
                    }
                }
            }
        }
    }

    /// One UDP datagram to or from a KDC (its message type says which way it goes).
    fn datagram(&mut self, payload: &[u8], seen: &Seen, _to_server: bool, out: &mut dyn FnMut(Activity)) {
        self.sweep(seen.ts_micros, out);
        self.message(payload, seen, out);
    }

    /// End of input: every request still waiting is reported unanswered, oldest first.
    fn finish(&mut self, out: &mut dyn FnMut(Activity)) {
        let mut rest: Vec<(PairKey, PendingRequest)> =
            self.pending.drain().flat_map(|(k, q)| q.into_iter().map(move |p| (k, p))).collect();
        rest.sort_by_key(|(_, p)| (p.ts_micros, p.at.at));
        for (key, p) in rest {
            self.unanswered(key, p, out);
        }
        self.streams.clear();
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let k = stats.section("kerberos");
        for (name, value) in &self.counters.messages {
            k.counters.insert(name, *value);
        }
        k.counters.insert("exchanges", self.counters.exchanges);
        k.counters.insert("udp_retransmissions", self.counters.udp_retransmissions);
        k.errors = self.counters.errors.clone();
        for (name, value) in [
            ("replies_without_request", self.counters.replies_without_request),
            ("requests_without_reply", self.counters.requests_without_reply),
            ("stream_resyncs", self.counters.stream_resyncs),
        ] {
            if value > 0 {
                k.errors.insert(name, value);
            }
        }
    }
}
