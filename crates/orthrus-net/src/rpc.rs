//! DCE-RPC associations: presentation contexts from BIND / ALTER_CONTEXT, the association's
//! authentication (NTLMSSP, SPNEGO, Kerberos verifiers), requests reassembled from their
//! fragments and paired with their response or fault by call id, into `rpc_called`
//! activities. The same conversation runs over TCP (port 135 and the dynamic ports the
//! endpoint mapper hands out) and over SMB named pipes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use orthrus_model::{
    Activity, ActivityKind, Carrier, NtStatus, Provenance, RpcAuth, RpcBindRefusal, RpcCall,
};
use orthrus_proto::dcerpc::{self, AuthLevel, AuthType, Body, ContextElement};
use orthrus_proto::msrpc::{self, interfaces};
use orthrus_proto::wire::guid_text;

use crate::auth::client_auth;
use crate::context::{Origin, Seen};
use crate::framing::Reframer;
use crate::stats::DecodeStats;
use crate::tcp::Direction;
use crate::tracker::Tracker;

/// Bytes of one direction buffered while a fragment completes.
const MAX_FRAGMENT_BUFFER: usize = dcerpc::MAX_FRAGMENT_LEN + 16;
/// Stub bytes kept of one request across its fragments (enough for every stub we decode).
const MAX_STUB: usize = 1 << 20;
/// Response bytes kept for the operations whose answer is read (a session list).
const MAX_RESPONSE: usize = 256 << 10;
/// Calls one association may have outstanding; beyond, the oldest is reported unanswered.
const MAX_PENDING_CALLS: usize = 64;
/// Presentation contexts one association may define.
const MAX_CONTEXTS: usize = 64;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RpcCounters {
    pub pdus: BTreeMap<&'static str, u64>,
    pub calls: u64,
    pub encrypted_calls: u64,
    pub calls_without_response: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

impl RpcCounters {
    pub fn count_error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
    }
}

impl RpcCounters {
    /// Adds these counters to the `dcerpc` section (each carrier's — TCP, SMB pipes — add up).
    pub(crate) fn add_to(&self, stats: &mut DecodeStats) {
        let s = stats.section("dcerpc");
        let mut add = |name: &'static str, value: u64| *s.counters.entry(name).or_default() += value;
        for (name, value) in &self.pdus {
            add(name, *value);
        }
        add("calls", self.calls);
        add("encrypted_calls", self.encrypted_calls);
        for (name, value) in &self.errors {
            *s.errors.entry(name).or_default() += value;
        }
        if self.calls_without_response > 0 {
            *s.errors.entry("calls_without_response").or_default() += self.calls_without_response;
        }
    }
}

struct PendingCall {
    call_id: u32,
    context: Option<ContextElement>,
    opnum: u16,
    stub: Vec<u8>,
    /// The response, kept only for operations whose answer Orthrus reads.
    response: Vec<u8>,
    /// The last word of a readable response: the operation's return value.
    return_code: Option<u32>,
    complete: bool,
    encrypted: bool,
    seen: Seen,
    provenance: Vec<Provenance>,
}

/// One association: a TCP connection or one open named pipe.
pub(crate) struct Conversation {
    via: Carrier,
    pipe: Option<String>,
    frames: Reframer,
    contexts: Vec<(u16, ContextElement)>,
    /// The last BIND / ALTER_CONTEXT's contexts in its order, where it was seen: its answer
    /// says which were refused.
    bind: Option<(Vec<ContextElement>, Seen, Provenance)>,
    auth: Option<(AuthType, AuthLevel)>,
    user: Option<String>,
    calls: Vec<PendingCall>,
}

/// What a conversation needs from its carrier for one message.
pub(crate) struct Delivery<'a> {
    pub origin: &'a Origin,
    pub seen: &'a Seen,
    /// The SMB session's account, for calls on pipes without their own authentication.
    pub session_user: Option<&'a str>,
    pub counters: &'a mut RpcCounters,
    /// Dynamic endpoints the endpoint mapper handed out (server address, port).
    pub learned: &'a mut Vec<(IpAddr, u16)>,
}

impl Conversation {
    pub fn tcp() -> Self {
        Self::new(Carrier::Rpc, None)
    }

    /// A named pipe (its name unknown when it was opened before the capture began).
    pub fn pipe(name: Option<String>) -> Self {
        Self::new(Carrier::Smb, name)
    }

