//! LDAP connections (TCP 389 and 3268): binds (simple, and SASL carrying NTLM or Kerberos)
//! with their verdicts, searches with the number of entries returned, and directory
//! changes, each paired with its result by message id. SASL-wrapped (signed or sealed)
//! traffic and connections upgraded by StartTLS are counted, not decoded. CLDAP (UDP 389):
//! the same messages per client and server socket pair, with a ping's Netlogon answer.

use std::collections::BTreeMap;

use foldhash::HashMap;
use orthrus_model::{
    Activity, ActivityKind, AuthOutcome, Carrier, Endpoint, LdapBind, LdapChange, LdapResultCode, LdapSearch,
    NtStatus, Provenance, TenantId,
};
use orthrus_proto::ldap::{self, BindAuth, Frame, Op};

use crate::auth::{ClientAuth, client_auth};
use crate::context::{Origin, Seen};
use crate::framing::Reframer;
use crate::stats::DecodeStats;
use crate::tcp::{Direction, StreamEvent};
use crate::tracker::Tracker;

/// Bytes of one direction buffered while a message completes; larger messages (huge search
/// results) are passed over, still counted as entries when they frame.
const MAX_MESSAGE_BUFFER: usize = 4 << 20;
const MAX_PENDING: usize = 1024;
/// CLDAP socket pairs with questions outstanding at once.
const MAX_DATAGRAM_PAIRS: usize = 4096;
const START_TLS_OID: &str = "1.3.6.1.4.1.1466.20037";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LdapCounters {
    pub operations: BTreeMap<&'static str, u64>,
    pub sasl_wrapped_messages: u64,
    pub tls_upgraded_connections: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

impl LdapCounters {
    fn count_error(&mut self, reason: &'static str) {
        *self.errors.entry(reason).or_default() += 1;
    }
}

enum Pending {
    Bind { bind: LdapBind, auth: Option<ClientAuth> },
    Search(LdapSearch),
    Change(LdapChange),
}

struct PendingOp {
    op: Pending,
    seen: Seen,
    at: Provenance,
}

/// Requests never answered, in the order they were sent (a hash map's order would differ from
/// run to run).
fn unanswered(pending: HashMap<u32, PendingOp>) -> Vec<PendingOp> {
    let mut pending: Vec<PendingOp> = pending.into_values().collect();
    pending.sort_by_key(|p| (p.seen.ts_micros, p.seen.frame));
    pending
}

#[derive(Default)]
struct Connection {
    frames: Reframer,
    pending: HashMap<u32, PendingOp>,
    user: Option<String>,
    /// A SASL bind answered saslBindInProgress: its next leg continues it.
    bind_in_progress: Option<PendingOp>,
    /// StartTLS succeeded: the rest is TLS.
    tls: bool,
}

pub struct LdapTracker {
    origin: Origin,
    connections: HashMap<u64, Connection>,
    /// CLDAP (UDP): one pseudo-connection per client and server socket pair.
    datagrams: HashMap<(Endpoint, Endpoint), Connection>,
    pub counters: LdapCounters,
}

impl LdapTracker {
    pub fn new(tenant: TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            connections: HashMap::default(),
            datagrams: HashMap::default(),
            counters: LdapCounters::default(),
        }
    }

    fn message(
        &mut self,
        conn: &mut Connection,
        dir: Direction,
        bytes: &[u8],
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        let Frame::Message(bytes) = ldap::frame(bytes) else {
            self.counters.sasl_wrapped_messages += 1;
            return;
        };
        // Search results are counted from their header alone.
        if dir == Direction::ToClient
            && let Some((message_id, tag)) = ldap::peek(bytes)
            && matches!(tag, ldap::TAG_SEARCH_RESULT_ENTRY | ldap::TAG_SEARCH_RESULT_REFERENCE)
        {
            if tag == ldap::TAG_SEARCH_RESULT_ENTRY {
                *self.counters.operations.entry("search_result_entry").or_default() += 1;
                if let Some(PendingOp { op: Pending::Search(s), .. }) = conn.pending.get_mut(&message_id) {
                    s.entries = s.entries.saturating_add(1);
                }
            } else {
                *self.counters.operations.entry("search_result_reference").or_default() += 1;
            }
            return;
        }
        let m = match ldap::parse_message(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.counters.count_error(e.reason());
                return;
            }
        };
        *self.counters.operations.entry(op_name(&m.op)).or_default() += 1;
        if dir == Direction::ToServer {
            let op = match m.op {
                Op::BindRequest { auth: BindAuth::Sasl { credentials, .. }, .. }
                    if conn.bind_in_progress.is_some() =>
                {
                    // A later leg of a multi-step SASL bind (NTLM's AUTHENTICATE follows its
                    // NEGOTIATE): the bind began with its first leg.
                    if let Some(mut first) = conn.bind_in_progress.take() {
                        if let Pending::Bind { bind, auth } = &mut first.op
                            && let Some(proof) = self.sasl_auth(&credentials)
                        {
                            if let Some(account) = proof.account().filter(|_| bind.name.is_empty()) {
                                bind.name = account;
                            }
                            *auth = Some(proof);
                        }
                        conn.pending.insert(m.message_id, first);
                    }
                    None
                }
                Op::BindRequest { name, auth } => {
                    let (method, mechanism, cleartext, auth) = match auth {
                        BindAuth::Simple { password_empty } => ("simple", None, !password_empty, None),
                        BindAuth::Sasl { mechanism, credentials } => {
                            ("sasl", Some(mechanism), false, self.sasl_auth(&credentials))
                        }
                    };
                    // A SASL bind names no DN: the account is the one its token proves.
                    let name = match auth.as_ref().and_then(ClientAuth::account) {
                        Some(account) if name.is_empty() => account,
                        _ => name,
                    };
                    let bind = LdapBind {
                        name,
                        method: method.into(),
                        mechanism,
                        cleartext_password: cleartext,
                        outcome: AuthOutcome::Unknown,
                        result: None,
                    };
                    Some(Pending::Bind { bind, auth })
                }
                Op::SearchRequest { base, scope, filter, assertions, attributes, .. } => {
                    Some(Pending::Search(LdapSearch {
                        base,
                        scope: scope.into(),
                        filter,
                        assertions,
                        attributes,
                        entries: 0,
                        result: None,
                        user: conn.user.clone(),
                        netlogon_opcode: None,
                    }))
                }
                Op::ChangeRequest { operation, dn, attributes } => Some(Pending::Change(LdapChange {
                    operation: operation.into(),
                    dn,
                    attributes,
                    result: None,
                    user: conn.user.clone(),
                })),
                Op::ExtendedRequest { oid } => Some(Pending::Change(LdapChange {
                    operation: "extended".into(),
                    dn: oid,
                    attributes: vec![],
                    result: None,
                    user: conn.user.clone(),
                })),
                _ => None,
            };
            if let Some(op) = op {
                if conn.pending.len() >= MAX_PENDING {
                    self.counters.count_error("pending_requests_overflow");
                    conn.pending.clear();
                }
                conn.pending.insert(
                    m.message_id,
                    PendingOp { op, seen: seen.clone(), at: self.origin.at(seen.frame) },
                );
            }
            return;
        }
        match m.op {
            Op::SearchResultEntry => {
                if let Some(PendingOp { op: Pending::Search(s), .. }) = conn.pending.get_mut(&m.message_id) {
                    s.entries = s.entries.saturating_add(1);
                }
            }
            Op::BindResponse { result, .. } | Op::Response { result } => {
                let Some(mut p) = conn.pending.remove(&m.message_id) else { return };
                let code = LdapResultCode::new(result.code, result.diagnostic.clone());
                if let Pending::Bind { bind, auth } = &mut p.op {
                    // saslBindInProgress: the next leg of the same bind follows.
                    if result.code == 14 {
                        conn.bind_in_progress = Some(p);
                        return;
                    }
                    bind.outcome = match result.code {
                        0 => AuthOutcome::Succeeded,
                        _ => AuthOutcome::Failed {
                            status: NtStatus(result.ad_bind_failure().unwrap_or(NtStatus::LOGON_FAILURE.0)),
                        },
                    };
                    if result.code == 0 {
                        conn.user = auth
                            .as_ref()
                            .and_then(ClientAuth::account)
                            .or_else(|| (!bind.name.is_empty()).then(|| bind.name.clone()));
                    }
                    if let Some(mut auth) = auth.take() {
                        auth.set_outcome(bind.outcome);
                        let provenance = vec![p.at.clone(), self.origin.at(seen.frame)];
                        out(self.origin.activity(&p.seen, provenance, auth.into_kind()));
                    }
                }
                if let Pending::Change(c) = &p.op
                    && c.operation == "extended"
                    && c.dn == START_TLS_OID
                    && result.code == 0
                {
                    conn.tls = true;
                    self.counters.tls_upgraded_connections += 1;
                }
                let response_at = self.origin.at(seen.frame);
                self.emit(p, Some(code), Some(response_at), out);
            }
            _ => {}
        }
    }

    /// The NTLM or Kerberos proof in a SASL bind's credentials, if this leg carries one.
    fn sasl_auth(&mut self, credentials: &[u8]) -> Option<ClientAuth> {
        client_auth(credentials, Carrier::Ldap).unwrap_or_else(|reason| {
            self.counters.count_error(reason);
            None
        })
    }

    /// The operation as an activity; `response` is where its result was seen, if it was.
    fn emit(
        &self,
        p: PendingOp,
        result: Option<LdapResultCode>,
        response: Option<Provenance>,
        out: &mut dyn FnMut(Activity),
    ) {
        let provenance = std::iter::once(p.at).chain(response).collect();
        out(self.origin.activity(&p.seen, provenance, kind(p.op, result)));
    }
}

