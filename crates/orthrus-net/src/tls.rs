//! TLS sessions on the directory's TLS ports: the ClientHello and ServerHello are read into
//! one `tls_session_started` activity; the encrypted rest of the flow is passed over.

use std::collections::BTreeMap;

use foldhash::HashMap;
use orthrus_model::{Activity, ActivityKind, Provenance, TenantId, TlsSession};
use orthrus_proto::tls;

use crate::context::{Origin, Seen};
use crate::framing::Reframer;
use crate::stats::DecodeStats;
use crate::tcp::StreamEvent;
use crate::tracker::Tracker;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsCounters {
    pub sessions: u64,
    pub errors: BTreeMap<&'static str, u64>,
}

struct Session {
    frames: Reframer,
    info: TlsSession,
    seen: Option<Seen>,
    provenance: Vec<Provenance>,
    /// Both hellos were read (or the stream is not TLS): nothing more to read.
    done: bool,
}

pub struct TlsTracker {
    origin: Origin,
    sessions: HashMap<u64, Session>,
    pub counters: TlsCounters,
}

impl TlsTracker {
    pub fn new(tenant: TenantId, sensor: std::sync::Arc<str>) -> Self {
        Self {
            origin: Origin::new(tenant, sensor),
            sessions: HashMap::default(),
            counters: TlsCounters::default(),
        }
    }

    /// Emits the session's activity once (a placeholder stays to ignore the rest).
    fn report(&mut self, flow: u64, out: &mut dyn FnMut(Activity)) {
        let Some(session) = self.sessions.get_mut(&flow) else { return };
        session.done = true;
        let Some(seen) = session.seen.take() else { return };
        self.counters.sessions += 1;
        let info = session.info.clone();
        let provenance = std::mem::take(&mut session.provenance);
        out(self.origin.activity(&seen, provenance, ActivityKind::TlsSessionStarted(info)));
    }
}

impl Tracker for TlsTracker {
    fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    fn stream(&mut self, event: StreamEvent<'_>, ts_micros: i64, out: &mut dyn FnMut(Activity)) {
        match event {
            StreamEvent::Data { flow, pair, dir, bytes, frame } => {
                let session = self.sessions.entry(flow).or_insert_with(|| Session {
                    frames: Reframer::default(),
                    info: TlsSession {
                        server_name: None,
                        offered_version: None,
                        version: None,
                        cipher: None,
                    },
                    seen: None,
                    provenance: Vec::new(),
                    done: false,
                });
                if session.done {
                    return;
                }
                let seen = Seen::tcp(pair, ts_micros, frame);
                let origin = &self.origin;
                let errors = &mut self.counters.errors;
                let mut frames = std::mem::take(&mut session.frames);
                let result = frames.feed(dir, bytes, tls::MAX_RECORD_LEN, tls::split_record, &mut |record| {
                    match tls::handshake(record) {
                        Ok(h) => {
                            if h.client_hello {
                                session.seen.get_or_insert_with(|| seen.clone());
                                session.provenance.push(origin.at(seen.frame));
                                session.info.server_name = h.server_name;
                                session.info.offered_version =
                                    h.offered_version.map(|v| tls::version_name(v).to_owned());
                            }
                            if h.server_hello {
                                session.seen.get_or_insert_with(|| seen.clone());
                                session.provenance.push(origin.at(seen.frame));
                                session.info.version = h.version.map(|v| tls::version_name(v).to_owned());
                                session.info.cipher = h.cipher.map(|c| {
                                    tls::cipher_name(c).map_or_else(|| format!("{c:#06x}"), str::to_owned)
                                });
                                session.done = true;
                            }
                        }
                        Err(reason) => *errors.entry(reason).or_default() += 1,
                    }
                });
                session.frames = frames;
                if result.is_err() {
                    // Not TLS after all, or picked up after the handshake.
                    *self.counters.errors.entry("not_a_tls_handshake").or_default() += 1;
                    session.done = true;
                }
                if session.done && session.seen.is_some() {
                    self.report(flow, out);
                }
            }
            StreamEvent::Gap { .. } => {}
            StreamEvent::Closed { flow, .. } => {
                self.report(flow, out);
                self.sessions.remove(&flow);
            }
        }
    }

    fn stats(&self, stats: &mut DecodeStats) {
        let s = stats.section("tls");
        s.counters.insert("sessions", self.counters.sessions);
        s.errors = self.counters.errors.clone();
    }
}