    fn new(via: Carrier, pipe: Option<String>) -> Self {
        Self {
            via,
            pipe,
            frames: Reframer::default(),
            contexts: Vec::new(),
            bind: None,
            auth: None,
            user: None,
            calls: Vec::new(),
        }
    }

    /// In-order bytes of one direction.
    pub fn feed(
        &mut self,
        dir: Direction,
        bytes: &[u8],
        d: &mut Delivery<'_>,
        out: &mut dyn FnMut(Activity),
    ) {
        let mut frames = std::mem::take(&mut self.frames);
        let result = frames.feed(dir, bytes, MAX_FRAGMENT_BUFFER, dcerpc::split_pdu, &mut |pdu| {
            self.pdu(dir, pdu, d, out);
        });
        self.frames = frames;
        if let Err(e) = result {
            d.counters.count_error(e.reason());
        }
    }

    pub fn gap(&mut self, dir: Direction, counters: &mut RpcCounters) {
        if self.frames.gap(dir) {
            counters.count_error("stream_gap");
        }
    }

    /// The association ended: requests still waiting are reported unanswered.
    pub fn finish(
        &mut self,
        origin: &Origin,
        session_user: Option<&str>,
        counters: &mut RpcCounters,
        out: &mut dyn FnMut(Activity),
    ) {
        for call in std::mem::take(&mut self.calls) {
            if call.complete {
                counters.calls_without_response += 1;
                out(self.activity(origin, call, None, session_user, counters));
            } else {
                // Its last fragment never came: nothing to decode, but not silently lost.
                counters.count_error("request_fragments_missing");
            }
        }
    }

    fn pdu(&mut self, dir: Direction, bytes: &[u8], d: &mut Delivery<'_>, out: &mut dyn FnMut(Activity)) {
        let pdu = match dcerpc::parse_pdu(bytes) {
            Ok(p) => p,
            Err(e) => {
                d.counters.count_error(e.reason());
                return;
            }
        };
        *d.counters.pdus.entry(dcerpc::ptype::name(pdu.header.ptype)).or_default() += 1;
        if dir == Direction::ToServer
            && let Some(verifier) = pdu.auth
        {
            self.auth = Some((verifier.auth_type, verifier.auth_level));
            if matches!(
                pdu.header.ptype,
                dcerpc::ptype::BIND | dcerpc::ptype::ALTER_CONTEXT | dcerpc::ptype::AUTH3
            ) {
                self.authentication(verifier.token, d, out);
            }
        }
        let header = pdu.header;
        match pdu.body {
            Body::Bind { contexts } => {
                self.bind = Some((contexts.clone(), d.seen.clone(), d.origin.at(d.seen.frame)));
                for c in contexts {
                    self.contexts.retain(|(id, _)| *id != c.context_id);
                    if self.contexts.len() < MAX_CONTEXTS {
                        self.contexts.push((c.context_id, c));
                    }
                }
            }
            Body::Request { context_id, opnum, stub } => {
                let encrypted = pdu.auth.is_some_and(|a| a.auth_level >= AuthLevel::PRIVACY);
                if header.first_fragment || !self.calls.iter().any(|c| c.call_id == header.call_id) {
                    if self.calls.len() >= MAX_PENDING_CALLS {
                        let oldest = self.calls.remove(0);
                        if oldest.complete {
                            d.counters.calls_without_response += 1;
                            out(self.activity(d.origin, oldest, None, d.session_user, d.counters));
                        } else {
                            d.counters.count_error("request_fragments_missing");
                        }
                    }
                    let context = self.contexts.iter().find(|(id, _)| *id == context_id).map(|(_, s)| *s);
                    self.calls.push(PendingCall {
                        call_id: header.call_id,
                        context,
                        opnum,
                        stub: Vec::new(),
                        response: Vec::new(),
                        return_code: None,
                        complete: false,
                        encrypted,
                        seen: d.seen.clone(),
                        provenance: vec![d.origin.at(d.seen.frame)],
                    });
                }
                if let Some(call) = self.calls.iter_mut().rev().find(|c| c.call_id == header.call_id) {
                    let room = MAX_STUB.saturating_sub(call.stub.len());
                    call.stub.extend_from_slice(stub.get(..room.min(stub.len())).unwrap_or_default());
                    call.complete |= header.last_fragment;
                }
            }
            Body::Response { stub, .. } => {
                let Some(at) = self.calls.iter().position(|c| c.call_id == header.call_id) else {
                    return;
                };
                if header.first_fragment {
                    self.learn_endpoints(at, stub, d);
                }
                let sealed = pdu.auth.is_some_and(|a| a.auth_level >= AuthLevel::PRIVACY);
                if let Some(call) = self.calls.get_mut(at)
                    && !sealed
                {
                    let uuid = call.context.map(|c| guid_text(&c.abstract_syntax.uuid)).unwrap_or_default();
                    if msrpc::reads_response(&uuid, call.opnum) {
                        let room = MAX_RESPONSE.saturating_sub(call.response.len());
                        call.response.extend_from_slice(stub.get(..room.min(stub.len())).unwrap_or_default());
                    }
                    if header.last_fragment {
                        call.return_code = stub
                            .len()
                            .checked_sub(4)
                            .and_then(|end| stub.get(end..))
                            .and_then(|w| w.try_into().ok())
                            .map(u32::from_le_bytes);
                    }
                }
                if header.last_fragment {
                    let mut call = self.calls.remove(at);
                    call.provenance.push(d.origin.at(d.seen.frame));
                    out(self.activity(d.origin, call, Some(NtStatus::SUCCESS), d.session_user, d.counters));
                }
            }
            Body::Fault { status } => {
                if let Some(at) = self.calls.iter().position(|c| c.call_id == header.call_id) {
                    let mut call = self.calls.remove(at);
                    call.provenance.push(d.origin.at(d.seen.frame));
                    out(self.activity(d.origin, call, Some(NtStatus(status)), d.session_user, d.counters));
                }
            }
            Body::BindAck { rejected } => self.bind_refusals(&rejected, d, out),
            Body::BindNak { reason } => {
                let rejected =
                    self.bind.as_ref().map(|(c, _, _)| vec![Some(reason); c.len()]).unwrap_or_default();
                self.bind_refusals(&rejected, d, out);
            }
            Body::Other => {}
        }
    }

