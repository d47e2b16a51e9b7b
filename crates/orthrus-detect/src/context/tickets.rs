//! What the Kerberos traffic in view says about each ticket-granting ticket: where it was
//! first seen, since when it is known to live, whether a KDC in view issued it, and what the
//! realms' KDCs issue. The pass-the-ticket and golden-ticket detections all read this one
//! memory.
//!
//! Every writable DC of a domain encrypts its TGTs with the same krbtgt keys, so the TGTs
//! seen issued tell the realm's current key version and encryption type even when the sensor
//! watches one DC of several. A TGT forged offline (golden ticket) was never issued: its
//! fingerprint is unknown, and its key version and encryption type are whatever the forger
//! chose.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;

use orthrus_model::{
    Activity, ActivityKind, EncryptionType, KdcOutcome, KerberosExchange, Provenance, TicketInfo, Timestamp,
};

/// Tickets remembered at most (the oldest forgotten first).
pub const MAX_TICKETS: usize = 200_000;

/// One sighting of a ticket.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub time: Timestamp,
    /// The client's address (the one the ticket was issued to, or that presented it).
    pub address: Option<IpAddr>,
    /// `user@REALM`, when the KDC's answer named it.
    pub account: Option<String>,
    pub provenance: Vec<Provenance>,
}

impl Sighting {
    fn of(activity: &Activity, account: Option<String>) -> Self {
        Self {
            time: activity.time,
            address: activity.source_ip(),
            account,
            provenance: activity.provenance.clone(),
        }
    }
}

/// What is known of one ticket, by its fingerprint.
#[derive(Debug, Clone, Default)]
pub struct TicketRecord {
    /// Its first sighting with a client address: issued by an AS exchange to that address, or
    /// presented from it in a TGS-REQ (whatever the KDC answered). An activity presenting a
    /// ticket never seen before finds no record: the record is made after it was judged.
    pub first_seen: Option<Sighting>,
    /// Since when it is known to live: its issuance (AS-REP, or a TGS-REP of a renewal or a
    /// forwarded TGT), or — when that was not in view — the first TGS-REQ presenting it that a
    /// KDC answered with a ticket. `true` when it was issued.
    pub alive_since: Option<(Sighting, bool)>,
    /// A KDC in view issued it (a local TGT, AS-REP or TGS-REP).
    pub issued: bool,
}

/// The TGTs seen issued for one realm.
#[derive(Debug, Default, Clone)]
pub struct RealmTgts {
    pub issued: u64,
    pub etypes: BTreeSet<EncryptionType>,
    /// Key versions of writable DCs' krbtgt (RODCs' carry their number in the high half and
    /// are not kept).
    pub kvnos: BTreeSet<u32>,
}

/// A TGS-REQ presenting a TGT of its own realm that no issuance in view explains.
pub struct UnexplainedTgt<'a> {
    pub exchange: &'a KerberosExchange,
    pub ticket: &'a TicketInfo,
    /// What the realm's KDCs were seen issuing before this activity.
    pub realm: &'a RealmTgts,
}

/// A ticket for the realm's own ticket-granting service (`krbtgt/REALM` in REALM): not a
/// referral to another realm.
pub fn local_tgt(ticket: &TicketInfo) -> bool {
    ticket.sname.split_once('/').is_some_and(|(service, realm)| {
        service.eq_ignore_ascii_case("krbtgt") && realm.eq_ignore_ascii_case(&ticket.realm)
    })
}

/// The ticket memory: at most [`MAX_TICKETS`] tickets, the oldest forgotten first.
#[derive(Default)]
pub struct Tickets {
    records: HashMap<String, TicketRecord>,
    order: VecDeque<String>,
    realms: HashMap<String, RealmTgts>,
}

impl Tickets {
    pub fn get(&self, id: &str) -> Option<&TicketRecord> {
        self.records.get(id)
    }

    /// What the realm's KDCs were seen issuing.
    pub fn realm(&self, realm: &str) -> Option<&RealmTgts> {
        self.realms.get(&realm.to_ascii_uppercase())
    }

    /// The local TGT a TGS-REQ presents, when no KDC in view issued it and its realm's
    /// issuance has been seen.
    pub fn unexplained<'a>(&'a self, activity: &'a Activity) -> Option<UnexplainedTgt<'a>> {
        let ActivityKind::ServiceTicketRequested(exchange) = &activity.kind else { return None };
        let ticket = exchange.request.as_ref()?.presented_ticket.as_ref()?;
        if !local_tgt(ticket) || self.get(&ticket.id).is_some_and(|r| r.issued) {
            return None;
        }
        let realm = self.realm(&ticket.realm)?;
        Some(UnexplainedTgt { exchange, ticket, realm })
    }

    /// Learns from one Kerberos exchange.
    pub fn observe(&mut self, activity: &Activity) {
        match &activity.kind {
            ActivityKind::TgtRequested(exchange) => {
                if let (KdcOutcome::Issued(issued), Some(_)) = (&exchange.outcome, activity.source_ip()) {
                    let account = format!("{}@{}", issued.cname, issued.crealm);
                    let sighting = Sighting::of(activity, Some(account));
                    self.record(&issued.ticket.id).first_seen.get_or_insert(sighting);
                }
                self.issued(activity, exchange);
            }
            ActivityKind::ServiceTicketRequested(exchange) => {
                self.issued(activity, exchange);
                self.presented(activity, exchange);
            }
            _ => {}
        }
    }

    /// A local TGT the KDC handed out: it lives from now, and tells what its realm issues.
    fn issued(&mut self, activity: &Activity, exchange: &KerberosExchange) {
        let Some(issued) = exchange.issued() else { return };
        let ticket = &issued.ticket;
        if !local_tgt(ticket) {
            return;
        }
        let record = self.record(&ticket.id);
        record.alive_since.get_or_insert_with(|| (Sighting::of(activity, None), true));
        if record.issued {
            return;
        }
        record.issued = true;
        let realm = self.realms.entry(ticket.realm.to_ascii_uppercase()).or_default();
        realm.issued += 1;
        realm.etypes.insert(ticket.etype);
        if let Some(kvno) = ticket.kvno.filter(|k| *k <= 0xFFFF) {
            realm.kvnos.insert(kvno);
        }
    }

    /// A TGT a TGS-REQ presents.
    fn presented(&mut self, activity: &Activity, exchange: &KerberosExchange) {
        let Some(presented) = exchange.request.as_ref().and_then(|r| r.presented_ticket.as_ref()) else {
            return;
        };
        if !presented.sname.to_ascii_lowercase().starts_with("krbtgt/") {
            return;
        }
        let owner = exchange.issued().map(|issued| format!("{}@{}", issued.cname, issued.crealm));
        let honoured = exchange.issued().is_some() && local_tgt(presented);
        let has_address = activity.source_ip().is_some();
        if !has_address && !honoured {
            return;
        }
        let record = self.record(&presented.id);
        if has_address && record.first_seen.is_none() {
            record.first_seen = Some(Sighting::of(activity, owner));
        }
        if honoured && record.alive_since.is_none() {
            record.alive_since = Some((Sighting::of(activity, None), false));
        }
    }

    fn record(&mut self, id: &str) -> &mut TicketRecord {
        if !self.records.contains_key(id) {
            self.order.push_back(id.to_owned());
            while self.order.len() > MAX_TICKETS {
                if let Some(oldest) = self.order.pop_front() {
                    self.records.remove(&oldest);
                }
            }
        }
        self.records.entry(id.to_owned()).or_default()
    }
}
