//! HTTP connections (WinRM 5985, IIS 80): NTLM and Kerberos tokens in `Authorization`
//! headers, paired in order with the response status, as `ntlm_authenticated` and
//! `service_accessed` activities, and the request that authenticated (method, target,
//! status) as `http_requested`. Bodies are passed over by their length.

use std::collections::{BTreeMap, VecDeque};

use foldhash::HashMap;
use orthrus_model::{
    Activity, ActivityKind, AuthOutcome, Carrier, HttpRequest, NtStatus, Provenance, TenantId,
};
use orthrus_proto::http::{self, Body};

use crate::auth::{ClientAuth, client_auth};
use crate::context::{Origin, Seen};
use crate::stats::DecodeStats;
use crate::tcp::{Direction, PerDirection, StreamEvent};
use crate::tracker::Tracker;

/// Requests one connection may have waiting for their response.
const MAX_PENDING: usize = 64;
/// Message heads read from one segment.
const MAX_HEADS_PER_SEGMENT: usize = 4096;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HttpCounters {
    pub requests: u64,
    pub responses: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Reader {
    head: Vec<u8>,
    /// Body bytes still to pass over.
    skip: u64,
    /// Out of step (an unreadable head, a chunked body): nothing more is read.
    lost: bool,
}

/// A request that authenticated, waiting for its response.
struct Authenticated {
    auth: ClientAuth,
    method: String,
    target: String,
    seen: Seen,
    at: Provenance,
}

impl Authenticated {
    /// The authentication and the request, as activities, with the answer's frame if any.
    fn emit(
        mut self,
        origin: &Origin,
        status: Option<u16>,
        answer: Option<Provenance>,
        out: &mut dyn FnMut(Activity),
    ) {
        self.auth.set_outcome(match status {
            Some(200..=399) => AuthOutcome::Succeeded,
            // HTTP says no more than "unauthorized": recorded as a logon failure.
            Some(401 | 403) => AuthOutcome::Failed { status: NtStatus::LOGON_FAILURE },
            _ => AuthOutcome::Unknown,
        });
        let (auth, user, ticket_id) = match &self.auth {
            ClientAuth::Ntlm(n) => ("ntlm", Some(format!("{}\\{}", n.domain, n.user)), None),
            ClientAuth::Kerberos(k) => ("kerberos", None, Some(k.ticket_id.clone())),
        };
        let request = HttpRequest {
            method: self.method,
            target: self.target,
            auth: auth.to_owned(),
            user,
            ticket_id,
            status,
        };
        let frames: Vec<Provenance> = std::iter::once(self.at).chain(answer).collect();
        out(origin.activity(&self.seen, frames.clone(), self.auth.into_kind()));
        out(origin.activity(&self.seen, frames, ActivityKind::HttpRequested(request)));
    }
}

#[derive(Default)]
struct Connection {
    readers: PerDirection<Reader>,
    /// One entry per request, in order: the request, if it authenticated.
    pending: VecDeque<Option<Authenticated>>,
}

pub struct HttpTracker {
    origin: Origin,
    connections: HashMap<u64, Connection>,
    pub counters: HttpCounters,
}

impl HttpTracker {
    pub fn new(tenant: TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            connections: HashMap::default(),
            counters: HttpCounters::default(),
        }
    }

    fn feed(
        &mut self,
        conn: &mut Connection,
        dir: Direction,
        bytes: &[u8],
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        let mut input: &[u8] = bytes;
        let mut carried: Vec<u8>;
        // Each turn reads one message head; a segment holds a bounded number of them.
        for _ in 0..MAX_HEADS_PER_SEGMENT {
            let reader = conn.readers.get_mut(dir);
            if reader.skip > 0 {
                let n = usize::try_from(reader.skip).unwrap_or(usize::MAX).min(input.len());
                reader.skip -= n as u64;
                input = input.get(n..).unwrap_or_default();
            }
            if reader.lost || input.is_empty() {
                return;
            }
            reader.head.extend_from_slice(input);
            let Some(end) = http::head_end(&reader.head) else {
                if reader.head.len() > http::MAX_HEAD_LEN {
                    self.lose(reader, "head_too_long");
                }
                return;
            };
            let head = std::mem::take(&mut reader.head);
            let Some(parsed) = head.get(..end).and_then(http::parse_head) else {
                self.lose(reader, "not_http");
                return;
            };
            match parsed.body {
                Body::Length(n) => reader.skip = n,
                Body::Chunked => self.lose(reader, "chunked_body_not_followed"),
            }
            self.message(conn, dir, parsed, seen, out);
            // What followed the head: its body, then maybe the next head.
            carried = head.get(end..).unwrap_or_default().to_vec();
            input = &carried;
        }
    }

    fn lose(&mut self, reader: &mut Reader, reason: &'static str) {
        reader.lost = true;
        reader.head.clear();
        *self.counters.errors.entry(reason).or_default() += 1;
    }

    fn message(
        &mut self,
        conn: &mut Connection,
        dir: Direction,
        head: http::Head,
        seen: &Seen,
        out: &mut dyn FnMut(Activity),
    ) {
        if dir == Direction::ToServer {
            self.counters.requests += 1;
            let auth = match head.auth_token.as_deref().map(|t| client_auth(t, Carrier::Http)) {
                Some(Ok(Some(auth))) => Some(Authenticated {
                    auth,
                    method: head.method.unwrap_or_default(),
                    target: head.target.unwrap_or_default(),
                    seen: seen.clone(),
                    at: self.origin.at(seen.frame),
                }),
                Some(Err(reason)) => {
                    *self.counters.errors.entry(reason).or_default() += 1;
                    None
                }
                _ => None,
            };
            if conn.pending.len() >= MAX_PENDING {
                *self.counters.errors.entry("pending_requests_overflow").or_default() += 1;
                conn.pending.pop_front();
            }
            conn.pending.push_back(auth);
            return;
        }
        self.counters.responses += 1;
        // Interim answers (100 Continue) do not answer the request.
        if head.status.is_some_and(|s| s < 200) {
            return;
        }
        if let Some(Some(request)) = conn.pending.pop_front() {
            request.emit(&self.origin, head.status, Some(self.origin.at(seen.frame)), out);
        }
    }
}

impl Tracker for HttpTracker {
    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let seen = Seen::tcp(pair, ts_micros, frame);
                let mut conn = self.connections.remove(&flow).unwrap_or_default();
                self.feed(&mut conn, dir, bytes, &seen, out);
                self.connections.insert(flow, conn);
            }
            StreamEvent::Gap { flow, dir, .. } => {
                if let Some(conn) = self.connections.get_mut(&flow) {
                    conn.readers.get_mut(dir).lost = true;
                }
            }
            StreamEvent::Closed { flow, .. } => {
                if let Some(conn) = self.connections.remove(&flow) {
                    for request in conn.pending.into_iter().flatten() {
                        request.emit(&self.origin, None, None, out);
                    }
                }
            }
        }
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let s = stats.section("http");
        s.counters.insert("requests", self.counters.requests);
        s.counters.insert("responses", self.counters.responses);
        s.errors = self.counters.errors.clone();
    }
}