    /// The interfaces of the last BIND that the answer refused in all their contexts (a
    /// context refused for its transfer syntax while another for the same interface was
    /// accepted is negotiation, not refusal): one activity each.
    fn bind_refusals(
        &mut self,
        rejected: &[Option<u16>],
        d: &mut Delivery<'_>,
        out: &mut dyn FnMut(Activity),
    ) {
        let Some((contexts, seen, asked)) = self.bind.take() else { return };
        let mut refused: Vec<([u8; 16], u16)> = Vec::new();
        for (context, outcome) in contexts.iter().zip(rejected) {
            let uuid = context.abstract_syntax.uuid;
            let accepted_elsewhere = contexts
                .iter()
                .zip(rejected)
                .any(|(other, r)| other.abstract_syntax.uuid == uuid && r.is_none());
            if let Some(reason) = outcome
                && !accepted_elsewhere
                && !refused.iter().any(|(u, _)| *u == uuid)
            {
                refused.push((uuid, *reason));
            }
        }
        for (uuid, reason) in refused {
            let uuid = guid_text(&uuid);
            let refusal = RpcBindRefusal {
                via: self.via,
                pipe: self.pipe.clone(),
                interface: interfaces::by_uuid(&uuid).map_or_else(|| uuid.clone(), |i| i.name.to_owned()),
                interface_uuid: uuid,
                user: self.user.clone().or_else(|| d.session_user.map(str::to_owned)),
                reason,
            };
            let provenance = vec![asked.clone(), d.origin.at(d.seen.frame)];
            out(d.origin.activity(&seen, provenance, ActivityKind::RpcBindRefused(refusal)));
        }
    }

    /// NTLM or Kerberos inside a verifier: an authentication activity, and the account
    /// later calls are attributed to.
    fn authentication(&mut self, token: &[u8], d: &mut Delivery<'_>, out: &mut dyn FnMut(Activity)) {
        match client_auth(token, self.via) {
            Ok(Some(auth)) => {
                if let Some(user) = auth.account() {
                    self.user = Some(user);
                }
                out(d.origin.activity(d.seen, vec![d.origin.at(d.seen.frame)], auth.into_kind()));
            }
            Ok(None) => {}
            Err(reason) => d.counters.count_error(reason),
        }
    }