fn kind(op: Pending, result: Option<LdapResultCode>) -> ActivityKind {
    match op {
        Pending::Bind { mut bind, .. } => {
            bind.result = result;
            ActivityKind::LdapBound(bind)
        }
        Pending::Search(mut s) => {
            s.result = result;
            ActivityKind::LdapSearched(s)
        }
        Pending::Change(mut c) => {
            c.result = result;
            ActivityKind::LdapChanged(c)
        }
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::BindRequest { .. } => "bind_request",
        Op::BindResponse { .. } => "bind_response",
        Op::SearchRequest { .. } => "search_request",
        Op::SearchResultEntry => "search_result_entry",
        Op::SearchResultReference => "search_result_reference",
        Op::ChangeRequest { .. } => "change_request",
        Op::ExtendedRequest { .. } => "extended_request",
        Op::Response { .. } => "response",
        Op::Unbind => "unbind",
        Op::Other => "other",
    }
}

impl LdapTracker {
    /// CLDAP questions still unanswered, reported as such (end of input, or memory bound).
    fn flush_datagrams(&mut self, out: &mut dyn FnMut(Activity)) {
        let pending =
            std::mem::take(&mut self.datagrams).into_values().flat_map(|conn| unanswered(conn.pending));
        let mut pending: Vec<PendingOp> = pending.collect();
        pending.sort_by_key(|p| (p.seen.ts_micros, p.seen.frame));
        for p in pending {
            self.emit(p, None, None, out);
        }
    }
}

