//! Reverse DNS from the sensor (MDI's name resolution by reverse DNS): each new source address
//! in what the sensor read is asked of the DNS server the operator names (the DC's own), once
//! per refresh period; a name found becomes a `name_looked_up` activity placed before the
//! activities that showed the address, so the center knows the computer when it detects.
//! Bounded: lookups per batch, addresses remembered, and a pause after a run of failures (a
//! dead DNS server must not stall capture).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orthrus_model::{Activity, ActivityKind, NameLookup};

/// Lookups per batch; the rest wait for the next batch that shows them.
const LOOKUPS_PER_BATCH: usize = 32;
/// Addresses remembered; beyond it the oldest lookups are forgotten (and may be asked again).
const MAX_REMEMBERED: usize = 65_536;
/// Consecutive failures (timeouts, refusals) before lookups pause.
const FAILURES_BEFORE_PAUSE: u32 = 3;
const PAUSE: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(1);

/// What the sensor's reverse DNS did, for its heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LookupCounters {
    pub asked: u64,
    pub named: u64,
    pub failed: u64,
}

pub struct ReverseDns {
    server: SocketAddr,
    refresh: Duration,
    asked: HashMap<IpAddr, Instant>,
    failures_in_a_row: u32,
    paused_until: Option<Instant>,
    sensor: Arc<str>,
    pub counters: LookupCounters,
}

impl ReverseDns {
    /// `refresh`: how long a lookup's answer stands before the address is asked again.
    pub fn new(server: SocketAddr, refresh: Duration, sensor: &str) -> Self {
        Self {
            server,
            refresh,
            asked: HashMap::new(),
            failures_in_a_row: 0,
            paused_until: None,
            sensor: Arc::from(sensor),
            counters: LookupCounters::default(),
        }
    }

    /// The batch with a `name_looked_up` activity before the first activity of each source
    /// address that was due a lookup and got a name.
    pub fn resolve(&mut self, batch: Vec<Activity>) -> Vec<Activity> {
        if self.paused_until.is_some_and(|until| Instant::now() < until) {
            return batch;
        }
        let mut named: HashMap<IpAddr, Activity> = HashMap::new();
        let mut budget = LOOKUPS_PER_BATCH;
        for activity in &batch {
            let Some(ip) = activity.source.map(|e| e.ip) else { continue };
            if budget == 0 || self.failures_in_a_row >= FAILURES_BEFORE_PAUSE {
                break;
            }
            if self.asked.get(&ip).is_some_and(|at| at.elapsed() < self.refresh) {
                continue;
            }
            budget -= 1;
            self.remember(ip);
            if let Some(name) = self.lookup(ip) {
                named.insert(ip, self.activity(activity, ip, name));
            }
        }
        if self.failures_in_a_row >= FAILURES_BEFORE_PAUSE {
            self.paused_until = Some(Instant::now() + PAUSE);
            self.failures_in_a_row = 0;
        }
        if named.is_empty() {
            return batch;
        }
        let mut out = Vec::with_capacity(batch.len() + named.len());
        for activity in batch {
            if let Some(lookup) = activity.source.and_then(|e| named.remove(&e.ip)) {
                out.push(lookup);
            }
            out.push(activity);
        }
        out
    }

    fn remember(&mut self, ip: IpAddr) {
        if self.asked.len() >= MAX_REMEMBERED
            && let Some(oldest) = self.asked.iter().min_by_key(|(_, at)| **at).map(|(ip, _)| *ip)
        {
            self.asked.remove(&oldest);
        }
        self.asked.insert(ip, Instant::now());
    }

    fn lookup(&mut self, ip: IpAddr) -> Option<String> {
        self.counters.asked += 1;
        match orthrus_directory::reverse_dns::reverse_lookup(self.server, ip, TIMEOUT) {
            Ok(found) => {
                self.failures_in_a_row = 0;
                if found.is_some() {
                    self.counters.named += 1;
                }
                found
            }
            Err(_) => {
                self.counters.failed += 1;
                self.failures_in_a_row += 1;
                None
            }
        }
    }

    fn activity(&self, seen: &Activity, ip: IpAddr, name: String) -> Activity {
        Activity {
            time: seen.time,
            tenant: seen.tenant.clone(),
            sensor: self.sensor.clone(),
            source: None,
            destination: None,
            transport: None,
            source_host: None,
            destination_host: None,
            // The sensor's own question: no capture frame or log record shows it.
            provenance: Vec::new(),
            kind: ActivityKind::NameLookedUp(NameLookup {
                address: ip,
                name,
                server: self.server.to_string(),
            }),
        }
    }
}