    /// ept_map answers name the dynamic TCP ports of the interfaces asked for.
    fn learn_endpoints(&mut self, at: usize, stub: &[u8], d: &mut Delivery<'_>) {
        let Some(call) = self.calls.get(at) else { return };
        let is_map = call.opnum == 3
            && call.context.is_some_and(|c| guid_text(&c.abstract_syntax.uuid) == interfaces::EPM);
        if !is_map {
            return;
        }
        // Tower floors (C706 appendix L): lhs length 1, protocol 0x07 (TCP), rhs length 2,
        // the port big-endian.
        for w in stub.windows(7) {
            if let [1, 0, 7, 2, 0, hi, lo] = *w {
                let port = u16::from_be_bytes([hi, lo]);
                if port != 0 && d.learned.len() < 1024 {
                    d.learned.push((call.seen.server.ip, port));
                }
            }
        }
    }

    fn activity(
        &self,
        origin: &Origin,
        call: PendingCall,
        status: Option<NtStatus>,
        session_user: Option<&str>,
        counters: &mut RpcCounters,
    ) -> Activity {
        counters.calls += 1;
        if call.encrypted {
            counters.encrypted_calls += 1;
        }
        // No context: the BIND came before the capture began.
        let uuid = call.context.map(|c| guid_text(&c.abstract_syntax.uuid)).unwrap_or_default();
        let interface = interfaces::by_uuid(&uuid);
        let ndr64 = call.context.is_some_and(|c| c.ndr64);
        let detail = if call.encrypted || !call.complete {
            None
        } else {
            msrpc::decode_request(&uuid, call.opnum, &call.stub, ndr64)
        }
        .or_else(|| {
            (call.return_code == Some(0))
                .then(|| msrpc::decode_response(&uuid, call.opnum, &call.response, ndr64))
                .flatten()
        });
        let rpc = RpcCall {
            via: self.via,
            pipe: self.pipe.clone(),
            interface: match interface {
                Some(i) => i.name.to_owned(),
                None if uuid.is_empty() => "unknown".to_owned(),
                None => uuid.clone(),
            },
            interface_uuid: uuid,
            opnum: call.opnum,
            operation: interface.and_then(|i| i.operation(call.opnum)).map(str::to_owned),
            auth: self.auth.map(|(t, l)| RpcAuth { kind: t.name().to_owned(), level: l.name().to_owned() }),
            user: self.user.clone().or_else(|| session_user.map(str::to_owned)),
            encrypted: call.encrypted,
            detail,
            status,
            return_code: call.return_code,
        };
        origin.activity(&call.seen, call.provenance, ActivityKind::RpcCalled(rpc))
    }
}

/// DCE-RPC straight over TCP: one conversation per connection.
pub struct RpcTcpTracker {
    origin: Origin,
    conversations: foldhash::HashMap<u64, Conversation>,
    pub counters: RpcCounters,
    pub learned: Vec<(IpAddr, u16)>,
}

impl RpcTcpTracker {
    pub fn new(tenant: orthrus_model::TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            conversations: foldhash::HashMap::default(),
            counters: RpcCounters::default(),
            learned: Vec::new(),
        }
    }
}

impl Tracker for RpcTcpTracker {
    fn take_endpoints(&mut self, into: &mut Vec<(std::net::IpAddr, u16)>) {
        into.append(&mut self.learned);
    }

    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    fn stream(&mut self, event: crate::tcp::StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        use crate::tcp::StreamEvent;
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let seen = Seen::tcp(pair, ts_micros, frame);
                let conversation = self.conversations.entry(flow).or_insert_with(Conversation::tcp);
                let mut delivery = Delivery {
                    origin: &self.origin,
                    seen: &seen,
                    session_user: None,
                    counters: &mut self.counters,
                    learned: &mut self.learned,
                };
                conversation.feed(dir, bytes, &mut delivery, out);
            }
            StreamEvent::Gap { flow, dir, .. } => {
                if let Some(c) = self.conversations.get_mut(&flow) {
                    c.gap(dir, &mut self.counters);
                }
            }
            StreamEvent::Closed { flow, .. } => {
                if let Some(mut c) = self.conversations.remove(&flow) {
                    c.finish(&self.origin, None, &mut self.counters, out);
                }
            }
        }
    }

    fn stats(&self, stats: &mut DecodeStats) {
        self.counters.add_to(stats);
    }
}