impl Tracker for LdapTracker {
    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let seen = Seen::tcp(pair, ts_micros, frame);
                let mut conn = self.connections.remove(&flow).unwrap_or_default();
                if !conn.tls {
                    let mut frames = std::mem::take(&mut conn.frames);
                    let result = frames.feed(dir, bytes, MAX_MESSAGE_BUFFER, ldap::split, &mut |msg| {
                        self.message(&mut conn, dir, msg, &seen, out);
                    });
                    conn.frames = frames;
                    if let Err(e) = result {
                        self.counters.count_error(e.reason());
                    }
                }
                self.connections.insert(flow, conn);
            }
            StreamEvent::Gap { flow, dir, .. } => {
                if let Some(conn) = self.connections.get_mut(&flow) {
                    conn.frames.gap(dir);
                }
            }
            StreamEvent::Closed { flow, .. } => {
                if let Some(conn) = self.connections.remove(&flow) {
                    for p in unanswered(conn.pending) {
                        self.emit(p, None, None, out);
                    }
                }
            }
        }
    }

    /// One CLDAP datagram (UDP 389): LDAP messages without a connection — a ping and its
    /// answer (an entry and the search's result, in one datagram).
    fn datagram(&mut self, payload: &[u8], seen: &Seen, to_server: bool, out: &mut dyn FnMut(Activity)) {
        let key = (seen.client, seen.server);
        if !self.datagrams.contains_key(&key) && self.datagrams.len() >= MAX_DATAGRAM_PAIRS {
            // Memory stays bounded: every outstanding question is reported unanswered and
            // the pairs start afresh.
            self.counters.count_error("cldap_pairs_overflow");
            self.flush_datagrams(out);
        }
        let mut conn = self.datagrams.remove(&key).unwrap_or_default();
        let dir = if to_server { Direction::ToServer } else { Direction::ToClient };
        let mut rest = payload;
        while !rest.is_empty() {
            let orthrus_proto::wire::Record::Complete { message, consumed } = ldap::split(rest) else {
                self.counters.count_error("cldap_datagram_truncated");
                break;
            };
            if dir == Direction::ToClient
                && let Some((message_id, ldap::TAG_SEARCH_RESULT_ENTRY)) = ldap::peek(message)
                && let Some(PendingOp { op: Pending::Search(search), .. }) = conn.pending.get_mut(&message_id)
            {
                search.netlogon_opcode = ldap::netlogon_opcode(message).or(search.netlogon_opcode);
            }
            self.message(&mut conn, dir, message, seen, out);
            rest = rest.get(consumed..).unwrap_or_default();
        }
        if !conn.pending.is_empty() {
            self.datagrams.insert(key, conn);
        }
    }

    /// End of input: CLDAP questions still unanswered are reported.
    fn finish(&mut self, out: &mut dyn FnMut(Activity)) {
        self.flush_datagrams(out);
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let s = stats.section("ldap");
        for (name, value) in &self.counters.operations {
            s.counters.insert(name, *value);
        }
        s.counters.insert("sasl_wrapped_messages", self.counters.sasl_wrapped_messages);
        s.counters.insert("tls_upgraded_connections", self.counters.tls_upgraded_connections);
        s.errors = self.counters.errors.clone();
    }
}
